"""The command pool: past its limit commands queue in order, time out cleanly, and never fail for lack of room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from redis_map.connection.pool import QueueingConnectionPool


class WatchedPool(QueueingConnectionPool):
    """The pool, telling the test each time a command joins its queue."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: asyncio.Queue[None] = asyncio.Queue()

    async def _wait_turn(self) -> None:
        self.joined.put_nowait(None)
        await super()._wait_turn()


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[WatchedPool]:
    pool = WatchedPool.from_url(redis_url, max_connections=2, timeout=5.0, decode_responses=True)
    yield pool
    await pool.disconnect()


async def test_a_burst_past_the_limit_queues_and_every_command_succeeds(pool: WatchedPool) -> None:
    client = aioredis.Redis(connection_pool=pool)
    answers = await asyncio.gather(*(client.echo(f"m{i}") for i in range(200)))
    assert answers == [f"m{i}" for i in range(200)]
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 2
    assert pool.queued == 0


async def test_a_command_queued_too_long_fails_with_a_connection_error(redis_url: str) -> None:
    pool = QueueingConnectionPool.from_url(redis_url, max_connections=1, timeout=0.2)
    held = await pool.get_connection()
    try:
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await aioredis.Redis(connection_pool=pool).ping()
        assert pool.queued == 0
    finally:
        await pool.release(held)
        await pool.disconnect()


async def test_a_queued_command_is_served_before_a_newcomer(pool: WatchedPool) -> None:
    client = aioredis.Redis(connection_pool=pool)
    held = [await pool.get_connection(), await pool.get_connection()]
    order: list[str] = []

    async def command(name: str) -> None:
        await client.echo(name)
        order.append(name)

    first = asyncio.create_task(command("queued"))
    await pool.joined.get()
    await pool.release(held.pop())
    # The freed connection is the queued command's, though it has not run yet:
    # a newcomer asking now gets one only after it.
    newcomer = await pool.get_connection()
    order.append("newcomer")
    await first
    await pool.release(newcomer)
    await pool.release(held.pop())
    assert order == ["queued", "newcomer"]


async def test_a_woken_command_that_is_cancelled_passes_its_turn_on(pool: WatchedPool) -> None:
    client = aioredis.Redis(connection_pool=pool)
    held = [await pool.get_connection(), await pool.get_connection()]
    first = asyncio.create_task(client.echo("cancelled"))
    second = asyncio.create_task(client.echo("served"))
    await pool.joined.get()
    await pool.joined.get()
    await pool.release(held.pop())  # wakes the first...
    first.cancel()  # ...which leaves before taking its connection
    assert await asyncio.wait_for(second, 2.0) == "served"
    with pytest.raises(asyncio.CancelledError):
        await first
    await pool.release(held.pop())
