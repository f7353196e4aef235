"""Grants in Redis: one hash per grant, ``<ns>:oidc:grant:{<gid>}``, changed only by Lua scripts.

The hash holds what the code is bound to (client, redirect URI, PKCE
challenge, user, scopes, nonce), the code's hash, and the grant's ``status``:
``code`` until the code is redeemed, then ``active``, until ``revoked``.  It
lives CODE_TTL while only a code, then the refresh tokens' lifetime.  Beside
it, in the same Cluster slot (the ``{<gid>}`` hash tag), the set of its
rotated refresh tokens' hashes and its revoked access tokens.
"""

from __future__ import annotations

from typing import cast

from oidc.grant import Grant
from redis_map.connection.connect import RedisClient
from redis_map.keys import KeySpace
from redis_map.store import change_errors, storage_errors

#: the grant's status while only its code exists
CODE = "code"


class RedisGrantStore:
    """A ``GrantStore`` for the provider's grants."""

    def __init__(self, redis: RedisClient, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys

    async def issue_code(self, grant: Grant, code_hash: str, expires_at_ms: int, ttl_ms: int) -> None:
        """Stores a new grant holding only its code, for ``ttl_ms``."""
        key = self._keys.grant(grant.grant_id)
        fields = {**grant.fields(), "status": CODE, "code_hash": code_hash, "code_expires_ms": str(expires_at_ms)}
        items: list[str | int] = [item for pair in fields.items() for item in pair]
        async with change_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, items=items)
            pipe.pexpire(key, ttl_ms)
            await pipe.execute()

    async def read(self, grant_id: str) -> dict[str, str]:
        """The grant's fields as stored ({} when gone)."""
        async with storage_errors():
            return cast(dict[str, str], await self._redis.hgetall(self._keys.grant(grant_id)))
