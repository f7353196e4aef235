"""Revocation (RFC 7009): a client revokes one of its tokens.

A refresh token revokes its whole grant (every refresh and access token of
that login: RFC 7009 §2.1 says the server SHOULD); an access token, itself
only, until it would have expired.  An unknown, expired or malformed token is
answered as revoked (200), as the RFC wants, and so is a token of another
client, which is left alone: saying "not yours" would tell a client that a
token it should never hold is live.
"""

from __future__ import annotations

import time

from oidc.clients import Client
from oidc.events import Event, ProviderEvents
from oidc.grant import parse_token, token_hash
from oidc.grants.context import GrantStore
from oidc.grants.form import Form
from oidc.tokens import Tokens


class Revocation:
    def __init__(self, tokens: Tokens, grants: GrantStore, events: ProviderEvents, *, retention: float) -> None:
        self.tokens = tokens
        self.grants = grants
        self.events = events
        self.retention = retention

    async def revoke(self, form: Form, client: Client, ip: str) -> None:
        token = form.require("token")
        grant_id = parse_token(token)
        if grant_id is not None:
            outcome = await self.grants.revoke(
                grant_id,
                presented_hash=token_hash(token),
                client_id=client.client_id,
                retention_ms=int(self.retention * 1000),
            )
            if outcome == "revoked":
                await self.events.record(
                    Event.TOKEN_REVOKED, grant=grant_id, client=client.client_id, kind="refresh_token", ip=ip
                )
            return
        claims = self.tokens.signed_by_us(token)
        if claims is None or claims.get("client_id") != client.client_id:
            return
        left_ms = int((float(claims.get("exp", 0)) - time.time()) * 1000)
        gid, jti = claims.get("gid"), claims.get("jti")
        if left_ms > 0 and isinstance(gid, str) and isinstance(jti, str):
            await self.grants.revoke_access_token(gid, jti, left_ms)
            await self.events.record(
                Event.TOKEN_REVOKED, grant=gid, client=client.client_id, kind="access_token", ip=ip
            )
