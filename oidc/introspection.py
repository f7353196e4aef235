"""Introspection (RFC 7662): a resource server asks whether a token is active, and what it stands for.

The caller authenticates as a confidential client (a resource server is
registered as one); a public client cannot, having no secret.  Access tokens
and refresh tokens are both answered; anything else, or anything no longer
good, is ``{"active": false}`` and nothing more (§2.2).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from oidc.clients import Client
from oidc.errors import InvalidClient, OAuthError
from oidc.grant import GrantStatus, parse_token, token_hash
from oidc.grants.context import GrantStore
from oidc.grants.form import Form
from oidc.userinfo import AccessTokens

INACTIVE: dict[str, Any] = {"active": False}


class Introspection:
    def __init__(self, access_tokens: AccessTokens, grants: GrantStore) -> None:
        self.access_tokens = access_tokens
        self.grants = grants

    async def introspect(self, form: Form, caller: Client, issuer: str) -> dict[str, Any]:
        if caller.public:
            raise InvalidClient("Introspection is for resource servers registered as confidential clients.")
        token = form.require("token")
        grant_id = parse_token(token)
        if grant_id is not None:
            return await self._refresh_token(grant_id, token)
        try:
            claims, _ = await self.access_tokens.holding(token, issuer)
        except OAuthError:
            return INACTIVE
        return {
            "active": True,
            "token_type": "Bearer",
            **{name: claims[name] for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")},
        }

    async def _refresh_token(self, grant_id: str, token: str) -> dict[str, Any]:
        fields, ttl_ms = await self.grants.read(grant_id)
        current = fields.get("refresh_hash", "")
        if (
            fields.get("status") != GrantStatus.ACTIVE
            or not current
            or not hmac.compare_digest(current.encode(), token_hash(token).encode())
        ):
            return INACTIVE
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": fields["scope"],
            "client_id": fields["client_id"],
            "sub": fields["sub"],
            "iss": fields["issuer"],
            "exp": int(time.time() + ttl_ms / 1000),
        }
