"""The signed tokens the provider issues: access tokens (RFC 9068) and ID tokens (OpenID Connect Core §2).

Both are RS256 JWTs from the shared key ring, told apart by ``typ``: an
access token is ``at+jwt`` (RFC 9068 §2.1), so no ID token or login token
passes for one at UserInfo.  An access token names its grant (``gid``), so
revoking the grant refuses it wherever we check.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oidc.core.util import create_half_hash

from oidc.grant import Grant
from oidc.key_set import ALGORITHM
from oidc.keys import BadToken, KeyRing

#: RFC 9068 §2.1: the media type of a JWT access token, in its ``typ`` header
ACCESS_TOKEN_TYPE = "at+jwt"
#: an ID token's ``typ``
ID_TOKEN_TYPE = "JWT"


@dataclass(frozen=True)
class AccessToken:
    token: str
    claims: dict[str, Any]


class Tokens:
    """Signs access and ID tokens, and checks access tokens."""

    def __init__(self, keys: KeyRing, *, access_ttl: int) -> None:
        self.keys = keys
        #: seconds an access token, and an ID token, lives
        self.access_ttl = access_ttl

    def access_token(self, grant: Grant, scope: str) -> AccessToken:
        """An RFC 9068 access token for ``grant``, carrying ``scope`` (the grant's, or a narrower one)."""
        now = int(self.keys.clock())
        claims: dict[str, Any] = {
            "iss": grant.issuer,
            "sub": grant.user.sub,
            # The resource is the provider's own API (UserInfo, introspection), named by its issuer URL.
            "aud": grant.issuer,
            "client_id": grant.client_id,
            "scope": scope,
            "iat": now,
            "exp": now + self.access_ttl,
            "auth_time": grant.auth_time,
            "jti": secrets.token_urlsafe(16),
            "gid": grant.grant_id,
        }
        return AccessToken(self.keys.sign(claims, typ=ACCESS_TOKEN_TYPE), claims)

    def id_token(self, grant: Grant, scope: str, access_token: str, *, first: bool) -> str:
        """The ID token of ``grant``; ``first``: the one answering the code (with the nonce), else a refresh's."""
        now = int(self.keys.clock())
        claims: dict[str, Any] = {
            "iss": grant.issuer,
            "sub": grant.user.sub,
            "aud": grant.client_id,
            "azp": grant.client_id,
            "iat": now,
            "exp": now + self.access_ttl,
            "auth_time": grant.auth_time,
            "at_hash": create_half_hash(access_token, ALGORITHM).decode(),
        }
        if first and grant.nonce:
            claims["nonce"] = grant.nonce  # Core §12.2: a refreshed ID token should carry none
        if "profile" in scope.split():
            claims["name"] = grant.user.name
            if grant.user.picture:
                claims["picture"] = grant.user.picture
        return self.keys.sign(claims, typ=ID_TOKEN_TYPE)

    async def check_access_token(self, token: str, issuer: str) -> dict[str, Any]:
        """The claims of an access token we signed for ``issuer``, unexpired; BadToken if not."""
        claims = await self.keys.decode_fresh(token, typ=ACCESS_TOKEN_TYPE)
        self.keys.validate(
            claims,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": issuer},
            exp={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
            gid={"essential": True},
        )
        if not isinstance(claims.get("scope", ""), str):
            raise BadToken("scope is not a string")
        return claims

    def signed_by_us(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token we signed, expired or not (for revocation); None if it is none of ours."""
        try:
            return self.keys.decode(token, typ=ACCESS_TOKEN_TYPE)
        except BadToken:
            return None
