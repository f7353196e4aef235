"""``POST /revoke``: token revocation (RFC 7009), by the client the token was issued to."""

from __future__ import annotations

from handlers.oauth.base import OAuthHandler
from oidc.grants.client_auth import authenticate_client


class RevocationHandler(OAuthHandler):
    async def post(self) -> None:
        provider, ip = self.provider, self.request.remote_ip or ""
        form = self.form()
        client = await authenticate_client(
            form, self.request.headers.get("Authorization", ""), ip, provider.clients, provider.limits
        )
        await provider.revocation.revoke(form, client, ip)
        self.set_status(200)
        self.finish()
