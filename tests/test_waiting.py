"""The waiting rule itself (login.waiting.ChangeWaiter) against a real Redis, with no HTTP in between."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest

import login.waiting
from diagnostics.parked import parked_waiters
from login.errors import StorageUnavailable
from login.models import Cursor, Identity, NewSession, Requester, SessionView, Status
from login.waiters import WaiterRegistry
from login.waiting import ChangeWaiter, WaitTicket
from redis_map import ChangeListener, SessionStore, connect, connect_pubsub
from redis_map.ratelimit import RateLimiter
from runtime.metrics import Metrics
from runtime.shutdown import Shutdown

Waiting = asyncio.Task[SessionView | None]

ALICE = Identity("alice", "Alice")
#: the waiter's timeout unless a test says otherwise: no test waits that long
WAIT_TIMEOUT = 30.0
#: bound on anything that should come at once
PROMPT = 5.0


class SteeredStore(SessionStore):
    """The real store, with a test's step run inside the next read, after Redis answered.

    What the step changes lands between the waiter's read and its park; the
    read still returns the session as it was before.
    """

    during_next_read: Callable[[SessionView], Awaitable[None]] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the status every read returned, in order
        self.statuses: list[Status] = []
        self._returned = asyncio.Event()

    async def read_for_cursor(self, cursor: Cursor) -> SessionView:
        view = await super().read_for_cursor(cursor)
        step, self.during_next_read = self.during_next_read, None
        if step is not None:
            await step(view)
        self.statuses.append(view.status)
        self._returned.set()
        return view

    async def returned(self, reads: int) -> None:
        """Until ``reads`` reads have returned.

        A waiter whose read returns goes on to park without yielding to the
        loop (with limits off, admitting it awaits nothing), so by the time
        this returns, a waiter whose read leads to parking is parked.
        """
        while len(self.statuses) < reads:
            self._returned.clear()
            await asyncio.wait_for(self._returned.wait(), PROMPT)


class Notices:
    """Counts the change notices the subscription hands the registry, per session, as they arrive."""

    def __init__(self, registry: WaiterRegistry) -> None:
        self.arrived: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._notify = registry.notify
        registry.notify = self._noticed  # type: ignore[method-assign]

    def _noticed(self, uuid: str) -> bool:
        self.arrived[uuid] += 1
        self._changed.set()
        return self._notify(uuid)

    async def until(self, uuid: str, count: int) -> None:
        """Until ``count`` notices for ``uuid`` have arrived."""
        while self.arrived[uuid] < count:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), PROMPT)


@dataclass
class Rig:
    """A waiter over a real store and a registry woken by a real subscription."""

    store: SteeredStore
    registry: WaiterRegistry
    metrics: Metrics
    shutdown: Shutdown
    waiter: ChangeWaiter
    notices: Notices

    async def session(self, status: Status = Status.WAITING) -> NewSession:
        """A new session in ``status``, returned once the notices of its changes have arrived: a notice
        arriving late would wake the test's wait once more."""
        new = await self.store.create(Requester("192.0.2.1", "TestBrowser/1.0", time.time()))
        changes = 0
        if status >= Status.SCANNED:
            await self.store.scan(new.uuid, ALICE)
            changes += 1
        if status is Status.CONFIRMED:
            await self.store.confirm(new.uuid, ALICE)
            changes += 1
        await self.notices.until(new.uuid, changes)
        return new

    def wait(self, new: NewSession, known: Status, ticket: WaitTicket | None = None) -> Waiting:
        return asyncio.create_task(self.waiter.wait(new.cursor, known, "192.0.2.1", ticket or WaitTicket()))

    async def until_parked(self, count: int) -> None:
        """Until ``count`` waiters, which each read once before parking, are parked."""
        assert await parked_waiters(self.registry).until(lambda r: r.waiters == count, timeout=PROMPT)
        await self.store.returned(count)

    def sample(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        return 0.0 if value is None else value


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(redis_url: str, namespace: str) -> AsyncIterator[MakeRig]:
    async with AsyncExitStack() as stack:

        async def make(*, session_ttl: float = 120.0, wait_timeout: float = WAIT_TIMEOUT) -> Rig:
            redis, pubsub = connect(redis_url), connect_pubsub(redis_url)
            stack.push_async_callback(redis.aclose)
            stack.push_async_callback(pubsub.aclose)
            store = SteeredStore(redis, namespace=namespace, session_ttl=session_ttl)
            registry = WaiterRegistry()
            notices = Notices(registry)
            listener = ChangeListener(pubsub, store.keys, registry)
            await listener.start()
            stack.push_async_callback(listener.stop)
            metrics, shutdown = Metrics(), Shutdown()
            waiter = ChangeWaiter(store, registry, RateLimiter.off(), metrics, wait_timeout, shutdown=shutdown)
            return Rig(store, registry, metrics, shutdown, waiter, notices)

        yield make


@pytest.fixture
async def rig(make_rig: MakeRig) -> Rig:
    return await make_rig()


async def test_answers_at_once_when_the_status_already_differs(rig: Rig) -> None:
    new = await rig.session(Status.SCANNED)
    view = await asyncio.wait_for(rig.wait(new, Status.WAITING), PROMPT)
    assert view is not None and view.status is Status.SCANNED and view.user == ALICE
    assert view.requester is None  # the PC is the requester; a parked wait keeps no copy of it
    assert rig.store.statuses == [Status.SCANNED]
    assert (rig.registry.waiters, rig.registry.sessions) == (0, 0)


async def test_a_change_wakes_the_parked_wait_which_reads_it_again(rig: Rig) -> None:
    new = await rig.session(Status.SCANNED)
    waiting = rig.wait(new, Status.SCANNED)
    await rig.until_parked(1)
    assert rig.sample("qrlogin_waiters_parked") == 1

    await rig.store.confirm(new.uuid, ALICE)

    view = await asyncio.wait_for(waiting, PROMPT)
    assert view is not None and view.status is Status.CONFIRMED and view.code
    assert rig.store.statuses == [Status.SCANNED, Status.CONFIRMED]
    assert rig.sample("qrlogin_wake_latency_seconds_count") == 1
    assert rig.sample("qrlogin_waiters_parked") == 0
    assert (rig.registry.waiters, rig.registry.sessions) == (0, 0)


async def test_the_unchanged_session_is_answered_at_the_deadline(make_rig: MakeRig) -> None:
    rig = await make_rig(wait_timeout=0.3)
    new = await rig.session()
    started = time.monotonic()
    view = await asyncio.wait_for(rig.wait(new, Status.WAITING), PROMPT)
    assert time.monotonic() - started >= 0.3
    assert view is not None and view.status is Status.WAITING and 0 < view.expires_in <= 120
    assert rig.sample("qrlogin_wake_latency_seconds_count") == 0  # nothing woke it
    assert (rig.registry.waiters, rig.registry.sessions) == (0, 0)


async def test_expiry_wakes_the_wait_although_it_publishes_nothing(make_rig: MakeRig) -> None:
    rig = await make_rig(session_ttl=0.4)
    new = await rig.session()
    view = await asyncio.wait_for(rig.wait(new, Status.WAITING), PROMPT)  # the wait timeout is 30 s
    assert view is not None and view.status is Status.EXPIRED


async def test_a_wrong_cursor_reads_as_expired_without_parking(rig: Rig) -> None:
    new = await rig.session(Status.CONFIRMED)
    forged = Cursor(new.uuid, "A" * 43)
    view = await asyncio.wait_for(rig.waiter.wait(forged, Status.WAITING, "192.0.2.1", WaitTicket()), PROMPT)
    assert view == SessionView.expired(new.uuid)


async def test_cancelling_the_ticket_ends_a_parked_wait_at_once(rig: Rig) -> None:
    new = await rig.session()
    ticket = WaitTicket()
    waiting = rig.wait(new, Status.WAITING, ticket)
    await rig.until_parked(1)

    ticket.cancel()

    assert await asyncio.wait_for(waiting, PROMPT) is None
    assert (rig.registry.waiters, rig.registry.sessions) == (0, 0)
    assert rig.sample("qrlogin_waiters_parked") == 0


async def test_a_ticket_cancelled_during_the_read_never_parks(rig: Rig) -> None:
    new = await rig.session()
    ticket = WaitTicket()

    async def leave(view: SessionView) -> None:
        ticket.cancel()

    rig.store.during_next_read = leave
    assert await asyncio.wait_for(rig.wait(new, Status.WAITING, ticket), PROMPT) is None
    assert rig.registry.waiters == 0


async def test_a_change_between_the_read_and_the_park_is_not_missed(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody is parked yet when the confirm's notice arrives: the generation tells the waiter to read again."""
    new = await rig.session(Status.SCANNED)
    noticed = asyncio.Event()
    notify = rig.registry.notify

    def notify_and_tell(uuid: str) -> bool:
        woke = notify(uuid)
        noticed.set()
        return woke

    async def confirm_and_let_the_notice_arrive(view: SessionView) -> None:
        await rig.store.confirm(new.uuid, ALICE)
        await asyncio.wait_for(noticed.wait(), PROMPT)

    monkeypatch.setattr(rig.registry, "notify", notify_and_tell)
    rig.store.during_next_read = confirm_and_let_the_notice_arrive
    view = await asyncio.wait_for(rig.wait(new, Status.SCANNED), PROMPT)  # else it sleeps for 30 s

    assert view is not None and view.status is Status.CONFIRMED
    assert rig.store.statuses == [Status.SCANNED, Status.CONFIRMED]


async def test_shutting_down_answers_parked_waits_with_their_state_and_parks_no_more(rig: Rig) -> None:
    new = await rig.session(Status.SCANNED)
    waiting = rig.wait(new, Status.SCANNED)
    await rig.until_parked(1)

    rig.shutdown.begin()
    rig.registry.notify_all()

    view = await asyncio.wait_for(waiting, PROMPT)
    assert view is not None and view.status is Status.SCANNED
    late = await asyncio.wait_for(rig.wait(new, Status.SCANNED), PROMPT)
    assert late is not None and late.status is Status.SCANNED


async def test_losing_redis_while_parked_answers_what_was_last_read(rig: Rig) -> None:
    new = await rig.session(Status.SCANNED)
    waiting = rig.wait(new, Status.SCANNED)
    await rig.until_parked(1)

    async def fail(cursor: Cursor) -> SessionView:
        raise StorageUnavailable()

    rig.store.read_for_cursor = fail  # type: ignore[method-assign]
    rig.registry.notify(new.uuid)

    view = await asyncio.wait_for(waiting, PROMPT)
    assert view is not None and view.status is Status.SCANNED


async def test_losing_redis_before_the_first_read_is_an_error(rig: Rig) -> None:
    new = await rig.session()

    async def fail(cursor: Cursor) -> SessionView:
        raise StorageUnavailable()

    rig.store.read_for_cursor = fail  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        await asyncio.wait_for(rig.wait(new, Status.WAITING), PROMPT)
    assert (rig.registry.waiters, rig.registry.sessions) == (0, 0)
    assert rig.sample("qrlogin_waiters_parked") == 0


async def test_many_waits_on_one_session_share_one_condition_and_all_wake(rig: Rig) -> None:
    new = await rig.session(Status.SCANNED)
    waits = [rig.wait(new, Status.SCANNED) for _ in range(5)]
    await rig.until_parked(5)
    assert rig.registry.sessions == 1

    await rig.store.confirm(new.uuid, ALICE)

    views = await asyncio.wait_for(asyncio.gather(*waits), PROMPT)
    assert {view.status for view in views if view is not None} == {Status.CONFIRMED}
    assert len({view.code for view in views if view is not None}) == 1
    assert (rig.registry.waiters, rig.registry.sessions) == (0, 0)


async def test_a_burst_of_waits_reads_only_so_many_sessions_at_once(
    make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login.waiting, "READS_AT_ONCE", 2)
    rig = await make_rig()
    sessions = [await rig.session() for _ in range(6)]
    in_flight, most = 0, 0
    read = rig.store.read_for_cursor

    async def counted(cursor: Cursor) -> SessionView:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await read(cursor)
        finally:
            in_flight -= 1

    monkeypatch.setattr(rig.store, "read_for_cursor", counted)
    waits = [rig.wait(new, Status.WAITING) for new in sessions]
    await rig.until_parked(len(sessions))

    assert most == 2
    for wait in waits:
        wait.cancel()
    assert await asyncio.gather(*waits) == [None] * len(sessions)  # cancelled waits end quietly
