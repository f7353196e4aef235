"""The per-session condition the parked waiters share (redis_map.waiters.Wakeup)."""

from __future__ import annotations

import asyncio

from tornado.ioloop import IOLoop

from login.waiters import WaiterRegistry, Wakeup

#: a deadline no test reaches
FAR = 60.0


async def test_notify_all_wakes_every_waiter_with_true() -> None:
    wakeup = Wakeup()
    deadline = IOLoop.current().time() + FAR
    waiters = [wakeup.wait(timeout=deadline) for _ in range(3)]
    wakeup.notify_all()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert wakeup._waiters == []


async def test_deadline_resolves_false_and_forgets_the_waiter() -> None:
    wakeup = Wakeup()
    waiter = wakeup.wait(timeout=IOLoop.current().time() + 0.05)
    assert await waiter is False
    assert wakeup._waiters == []


async def test_a_cancelled_waiter_is_forgotten_and_the_others_still_wake() -> None:
    wakeup = Wakeup()
    deadline = IOLoop.current().time() + FAR
    gone, staying = wakeup.wait(timeout=deadline), wakeup.wait(timeout=deadline)
    gone.cancel()
    await asyncio.sleep(0)  # let the done callback run (one loop turn, not a timing guess)
    assert wakeup._waiters == [staying]
    wakeup.notify_all()
    assert await staying is True


async def test_registry_counts_waiters_as_they_come_and_go() -> None:
    registry = WaiterRegistry()
    with registry.watch("a") as first, registry.watch("a") as second:
        assert first is second
        with registry.watch("b"):
            assert (registry.waiters, registry.sessions) == (3, 2)
        assert registry.notify("a") and not registry.notify("b")
        assert first.generation == 1
    assert (registry.waiters, registry.sessions) == (0, 0)
