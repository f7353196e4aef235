"""``POST /token`` (the one-time code for a login token) and ``GET /me`` (checking one)."""

from __future__ import annotations

from auth import InvalidToken, TokenIssuer
from handlers.base import BaseHandler
from login.errors import CredentialRejected, InvalidGrant, MissingCredential
from login.events import LoginEvents
from login.models import CODE_PATTERN, Cursor
from redis_map import SessionStore


class TokenHandler(BaseHandler):
    """Exchanges ``{"cursor", "code"}`` exactly once for a signed login token."""

    def initialize(self, store: SessionStore, tokens: TokenIssuer, events: LoginEvents) -> None:
        self.store = store
        self.tokens = tokens
        self.events = events

    async def post(self) -> None:
        body = self.json_body()
        cursor = self.str_field(body, "cursor")
        code = self.str_field(body, "code")
        parsed = Cursor.parse(cursor)
        if parsed is None or not CODE_PATTERN.fullmatch(code):
            raise InvalidGrant()
        user = await self.store.exchange(parsed, code)
        await self.events.outcome("exchanged", parsed.uuid, user=user.sub, ip=self.request.remote_ip or "")
        self.write_json(
            {
                "user": user.as_json(),
                "token": self.tokens.issue(user),
                "token_type": "Bearer",
                "expires_in": self.tokens.ttl,
            }
        )


class MeHandler(BaseHandler):
    """``GET /me`` with ``Authorization: Bearer <login token>``: who it logs in, or 401."""

    def initialize(self, tokens: TokenIssuer) -> None:
        self.tokens = tokens

    def get(self) -> None:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise MissingCredential()
        try:
            claims = self.tokens.verify(token.strip())
        except InvalidToken as exc:
            raise CredentialRejected("The login token is invalid or expired.") from exc
        user = {key: claims.get(key, "") for key in ("sub", "name", "picture")}
        self.write_json({"user": user, "expires_at": claims["exp"]})
