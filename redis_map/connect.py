"""Building the asyncio Redis clients from a URL."""

from __future__ import annotations

import redis.asyncio as aioredis

#: most connections one process opens for commands; past it requests queue
MAX_CONNECTIONS = 64
#: how long a request waits in that queue before giving up with 503
POOL_TIMEOUT = 5.0
#: how long to wait to connect to, or for an answer from, Redis
SOCKET_TIMEOUT = 5.0


def connect(url: str) -> aioredis.Redis:
    """A client for commands: a blocking pool, so bursts queue rather than fail.

    redis-py's default pool raises "Too many connections" past its limit; the
    blocking pool makes a request wait up to POOL_TIMEOUT for a free one.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        decode_responses=True,
    )
    return aioredis.Redis(connection_pool=pool)


def connect_pubsub(url: str) -> aioredis.Redis:
    """A client for the change subscription: no read timeout, as it idles by design."""
    return aioredis.Redis.from_url(url, socket_connect_timeout=SOCKET_TIMEOUT, decode_responses=True)
