"""The registered clients in Redis: one hash, ``<ns>:oidc:clients``, client id -> record (JSON).

Durable: no TTL (run Redis with AOF, see the README); clients leave only by
``python main.py clients remove``.  Every command touches that one key, so a
Redis Cluster serves it too.  Records hold secrets only as HMAC hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace

#: replaces a record only if it is still there: a secret rotated while the client is removed stays removed
_REPLACE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class RedisClientStore:
    """Reads and writes client records; a ``ClientStore`` for ``oidc.clients.ClientRegistry``."""

    def __init__(self, redis: RedisClient, keys: KeySpace) -> None:
        self._redis = redis
        self.key = keys.clients
        self._replace = Script(redis, _REPLACE)

    async def get(self, client_id: str) -> str | None:
        async with storage_errors():
            return cast(str | None, await self._redis.hget(self.key, client_id))

    async def all(self) -> Mapping[str, str]:
        async with storage_errors():
            return cast(dict[str, str], await self._redis.hgetall(self.key))

    async def add(self, client_id: str, record: str) -> bool:
        async with storage_errors():
            return bool(await self._redis.hsetnx(self.key, client_id, record))

    async def replace(self, client_id: str, record: str) -> bool:
        async with storage_errors():
            return bool(await self._replace(keys=[self.key], args=[client_id, record]))

    async def remove(self, client_id: str) -> bool:
        async with storage_errors():
            return bool(await self._redis.hdel(self.key, client_id))
