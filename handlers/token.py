"""``POST /token`` (the one-time code for a login token) and ``GET /me`` (checking one)."""

from __future__ import annotations

from auth import InvalidToken, TokenIssuer
from handlers.base import BaseHandler
from login.errors import CredentialRejected, InvalidGrant, MissingCredential
from login.models import Cursor
from login.service import LoginService


class TokenHandler(BaseHandler):
    """Exchanges ``{"cursor", "code"}`` exactly once for a signed login token."""

    def initialize(self, login: LoginService) -> None:
        self.login = login

    async def post(self) -> None:
        body = self.json_body()
        cursor = Cursor.parse(self.str_field(body, "cursor"))
        code = self.str_field(body, "code")
        if cursor is None:
            raise InvalidGrant()
        login = await self.login.exchange(cursor, code, self.request.remote_ip or "")
        self.write_json(
            {"user": login.user.as_json(), "token": login.token, "token_type": "Bearer", "expires_in": login.expires_in}
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
