"""The provider's events on the audit stream, beside the login outcomes (``python main.py audit`` shows both).

One entry per event: its name as the ``outcome``, then the grant, client,
user and client IP; never a code, a token or a secret.
"""

from __future__ import annotations

from redis_map.audit import AUDIT_MAXLEN, AUDIT_RETENTION
from redis_map.connection.connect import RedisClient
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace


class ProviderAudit:
    """Appends the provider's events to ``<namespace>:audit``."""

    def __init__(self, redis: RedisClient, keys: KeySpace) -> None:
        self._redis = redis
        self.stream = keys.audit_stream

    async def record(self, event: str, **details: str) -> None:
        entry = {"outcome": event, **details}
        async with storage_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.stream, entry, maxlen=AUDIT_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.expire(self.stream, AUDIT_RETENTION)
            await pipe.execute()
