"""``POST /introspect``: token introspection (RFC 7662), for resource servers registered as confidential clients."""

from __future__ import annotations

from handlers.oauth.base import OAuthHandler
from oidc.grants.client_auth import authenticate_client


class IntrospectionHandler(OAuthHandler):
    async def post(self) -> None:
        provider, ip = self.provider, self.request.remote_ip or ""
        form = self.form()
        caller = await authenticate_client(
            form, self.request.headers.get("Authorization", ""), ip, provider.clients, provider.limits
        )
        self.write_json(await provider.introspection.introspect(form, caller, self.issuer()))
