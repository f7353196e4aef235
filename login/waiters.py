"""Per-session wake-up for parked waits.

Each session that has at least one parked wait gets its own
``tornado.locks.Condition``; a change to that session wakes only its waiters.
The entry is created by the first waiter and dropped by the last, so the
registry holds nothing for sessions nobody waits on.

A waiter reads ``generation`` before it reads Redis and compares after: a
notification that lands while the read is in flight (when nobody is parked on
the condition yet) still shows up as a changed generation, so no change
slips between the read and the park.
"""

from __future__ import annotations

import time
from typing import Protocol

from tornado.locks import Condition


class SessionWatch:
    """The wake-up point shared by all waiters of one session."""

    __slots__ = ("condition", "generation", "notified_at", "waiters")

    def __init__(self) -> None:
        self.condition = Condition()
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


class RegistryObserver(Protocol):
    """Told whenever a waiter comes or goes (benchmarks and tests look through it)."""

    def waiters_changed(self, registry: WaiterRegistry) -> None: ...


class WaiterRegistry:
    """Maps a session uuid to the watch its parked waiters share.

    A waiter calls :meth:`hold` before its first read and :meth:`release` when
    it is done (in a ``finally``): plain calls rather than a context manager,
    as 10,000s of waiters would each keep one alive while parked.
    """

    def __init__(self, observer: RegistryObserver | None = None) -> None:
        self._watches: dict[str, SessionWatch] = {}
        self._waiters = 0
        #: told of every waiter coming or going; None (the service's case) costs one test per change
        self.observer = observer

    def hold(self, uuid: str) -> SessionWatch:
        """Join the session's watch (making it if this is its first waiter); pair with :meth:`release`."""
        entry = self._watches.get(uuid)
        if entry is None:
            entry = self._watches[uuid] = SessionWatch()
        entry.waiters += 1
        self._waiters += 1
        if self.observer is not None:
            self.observer.waiters_changed(self)
        return entry

    def release(self, uuid: str) -> None:
        """Leave the session's watch; the last waiter out drops it."""
        entry = self._watches[uuid]
        entry.waiters -= 1
        self._waiters -= 1
        if entry.waiters == 0:
            del self._watches[uuid]
        if self.observer is not None:
            self.observer.waiters_changed(self)

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
        """Wake every waiter, e.g. after notifications may have been lost, or to stop."""
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
