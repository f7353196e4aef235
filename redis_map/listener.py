"""The pub/sub listener: carries session changes from any process to local waiters.

One subscription per process on the store's channel (on a Cluster: on its 256
shard channels, see ``redis_map.sharded``).  Each message ``<uuid>:<status>``
wakes only that session's waiters here, if any.  Messages published while the
subscription was down are lost, so every (re)subscription wakes all local
waiters to re-read their session.  A broken subscription is rebuilt with
exponential back-off; a silent cut is noticed by PINGs (``redis_map.pubsub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from login.waiters import WaiterRegistry
from redis_map.connection.background import cancel_and_wait
from redis_map.connection.connect import RedisClient
from redis_map.connection.failures import STORAGE_ERRORS, SUBSCRIPTION_ERRORS
from redis_map.connection.pubsub import first_failure, pump
from redis_map.connection.sentinel import watch_master
from redis_map.connection.sharded import ShardedSubscription
from redis_map.keys import KeySpace

log = logging.getLogger("qrlogin.listener")

#: first pause before resubscribing after the connection broke
RECONNECT_MIN_DELAY = 0.1
#: longest pause between resubscription attempts
RECONNECT_MAX_DELAY = 5.0
#: how long start() waits for the first subscription
START_TIMEOUT = 10.0


class ChangeListener:
    """Subscribes to the change channel and wakes the registry's waiters."""

    def __init__(self, redis: RedisClient, keys: KeySpace, registry: WaiterRegistry) -> None:
        self._redis = redis
        self._keys = keys
        self._registry = registry
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._delay = RECONNECT_MIN_DELAY
        #: how many messages were dispatched (for metrics and tests)
        self.messages = 0
        #: how many times the subscription was (re)established
        self.subscriptions = 0

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    async def start(self) -> None:
        """Begin listening; returns once subscribed, so no later change is missed."""
        self._task = asyncio.create_task(self._run(), name="qrlogin-listener")
        await asyncio.wait_for(self._subscribed.wait(), START_TIMEOUT)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        self._delay = RECONNECT_MIN_DELAY
        while True:
            try:
                if isinstance(self._redis, RedisCluster):
                    subscription = ShardedSubscription(self._redis, self._keys.shard_channels())
                    await subscription.run(self._on_subscribed, self._handle)
                else:
                    await self._listen(self._redis)
            except SUBSCRIPTION_ERRORS as exc:
                log.warning("pub/sub connection lost (%s); retrying in %.1fs", exc, self._delay)
            finally:
                self._subscribed.clear()
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, RECONNECT_MAX_DELAY)

    async def _listen(self, redis: aioredis.Redis) -> None:
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(self._keys.events)
            pool = redis.connection_pool
            if isinstance(pool, SentinelConnectionPool):
                await first_failure(pump(pubsub, self._handle), watch_master(pool, pubsub))
            else:
                await pump(pubsub, self._handle)
        finally:
            with contextlib.suppress(*STORAGE_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _on_subscribed(self) -> None:
        # A (re)subscription: anything published while we were away is lost,
        # so every parked waiter re-reads its session.
        self.subscriptions += 1
        self._delay = RECONNECT_MIN_DELAY
        self._subscribed.set()
        self._registry.notify_all()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            self._on_subscribed()
        elif kind in ("message", "smessage"):
            self.messages += 1
            data = message.get("data")
            if isinstance(data, bytes):
                data = data.decode("ascii", "replace")
            if isinstance(data, str):
                self._registry.notify(data.partition(":")[0])
