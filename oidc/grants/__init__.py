"""The token endpoint (RFC 6749 §3.2): authenticate the client, then the grant type's own steps.

The steps are Authlib's (``AuthorizationCodeGrant``, ``RefreshTokenGrant``,
``OpenIDCode`` adding the ID token as an extension of the grant), written as
async functions over our Redis scripts, since Authlib's server classes are
synchronous and bound to a framework's request objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from oidc.clients import Client, ClientRegistry
from oidc.errors import InvalidRequest, OAuthError, UnsupportedGrantType
from oidc.grants.authorization_code import exchange_code
from oidc.grants.client_auth import SecretFailures, authenticate_client
from oidc.grants.context import GrantContext
from oidc.grants.form import Form
from oidc.grants.refresh_token import refresh
from redis_map.provider_limits import TokenCount

GrantType = Callable[[Form, Client, GrantContext, str, TokenCount | None], Awaitable[dict[str, Any]]]

#: the grant types served
GRANT_TYPES: dict[str, GrantType] = {
    "authorization_code": exchange_code,
    "refresh_token": refresh,
}


class TokenLimits(SecretFailures, Protocol):
    """The token endpoint's abuse limits (``redis_map.provider_limits``): per IP, per client, bad secrets."""

    def token_request(self, ip: str, client_id: str) -> TokenCount | None:
        """An authenticated token request's counts, for its grant's script; None with the limits off."""
        ...


class TokenEndpoint:
    """Answers token requests; raises OAuthErrors (and the storage's errors)."""

    def __init__(self, clients: ClientRegistry, context: GrantContext, limits: TokenLimits) -> None:
        self.clients = clients
        self.context = context
        self.limits = limits

    async def token(self, form: Form, authorization: str, ip: str) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("The grant_type parameter is missing.")
        handler = GRANT_TYPES.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType()
        client = await authenticate_client(form, authorization, ip, self.clients, self.limits, checked_here=False)
        # The limits are counted first in the grant's script (one round trip fewer), or before it on a Cluster.
        count = self.limits.token_request(ip, client.client_id) if self.context.grants.counts_limits else None
        if count is None:
            await self.limits.check(ip, client.client_id, count_client=True)
        try:
            return await handler(form, client, self.context, ip, count)
        except OAuthError:
            if count is not None and not count.counted:
                # Refused before its script ran (a malformed code, a scope it may not narrow to): counted
                # apart, so a locked-out IP or client is answered 429 whatever it sent, as before the fold.
                await self.limits.check(ip, client.client_id, count_client=True)
            raise


__all__ = ["GRANT_TYPES", "Form", "GrantContext", "TokenEndpoint", "authenticate_client"]
