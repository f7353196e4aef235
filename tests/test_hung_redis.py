"""A Redis that stops answering fails a request within about SOCKET_TIMEOUT, at no timer per command.

The hung Redis is a redis-server of the test's own, stopped with SIGSTOP: it
neither answers nor resets the connection.  The timeout is shortened for the
test through the module constant ``connect()`` reads.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

import redis_map.connection.connect as connect_module
from login.errors import StorageUnavailable
from redis_map import SessionStore, connect
from redis_map.connection.pool import QueueingConnectionPool
from redis_map.connection.timely import WATCH_TICKS
from redis_map.errors import storage_errors
from tests.procs import RedisServer

#: the socket timeout of the hung-Redis tests
TIMEOUT = 0.5
#: the latest a hung command may fail: its timeout, one watch tick, and the loop's slack
LATEST = TIMEOUT * (1 + 1 / WATCH_TICKS) + 0.5
#: commands timed for the task and timer counts
COMMANDS = 200


@pytest.fixture
async def hung(own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[SessionStore, Any]]:
    """A store connected to ``own_redis`` (a connection already open), and a function that hangs that Redis."""
    monkeypatch.setattr(connect_module, "SOCKET_TIMEOUT", TIMEOUT)
    redis = connect(own_redis.url)
    store = SessionStore(redis, namespace="hung")
    await store.ping()

    def hang() -> None:
        assert own_redis.process is not None
        os.kill(own_redis.process.pid, signal.SIGSTOP)

    yield store, hang
    if own_redis.process is not None:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    await redis.aclose()


async def fails_in_time(command: Coroutine[Any, Any, object]) -> float:
    """How long ``command`` took to fail with StorageUnavailable; the task it ran in is not left cancelled."""
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await asyncio.wait_for(command, LATEST * 4)
    took = time.monotonic() - started
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    return took


async def test_a_read_from_a_hung_redis_fails_within_the_socket_timeout(hung: tuple[SessionStore, Any]) -> None:
    store, hang = hung
    hang()
    took = await asyncio.gather(*(fails_in_time(store.read("0" * 32)) for _ in range(3)))
    assert all(TIMEOUT * 0.9 <= t <= LATEST for t in took), took


async def test_connecting_to_a_hung_redis_fails_within_the_socket_timeout(
    hung: tuple[SessionStore, Any], own_redis: RedisServer
) -> None:
    """The kernel accepts the connection for the stopped server; its handshake is what goes unanswered."""
    _, hang = hung
    hang()
    fresh = connect(own_redis.url)
    try:
        took = await fails_in_time(SessionStore(fresh, namespace="hung").ping())
        assert took <= LATEST
    finally:
        await fresh.aclose()


async def test_a_big_command_to_a_hung_redis_is_bounded_too(hung: tuple[SessionStore, Any]) -> None:
    """A send too big to go untimed (it may fill the socket's buffers) keeps redis-py's timed send."""
    store, hang = hung
    hang()

    async def big_write() -> None:
        async with storage_errors():
            await store._redis.set("hung:big", b"x" * (16 << 20))

    assert await fails_in_time(big_write()) <= LATEST


async def test_a_client_leaving_during_a_hung_command_is_a_cancellation(hung: tuple[SessionStore, Any]) -> None:
    store, hang = hung
    pool = store._redis.connection_pool
    assert isinstance(pool, QueueingConnectionPool) and pool.watch is not None
    hang()
    reading = asyncio.ensure_future(store.read("0" * 32))
    done, _ = await asyncio.wait({reading}, timeout=TIMEOUT / 10)  # well before the watch fails it, even on a late loop
    assert not done and pool.watch.out == 1
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert pool.watch.out == 0


class CountingLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, counting the tasks and timers started on it."""

    tasks = 0
    timers = 0

    def create_task(self, *args: Any, **kwargs: Any) -> Any:
        self.tasks += 1
        return super().create_task(*args, **kwargs)

    def call_at(self, *args: Any, **kwargs: Any) -> Any:
        self.timers += 1
        return super().call_at(*args, **kwargs)


def test_commands_start_no_task_and_no_timer_each(redis_url: str) -> None:
    """redis-py with a socket timeout starts a task (wait_for) and two timers a command; the pool's watch none."""

    async def commands() -> tuple[int, int]:
        redis = connect(redis_url)
        try:
            await redis.ping()
            loop = asyncio.get_running_loop()
            assert isinstance(loop, CountingLoop)
            tasks, timers = loop.tasks, loop.timers
            for _ in range(COMMANDS):
                await redis.get("hung:nothing")
            return loop.tasks - tasks, loop.timers - timers
        finally:
            await redis.aclose()

    with asyncio.Runner(loop_factory=CountingLoop) as runner:
        tasks, timers = runner.run(commands())
    assert tasks == 0
    assert timers <= 2  # the watch's tick, while a connection is in use
