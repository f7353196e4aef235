"""Following a Sentinel failover quickly, for commands and for the subscription.

redis-py asks the Sentinels for the master only when it opens a connection.
Pooled connections, and the one long-lived subscription, would keep talking to
a demoted master: writes there are thrown away when it resyncs from the new
master, and changes published on the new master never reach our subscription.
So both check the master's address every MASTER_CHECK_INTERVAL.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio.client import PubSub
from redis.asyncio.sentinel import SentinelConnectionPool

from redis_map.connection.failures import TopologyChanged
from redis_map.connection.pool import QueueingConnectionPool

#: how often a Sentinel-managed pool or subscription asks whether the master moved
MASTER_CHECK_INTERVAL = 1.0


class QueueingSentinelPool(QueueingConnectionPool, SentinelConnectionPool):
    """The Sentinel pool, queueing past its limit like ``connect()``'s, quick to follow a failover.

    When the master moved, ``get_master_address`` drops the idle connections,
    and busy ones are closed rather than returned to the pool.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._master_checked_at = 0.0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now - self._master_checked_at >= MASTER_CHECK_INTERVAL:
            self._master_checked_at = now
            await self.get_master_address()  # type: ignore[no-untyped-call]
        return await super().get_connection(*args, **kwargs)


async def watch_master(pool: SentinelConnectionPool, pubsub: PubSub) -> None:
    """Raises TopologyChanged once the master is no longer where ``pubsub`` is connected."""
    while True:
        await asyncio.sleep(MASTER_CHECK_INTERVAL)
        connection = pubsub.connection
        if connection is None:
            continue
        master = await pool.sentinel_manager.discover_master(pool.service_name)
        if (connection.host, connection.port) != tuple(master):
            raise TopologyChanged(f"the master moved to {master[0]}:{master[1]}")
