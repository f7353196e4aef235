"""Per-session wake-up for parked long-polls.

Each session that has at least one parked ``/wait`` gets its own ``Wakeup``
(a lean ``tornado.locks.Condition``); a change to that session wakes only its
waiters.
The entry is created by the first waiter and dropped by the last, so the
registry holds nothing for sessions nobody waits on.

A waiter reads ``generation`` before it reads Redis and compares after: a
notification that lands while the read is in flight (when nobody is parked on
the condition yet) still shows up as a changed generation, so no change
slips between the read and the park.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

from tornado.ioloop import IOLoop
from tornado.locks import Condition


class Wakeup:
    """A condition for the few waiters of one session, built for 10,000s of sessions.

    Like ``tornado.locks.Condition`` (``wait(timeout)`` resolves True when
    notified, False at the deadline) but held in a plain list: Tornado's keeps
    a deque, 760 bytes even when empty, which the benchmark measured as a
    quarter of the memory a parked waiter costs beyond bare Tornado.
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[bool]] = []

    def wait(self, timeout: float) -> asyncio.Future[bool]:
        """A future resolving True on ``notify_all()``, False at ``timeout`` (a deadline in ``IOLoop.time()``)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(max(0.0, timeout - IOLoop.current().time()), _resolve, waiter, False)
        waiter.add_done_callback(functools.partial(self._forget, timer))
        return waiter

    def notify_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _resolve(waiter, True)

    def _forget(self, timer: asyncio.TimerHandle, waiter: asyncio.Future[bool]) -> None:
        # Done by notification, timeout or cancellation (the PC left).
        timer.cancel()
        if waiter in self._waiters:
            self._waiters.remove(waiter)


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


class SessionWatch:
    """The wake-up point shared by all waiters of one session."""

    __slots__ = ("condition", "generation", "notified_at", "waiters")

    def __init__(self) -> None:
        self.condition = Wakeup()
        #: bumped on every notification; lets a waiter see one it was not parked for
        self.generation = 0
        #: how many waiters hold this watch
        self.waiters = 0
        #: ``time.monotonic()`` at the last notification (for the wake latency metric; a
        #: clock finer than the loop's, which is uvloop's is whole milliseconds)
        self.notified_at = 0.0

    def wake(self, now: float) -> None:
        """Wake every waiter, and mark the change for those reading Redis meanwhile."""
        self.generation += 1
        self.notified_at = now
        self.condition.notify_all()


class Holding:
    """One waiter's hold on its session's watch; a context manager.

    A class rather than a ``@contextmanager`` generator: a parked waiter keeps
    it for as long as it waits, and a generator's frame costs ~500 bytes more.
    """

    __slots__ = ("_registry", "_uuid")

    def __init__(self, registry: WaiterRegistry, uuid: str) -> None:
        self._registry = registry
        self._uuid = uuid

    def __enter__(self) -> SessionWatch:
        return self._registry._hold(self._uuid)

    def __exit__(self, *exc: object) -> None:
        self._registry._release(self._uuid)


class WaiterRegistry:
    """Maps a session uuid to the watch its parked waiters share."""

    def __init__(self) -> None:
        self._watches: dict[str, SessionWatch] = {}
        # Notified whenever a waiter comes or goes, for wait_until().
        self._membership = Condition()
        #: set while shutting down: waiters answer at once instead of parking
        self.closing = False
        self._waiters = 0

    def watch(self, uuid: str) -> Holding:
        """Hold the session's watch for the duration of one wait: ``with registry.watch(uuid) as watch:``."""
        return Holding(self, uuid)

    def _hold(self, uuid: str) -> SessionWatch:
        entry = self._watches.get(uuid)
        if entry is None:
            entry = self._watches[uuid] = SessionWatch()
        entry.waiters += 1
        self._waiters += 1
        self._membership.notify_all()
        return entry

    def _release(self, uuid: str) -> None:
        entry = self._watches[uuid]
        entry.waiters -= 1
        self._waiters -= 1
        if entry.waiters == 0:
            del self._watches[uuid]
        self._membership.notify_all()

    def get(self, uuid: str) -> SessionWatch | None:
        """The session's watch, if anyone here waits on it."""
        return self._watches.get(uuid)

    def notify(self, uuid: str) -> bool:
        """Wake the waiters of one session; False if nobody here waits on it."""
        entry = self._watches.get(uuid)
        if entry is None:
            return False
        entry.wake(time.monotonic())
        return True

    def notify_all(self) -> None:
        """Wake every waiter, e.g. after notifications may have been lost."""
        now = time.monotonic()
        for entry in self._watches.values():
            entry.wake(now)

    @property
    def sessions(self) -> int:
        """How many sessions have parked waiters."""
        return len(self._watches)

    @property
    def waiters(self) -> int:
        """How many waiters are parked in all."""
        return self._waiters

    async def wait_until(self, predicate: Callable[[WaiterRegistry], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds as waiters come and go; False on timeout."""
        deadline = IOLoop.current().time() + timeout
        while not predicate(self):
            if not await self._membership.wait(timeout=deadline):
                return predicate(self)
        return True
