"""The per-session wake-up the parked waiters share (login.waiters), and the parked count seam."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tornado.ioloop import IOLoop
from tornado.locks import Condition

from diagnostics.parked import parked_waiters
from login.waiters import WaiterRegistry

#: a deadline no test reaches
FAR = 60.0


def far() -> float:
    return IOLoop.current().time() + FAR


async def test_a_session_gets_a_tornado_condition_made_by_its_first_waiter_and_dropped_by_its_last() -> None:
    registry = WaiterRegistry()
    first = registry.hold("a")
    assert isinstance(first.condition, Condition)
    assert registry.hold("a") is first and registry.get("a") is first
    registry.release("a")
    assert registry.get("a") is first
    registry.release("a")
    assert registry.get("a") is None and (registry.waiters, registry.sessions) == (0, 0)


async def test_notify_wakes_only_that_sessions_waiters_with_true() -> None:
    registry = WaiterRegistry()
    a, b = registry.hold("a"), registry.hold("b")
    woken = [a.condition.wait(timeout=far()) for _ in range(3)]
    asleep = asyncio.ensure_future(b.condition.wait(timeout=far()))  # the Future itself, typed as one

    assert registry.notify("a") and not registry.notify("nobody")

    assert await asyncio.gather(*woken) == [True, True, True]
    assert (a.generation, b.generation) == (1, 0)
    assert not asleep.done()
    registry.notify_all()
    assert await asyncio.wait_for(asleep, FAR) is True
    assert (a.generation, b.generation) == (2, 1)


async def test_the_deadline_resolves_false() -> None:
    watch = WaiterRegistry().hold("a")
    assert await watch.condition.wait(timeout=IOLoop.current().time() + 0.05) is False
    assert await watch.condition.wait(timeout=timedelta(seconds=0.05)) is False


async def test_a_cancelled_waiter_does_not_keep_the_others_from_waking() -> None:
    watch = WaiterRegistry().hold("a")
    gone = asyncio.ensure_future(watch.condition.wait(timeout=far()))
    staying = watch.condition.wait(timeout=far())
    gone.cancel()
    watch.wake(0.0)
    assert await staying is True


async def test_counts_follow_waiters_coming_and_going() -> None:
    registry = WaiterRegistry()
    for uuid in ("a", "a", "b"):
        registry.hold(uuid)
    assert (registry.waiters, registry.sessions) == (3, 2)
    registry.release("a")
    registry.release("b")
    assert (registry.waiters, registry.sessions) == (1, 1)


async def test_the_observer_is_told_of_every_waiter_coming_and_going() -> None:
    seen: list[int] = []

    class Counting:
        def waiters_changed(self, registry: WaiterRegistry) -> None:
            seen.append(registry.waiters)

    registry = WaiterRegistry()
    assert registry.observer is None  # the service's case: nothing is told
    registry.observer = Counting()
    registry.hold("a")
    registry.hold("b")
    registry.release("a")
    assert seen == [1, 2, 1]


async def test_parked_waiters_waits_until_the_count_is_reached() -> None:
    registry = WaiterRegistry()
    parked = parked_waiters(registry)
    assert parked_waiters(registry) is parked  # attached once, then shared
    reached = asyncio.ensure_future(parked.until(lambda r: r.waiters == 2, timeout=FAR))
    registry.hold("a")
    await asyncio.sleep(0)  # one loop turn: it must still be waiting
    assert not reached.done()
    registry.hold("b")
    assert await reached is True
    assert await parked.until(lambda r: r.waiters == 5, timeout=0.05) is False
