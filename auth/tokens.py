"""The login token ``/token`` hands out: an RS256 JWT signed with the provider's shared keys.

Any site can check it with the JWKS (``/jwks.json``): the signature, ``typ``
``login+jwt`` in the header (so neither an ID token nor an access token passes
for one), ``iss``, and ``exp``.  Until issue 11 it was HS256 with ``--secret``,
which every checking site would have needed; ``--secret`` is now ignored.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from login.models import Identity
from oidc.keys import BadToken, KeyRing

#: the issuer of login tokens when no --issuer or --public-url names the service
ISSUER = "qrlogin"
#: the JWT ``typ`` header of a login token (RFC 8725 §3.11: explicit typing against token confusion)
LOGIN_TOKEN_TYPE = "login+jwt"  # noqa: S105 (a media type, not a password)
#: random bytes in a login token's ``jti``
TOKEN_ID_BYTES = 12


def new_token_id() -> str:
    """A new login token's ``jti``: random, URL-safe."""
    return secrets.token_urlsafe(TOKEN_ID_BYTES)


class InvalidToken(Exception):
    """A token that is expired, tampered with or not ours."""


class TokenIssuer:
    """Signs and verifies login tokens with the key ring every instance shares.

    Built before the key ring exists (``runtime.server`` builds it before any
    fork), then ``bound`` to the instance's ring by the composition root.
    """

    def __init__(self, keys: KeyRing | None = None, *, ttl: int = 3600, issuer: str = ISSUER) -> None:
        self._keys = keys
        self.ttl = ttl
        self.issuer = issuer

    def bound(self, keys: KeyRing) -> TokenIssuer:
        """This issuer, signing with ``keys``."""
        return TokenIssuer(keys, ttl=self.ttl, issuer=self.issuer)

    @property
    def keys(self) -> KeyRing:
        if self._keys is None:
            raise RuntimeError("the login-token issuer has no key ring yet (the composition root binds one)")
        return self._keys

    def issue(self, user: Identity, issued_at: int | None = None, token_id: str | None = None) -> str:
        """A login token for ``user``, issued now with a new ``jti`` unless told when and which.

        Given both, the same token each time with the same signing key (RS256 signs deterministically):
        what a retried exchange hands back, from the two alone.
        """
        now = int(time.time()) if issued_at is None else issued_at
        claims = {
            "iss": self.issuer,
            "sub": user.sub,
            "name": user.name,
            "picture": user.picture,
            "iat": now,
            "exp": now + self.ttl,
            "jti": new_token_id() if token_id is None else token_id,
        }
        return self.keys.sign(claims, typ=LOGIN_TOKEN_TYPE)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken."""
        try:
            claims = self.keys.decode(token, typ=LOGIN_TOKEN_TYPE)
            self.keys.validate(
                claims,
                iss={"essential": True, "value": self.issuer},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
            )
        except BadToken as exc:
            raise InvalidToken(str(exc)) from exc
        return claims
