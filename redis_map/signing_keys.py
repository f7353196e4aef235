"""The OpenID provider's signing keys in Redis: one hash, ``<ns>:oidc:keys``, kid -> record.

Durable: the hash has no TTL (run Redis with AOF, see the README); keys leave
it only by ``python main.py keys remove|prune``.  Every command touches that one
key, so a Redis Cluster serves it too.  The records hold private keys: whoever
can read this Redis can sign as the provider (README, "Signing keys").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace

#: stores a record only if the hash is empty: racing first instances store one key between them
_ADD_FIRST = """
if redis.call('HLEN', KEYS[1]) > 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class SigningKeyStore:
    """Reads and writes the key records; a ``KeySource`` for ``oidc.keys.KeyRing``."""

    def __init__(self, redis: RedisClient, keys: KeySpace) -> None:
        self._redis = redis
        self.key = keys.signing_keys
        self._add_first = Script(redis, _ADD_FIRST)

    async def load(self) -> Mapping[str, str]:
        async with storage_errors():
            return cast(dict[str, str], await self._redis.hgetall(self.key))

    async def add(self, kid: str, record: str, *, only_if_empty: bool = False) -> bool:
        async with storage_errors():
            if only_if_empty:
                return bool(await self._add_first(keys=[self.key], args=[kid, record]))
            await self._redis.hset(self.key, kid, record)
            return True

    async def remove(self, kid: str) -> bool:
        async with storage_errors():
            return bool(await self._redis.hdel(self.key, kid))
