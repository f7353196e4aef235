"""The login token ``/token`` hands out: an HS256 JWT signed with the service secret."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

from login.models import Identity

#: the only algorithm we sign or accept (no "none", no key confusion)
ALGORITHM = "HS256"
#: who signs the tokens, checked on verification
ISSUER = "qrlogin"
#: shortest secret accepted: RFC 7518 wants at least 256 bits of key for HS256
MIN_SECRET_LENGTH = 32


class InvalidToken(Exception):
    """A token that is expired, tampered with or not ours."""


class TokenIssuer:
    """Signs and verifies login tokens with one shared secret."""

    def __init__(self, secret: str, *, ttl: int = 3600) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the token secret must be at least {MIN_SECRET_LENGTH} characters")
        self._secret = secret
        self.ttl = ttl

    def issue(self, user: Identity) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user.sub,
            "name": user.name,
            "picture": user.picture,
            "iat": now,
            "exp": now + self.ttl,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return claims
