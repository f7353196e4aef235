"""Redis killed and restarted on the same address: once it answers, no request fails on a dead pooled connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from tests.conftest import MakeInstance
from tests.procs import RedisServer
from tests.service import Instance

#: requests at once: each takes its own pooled connection, as a burst of load-balancer checks or re-reads does
CALLS = 30
#: longest wait for a state the test polls (Redis back, the subscription back)
DEADLINE = 15.0
#: how often that state is looked at
POLL_INTERVAL = 0.02


async def poll(condition: Callable[[], bool], what: str) -> None:
    """Until ``condition()`` holds; fails after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {DEADLINE}s"
        await asyncio.sleep(POLL_INTERVAL)


async def fill_pool(service: Instance) -> None:
    """CALLS commands at once: the pool then holds CALLS idle connections."""
    assert all(await asyncio.gather(*(service.redis.ping() for _ in range(CALLS))))
    assert len(service.redis.connection_pool._available_connections) >= CALLS


async def restart(server: RedisServer) -> None:
    """SIGKILL, then start again on the same port; returns once a fresh connection gets PONG."""
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start)
    fresh = aioredis.Redis.from_url(server.url)
    try:
        assert await fresh.ping()
    finally:
        await fresh.aclose()


async def test_readyz_right_after_redis_is_back_is_ready_every_time(
    aof_redis: RedisServer, make_instance: MakeInstance
) -> None:
    service = await make_instance(redis_url=aof_redis.url)
    await fill_pool(service)

    await restart(aof_redis)
    await poll(lambda: service.listener.connected, "resubscribed")

    answers = await asyncio.gather(*(service.request("GET", "/readyz") for _ in range(CALLS)))
    assert [answer.code for answer in answers] == [200] * CALLS, [a.body for a in answers if a.code != 200]


async def test_waits_parked_across_a_restart_re_read_and_stay_parked(
    aof_redis: RedisServer, make_instance: MakeInstance
) -> None:
    service = await make_instance(redis_url=aof_redis.url, wait_timeout=30, rate_limits=None)
    sessions = [await service.new_session() for _ in range(CALLS)]
    parked = [asyncio.ensure_future(service.wait(session["cursor"])) for session in sessions]
    await poll(lambda: service.registry.waiters == CALLS, "parked")
    await fill_pool(service)
    subscribed = service.listener.subscriptions

    await restart(aof_redis)  # the AOF brings every session back
    # The new subscription wakes every waiter to re-read its session: all at once, on pooled connections.
    await poll(lambda: service.listener.subscriptions > subscribed, "resubscribed")

    # A re-read that failed would have answered at once with the state from before the outage (0).
    for session in sessions:
        scan = await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
        assert scan.code == 200, scan.body
    answers = await asyncio.wait_for(asyncio.gather(*parked), timeout=DEADLINE)
    assert [answer.body["status"] for answer in answers] == [1] * CALLS
