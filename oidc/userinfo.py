"""UserInfo (OpenID Connect Core §5.3): who an access token's user is: ``sub``; ``name``, ``picture`` with ``profile``.

The access token must be ours (signature, ``typ`` at+jwt, ``iss``, ``aud``,
``exp``), its grant still active, the token itself not revoked, its client
still registered, and it must carry ``openid``.  Every refusal is RFC 6750's
``invalid_token`` (401 with a ``Bearer`` challenge), or ``insufficient_scope``.
"""

from __future__ import annotations

import re
from typing import Any

from login.models import Identity
from oidc.clients import ClientRegistry
from oidc.errors import InsufficientScope, InvalidToken, MissingToken
from oidc.grants.context import GrantStore
from oidc.keys import BadToken
from oidc.tokens import Tokens

#: RFC 6750 §2.1: ``Bearer <token68>``
BEARER = re.compile(r"Bearer +([A-Za-z0-9._~+/-]+=*) *", re.IGNORECASE)
#: longest Authorization header read
MAX_AUTHORIZATION = 8192


def bearer_token(authorization: str) -> str:
    """The access token of an ``Authorization: Bearer`` header; MissingToken or InvalidToken if there is none."""
    if not authorization:
        raise MissingToken()
    match = BEARER.fullmatch(authorization) if len(authorization) <= MAX_AUTHORIZATION else None
    if match is None:
        raise InvalidToken("The Authorization header must be 'Bearer <access token>'.")
    return match.group(1)


class AccessTokens:
    """Checks access tokens for the resources: signed by us, unexpired, not revoked, client still there."""

    def __init__(self, tokens: Tokens, grants: GrantStore, clients: ClientRegistry) -> None:
        self.tokens = tokens
        self.grants = grants
        self.clients = clients

    async def holding(self, token: str, issuer: str) -> tuple[dict[str, Any], Identity]:
        """The claims of ``token`` and its user if it still holds; InvalidToken (saying why) if not."""
        try:
            claims = await self.tokens.check_access_token(token, issuer)
        except BadToken as exc:
            raise InvalidToken(f"The access token is invalid or expired ({exc}).") from exc
        user = await self.grants.access_token_user(claims["gid"], claims["jti"])
        if user is None:
            raise InvalidToken("The access token was revoked.")
        if await self.clients.find(claims["client_id"]) is None:
            raise InvalidToken("The access token's client is no longer registered.")
        return claims, user


class UserInfo:
    def __init__(self, access_tokens: AccessTokens) -> None:
        self.access_tokens = access_tokens

    async def claims(self, authorization: str, issuer: str) -> dict[str, Any]:
        claims, user = await self.access_tokens.holding(bearer_token(authorization), issuer)
        scopes = claims.get("scope", "").split()
        if "openid" not in scopes:
            raise InsufficientScope()
        answer: dict[str, Any] = {"sub": claims["sub"]}
        if "profile" in scopes:
            answer["name"] = user.name
            if user.picture:
                answer["picture"] = user.picture
        return answer
