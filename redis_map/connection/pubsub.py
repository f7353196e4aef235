"""Reading one pub/sub connection, noticing a silent network cut."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import TimeoutError as RedisTimeoutError
from tornado.ioloop import IOLoop

#: how long the subscription may be quiet before we PING Redis on it
PING_INTERVAL = 5.0
#: how long without a word from Redis (not even a PONG) before the connection counts as cut
LIVENESS_TIMEOUT = 12.0

Handler = Callable[[dict[str, Any]], None]


async def pump(pubsub: PubSub, handle: Handler) -> None:
    """Hands every message (subscribe confirmations included) to ``handle``; never returns.

    A subscription idles by design, so a cut that sends no RST (a dead host, a
    dropped route) would otherwise go unnoticed for ever: when the connection
    is quiet it PINGs, and raises redis' TimeoutError once nothing at all was
    heard for LIVENESS_TIMEOUT.  A closed connection raises ConnectionError.
    """
    loop = IOLoop.current()
    last_heard = last_ping = loop.time()
    while True:
        message = await pubsub.get_message(timeout=PING_INTERVAL)
        now = loop.time()
        if message is not None:
            last_heard = now
            handle(message)
            continue
        if now - last_heard >= LIVENESS_TIMEOUT:
            raise RedisTimeoutError(f"nothing heard from Redis for {now - last_heard:.0f}s")
        if now - last_ping >= PING_INTERVAL:
            last_ping = now
            await pubsub.ping()


async def first_failure(*forever: Coroutine[Any, Any, None]) -> None:
    """Runs coroutines that only end by raising; raises the first failure, cancelling the rest."""
    tasks = [asyncio.create_task(coroutine) for coroutine in forever]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
