"""Who the app's user is (the auth check) and the login token we hand out."""

from __future__ import annotations

from typing import Protocol

from auth.demo import DemoAuthenticator
from auth.tokens import InvalidToken, TokenIssuer
from auth.userinfo import UserInfoClient
from login.models import Identity


class Authenticator(Protocol):
    """Turns the app's ``Authorization`` header into an Identity, or raises a LoginError."""

    async def identify(self, authorization: str) -> Identity: ...

    def close(self) -> None: ...


__all__ = ["Authenticator", "DemoAuthenticator", "InvalidToken", "TokenIssuer", "UserInfoClient"]
