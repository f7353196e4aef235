"""A wait's round trips to a real Redis and the slots it holds there: taken once, given back exactly once.

The trips are counted at the store's connection pool (every command or pipeline checks out one connection), the
slots read from Redis by another client.  The sessions wait in WAITING, which nothing announces, so no notice of
the session's making reaches a wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from login.models import Identity, NewSession, Requester, SessionView, Status
from login.waiters import WaiterRegistry
from login.waiting import ChangeWaiter, WaitTicket
from redis_map import ChangeListener, SessionStore, connect, connect_pubsub
from redis_map.connection.pool import QueueingConnectionPool
from redis_map.limit_rules import RateLimits
from redis_map.ratelimit import RateLimiter
from redis_map.session_scripts import script_source
from runtime.metrics import Metrics
from runtime.shutdown import Shutdown

Waiting = asyncio.Task[SessionView | None]

ALICE = Identity("alice", "Alice")
IP = "192.0.2.7"
#: bound on anything that should come at once
PROMPT = 5.0
#: the scripts of a wait's reads
WAIT_SCRIPTS = ("wait_read.lua", "wake_read.lua")


class CountingPool(QueueingConnectionPool):
    """The service's pool, counting the connections checked out (one per command or pipeline: a round trip)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trips = 0
        self.returned = 0
        self._released = asyncio.Event()

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.trips += 1
        return await super().get_connection(*args, **kwargs)

    async def release(self, connection: Any) -> None:
        await super().release(connection)
        self.returned += 1
        self._released.set()

    async def until_returned(self, trips: int) -> None:
        """Until ``trips`` trips have come back.

        A wait whose read comes back goes on to park or answer without yielding to the loop, so once this
        returns, that wait is parked (or done).
        """
        while self.returned < trips:
            self._released.clear()
            await asyncio.wait_for(self._released.wait(), PROMPT)


@dataclass
class Rig:
    """A waiter with the default limits on a counted client, and a store on another client to change sessions."""

    pool: CountingPool
    changes: SessionStore
    other: aioredis.Redis
    registry: WaiterRegistry
    shutdown: Shutdown
    waiter: ChangeWaiter
    namespace: str

    async def session(self) -> NewSession:
        return await self.changes.create(Requester(IP, "TestBrowser/1.0", time.time()))

    def wait(self, new: NewSession, known: Status, ticket: WaitTicket | None = None) -> Waiting:
        return asyncio.create_task(self.waiter.wait(new.cursor, known, IP, ticket or WaitTicket()))

    async def slots(self) -> dict[str, int]:
        """The holders of every wait slot set there is, by rule (wait_ip, wait_session)."""
        held: dict[str, int] = {}
        async for key in self.other.scan_iter(match=f"{self.namespace}:rl:wait_*"):
            rule = key.split(":rl:")[1].split(":")[0]
            held[rule] = held.get(rule, 0) + await self.other.zcard(key)
        return held


@pytest.fixture
async def make_rig(redis_url: str, namespace: str) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:

        async def make(*, wait_timeout: float = 30.0, session_ttl: float = 120.0) -> Rig:
            pool = CountingPool.from_url(redis_url, timeout=PROMPT, decode_responses=True)
            redis = aioredis.Redis(connection_pool=pool)
            other, pubsub = connect(redis_url), connect_pubsub(redis_url)
            for client in (redis, other, pubsub):
                stack.push_async_callback(client.aclose)
            store = SessionStore(redis, namespace=namespace)
            registry = WaiterRegistry()
            listener = ChangeListener(pubsub, store.keys, registry)
            await listener.start()
            stack.push_async_callback(listener.stop)
            limiter = RateLimiter(redis, namespace=namespace, limits=RateLimits(), wait_timeout=wait_timeout)
            shutdown = Shutdown()
            waiter = ChangeWaiter(store, registry, limiter, Metrics(), wait_timeout, shutdown=shutdown)
            changes = SessionStore(other, namespace=namespace, session_ttl=session_ttl)
            for script in WAIT_SCRIPTS:  # else the first call of each is NOSCRIPT: two more trips
                await other.script_load(script_source(script))
            return Rig(pool, changes, other, registry, shutdown, waiter, namespace)

        yield make


@pytest.fixture
async def rig(make_rig: Any) -> Rig:
    rig: Rig = await make_rig()
    return rig


async def parked(rig: Rig, trips: int) -> None:
    await rig.pool.until_returned(trips)
    assert rig.registry.waiters == 1
    assert await rig.slots() == {"wait_ip": 1, "wait_session": 1}


async def test_a_woken_wait_answers_and_gives_its_slots_back_in_its_read(rig: Rig) -> None:
    new = await rig.session()
    waiting = rig.wait(new, Status.WAITING)
    await parked(rig, 1)  # the first read took both slots

    await rig.changes.scan(new.uuid, ALICE)

    view = await asyncio.wait_for(waiting, PROMPT)
    assert view is not None and view.status is Status.SCANNED
    assert rig.pool.trips == 2  # the first read; the woken read, which gave the slots back
    assert await rig.slots() == {}  # every slot given back, every emptied set gone


async def test_a_spurious_wake_keeps_the_slots_and_parks_again(rig: Rig) -> None:
    new = await rig.session()
    waiting = rig.wait(new, Status.WAITING)
    await parked(rig, 1)

    assert rig.registry.notify(new.uuid)  # a notice, but nothing changed
    await parked(rig, 2)  # read again, still waiting: parked again, holding its slots

    await rig.changes.cancel(new.uuid, ALICE)
    view = await asyncio.wait_for(waiting, PROMPT)
    assert view is not None and view.status is Status.DENIED
    assert rig.pool.trips == 3
    assert await rig.slots() == {}


async def test_an_expired_session_wakes_the_wait_which_gives_its_slots_back_in_its_read(make_rig: Any) -> None:
    rig: Rig = await make_rig(session_ttl=0.4)
    new = await rig.session()
    view = await asyncio.wait_for(rig.wait(new, Status.WAITING), PROMPT)
    assert view is not None and view.status is Status.EXPIRED
    assert rig.pool.trips == 2
    assert await rig.slots() == {}


async def test_a_wait_reaching_its_deadline_gives_its_slots_back_once(make_rig: Any) -> None:
    rig: Rig = await make_rig(wait_timeout=0.3)
    new = await rig.session()
    view = await asyncio.wait_for(rig.wait(new, Status.WAITING), PROMPT)
    assert view is not None and view.status is Status.WAITING
    assert rig.pool.trips == 3  # the first read; the read at the deadline, still waiting; the give-back
    assert await rig.slots() == {}


async def test_a_client_leaving_gives_the_slots_back_once(rig: Rig) -> None:
    new = await rig.session()
    ticket = WaitTicket()
    waiting = rig.wait(new, Status.WAITING, ticket)
    await parked(rig, 1)

    ticket.cancel()

    assert await asyncio.wait_for(waiting, PROMPT) is None
    assert rig.pool.trips == 2  # the first read; the give-back
    assert await rig.slots() == {}


async def test_shutting_down_answers_with_the_state_and_gives_the_slots_back_once(rig: Rig) -> None:
    new = await rig.session()
    waiting = rig.wait(new, Status.WAITING)
    await parked(rig, 1)

    rig.shutdown.begin()
    rig.registry.notify_all()

    view = await asyncio.wait_for(waiting, PROMPT)
    assert view is not None and view.status is Status.WAITING
    assert rig.pool.trips == 3  # the first read; the woken read (still waiting: kept); the give-back
    assert await rig.slots() == {}


async def test_many_waits_on_one_session_each_give_their_own_slots_back(rig: Rig) -> None:
    new = await rig.session()
    waits = [rig.wait(new, Status.WAITING) for _ in range(3)]
    await rig.pool.until_returned(3)
    assert rig.registry.waiters == 3
    assert await rig.slots() == {"wait_ip": 3, "wait_session": 3}

    await rig.changes.scan(new.uuid, ALICE)

    views = await asyncio.wait_for(asyncio.gather(*waits), PROMPT)
    assert {view.status for view in views if view is not None} == {Status.SCANNED}
    assert rig.pool.trips == 6
    assert await rig.slots() == {}
