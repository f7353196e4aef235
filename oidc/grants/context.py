"""What every grant type works with: the grants' storage, the token signer, events, lifetimes; and the answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from login.models import Identity
from oidc.events import ProviderEvents
from oidc.grant import Grant
from oidc.tokens import Tokens
from redis_map.provider_limits import TokenCount


class Changed(Protocol):
    @property
    def outcome(self) -> str: ...

    @property
    def detail(self) -> str: ...

    @property
    def fields(self) -> dict[str, str] | None: ...

    @property
    def audited(self) -> bool:
        """Whether the change's script appended its audit entry itself."""
        ...


class GrantStore(Protocol):
    @property
    def counts_limits(self) -> bool:
        """Whether ``redeem`` and ``refresh`` count a ``TokenCount`` in their script (else the caller counts it)."""
        ...

    async def redeem(
        self,
        grant_id: str,
        *,
        code_hash: str,
        client_id: str,
        redirect_uri: str,
        challenge: str,
        now_ms: int,
        refresh_hash: str,
        grant_ttl_ms: int,
        retention_ms: int,
        ip: str,
        count: TokenCount | None = None,
    ) -> Changed: ...

    async def refresh(
        self,
        grant_id: str,
        *,
        presented_hash: str,
        new_hash: str,
        client_id: str,
        retention_ms: int,
        ip: str,
        count: TokenCount | None = None,
    ) -> Changed: ...

    async def revoke(self, grant_id: str, *, presented_hash: str, client_id: str, retention_ms: int) -> str: ...

    async def revoke_access_token(self, grant_id: str, jti: str, ttl_ms: int) -> None: ...

    async def access_token_user(self, grant_id: str, jti: str) -> Identity | None: ...

    async def read(self, grant_id: str) -> tuple[dict[str, str], int]: ...


@dataclass(frozen=True)
class GrantContext:
    grants: GrantStore
    tokens: Tokens
    events: ProviderEvents
    #: seconds a grant's refresh tokens live, from the login (absolute, not renewed by refreshing)
    refresh_ttl: float
    #: seconds a revoked grant is kept, so a replay of its code or tokens is recognised as one
    retention: float

    def answer(self, grant: Grant, scope: str, refresh_token: str, *, first: bool) -> dict[str, Any]:
        """The token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3)."""
        access = self.tokens.access_token(grant, scope)
        answer: dict[str, Any] = {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": self.tokens.access_ttl,
            "refresh_token": refresh_token,
            "scope": scope,
        }
        if "openid" in scope.split():
            answer["id_token"] = self.tokens.id_token(grant, scope, access.token, first=first)
        return answer
