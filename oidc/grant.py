"""A grant: one login handed to one client.  Its code, and then its refresh tokens, all carry its id.

The code and every refresh token are ``<grant id>.<256 random bits>``: the id
names the grant (one Redis hash, so each check and change is one atomic
script in one Cluster slot), the random part is the secret, stored only as
its SHA-256.  Access tokens name the grant in their ``gid`` claim, so
revoking the grant refuses them too wherever we check (UserInfo,
introspection).
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from login.models import Identity

#: a code or refresh token: the grant id (128 bits), a dot, the secret (256 bits), base64url
TOKEN_PATTERN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")


class GrantStatus(enum.StrEnum):
    """A grant's life: a code until redeemed, then active (its tokens good) until revoked (or expired)."""

    CODE = "code"
    ACTIVE = "active"
    REVOKED = "revoked"


def new_grant_id() -> str:
    return secrets.token_urlsafe(16)


def new_token(grant_id: str) -> str:
    """A new code or refresh token of the grant ``grant_id``."""
    return f"{grant_id}.{secrets.token_urlsafe(32)}"


def parse_token(token: str) -> str | None:
    """The grant id a code or refresh token names, or None if it is no such token."""
    match = TOKEN_PATTERN.fullmatch(token)
    return match.group(1) if match else None


def token_hash(token: str) -> str:
    """How a code or refresh token is stored and compared: its SHA-256 (it holds 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """What a code (and the tokens it yields) is bound to."""

    grant_id: str
    client_id: str
    redirect_uri: str
    scope: str
    user: Identity
    #: when the person logged in (scanned and confirmed), unix seconds: the ID token's auth_time
    auth_time: int
    #: the issuer the authorization answered as (its ``iss``)
    issuer: str
    nonce: str = ""
    code_challenge: str = ""

    def fields(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "sub": self.user.sub,
            "name": self.user.name,
            "picture": self.user.picture,
            "auth_time": str(self.auth_time),
            "issuer": self.issuer,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
        }

    @classmethod
    def from_fields(cls, grant_id: str, fields: Mapping[str, str]) -> Grant:
        return cls(
            grant_id=grant_id,
            client_id=fields["client_id"],
            redirect_uri=fields["redirect_uri"],
            scope=fields["scope"],
            user=Identity(sub=fields["sub"], name=fields.get("name", ""), picture=fields.get("picture", "")),
            auth_time=int(fields["auth_time"]),
            issuer=fields["issuer"],
            nonce=fields.get("nonce", ""),
            code_challenge=fields.get("code_challenge", ""),
        )

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())
