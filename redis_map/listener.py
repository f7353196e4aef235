"""The pub/sub listener: carries session changes from any process to local waiters.

One subscription per process on the store's channel.  Each message
``<uuid>:<status>`` wakes only that session's waiters here, if any.  Messages
published while the subscription was down are lost, so every (re)subscription
wakes all local waiters to re-read their session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_map.background import cancel_and_wait
from redis_map.waiters import WaiterRegistry

log = logging.getLogger("qrlogin.listener")

#: first pause before resubscribing after the connection broke
RECONNECT_MIN_DELAY = 0.1
#: longest pause between resubscription attempts
RECONNECT_MAX_DELAY = 5.0
#: how long start() waits for the first subscription
START_TIMEOUT = 10.0


class ChangeListener:
    """Subscribes to the change channel and wakes the registry's waiters."""

    def __init__(self, redis: aioredis.Redis, channel: str, registry: WaiterRegistry) -> None:
        self._redis = redis
        self._channel = channel
        self._registry = registry
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
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
        delay = RECONNECT_MIN_DELAY
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    self._handle(message)
                    delay = RECONNECT_MIN_DELAY
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("pub/sub connection lost (%s); retrying in %.1fs", exc, delay)
            finally:
                self._subscribed.clear()
                await _close_quietly(pubsub)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # A (re)subscription: anything published while we were away is
            # lost, so every parked waiter re-reads its session.
            self.subscriptions += 1
            self._subscribed.set()
            self._registry.notify_all()
        elif kind == "message":
            self.messages += 1
            data = message.get("data")
            if isinstance(data, bytes):
                data = data.decode("ascii", "replace")
            if isinstance(data, str):
                self._registry.notify(data.partition(":")[0])


async def _close_quietly(pubsub: aioredis.client.PubSub) -> None:
    with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
