"""Per-session wake-up for parked long-polls.

Each session that has at least one parked ``/wait`` gets its own
``tornado.locks.Condition``; a change to that session wakes only its waiters.
The entry is created by the first waiter and dropped by the last, so the
registry holds nothing for sessions nobody waits on.

A waiter reads ``generation`` before it reads Redis and compares after: a
notification that lands while the read is in flight (when nobody is parked on
the condition yet) still shows up as a changed generation, so no change
slips between the read and the park.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tornado.ioloop import IOLoop
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
        #: the loop time of the last notification (for the wake latency metric)
        self.notified_at = 0.0


class WaiterRegistry:
    """Maps a session uuid to the watch its parked waiters share."""

    def __init__(self) -> None:
        self._watches: dict[str, SessionWatch] = {}
        # Notified whenever a waiter comes or goes, for wait_until().
        self._membership = Condition()
        #: set while shutting down: waiters answer at once instead of parking
        self.closing = False

    @contextmanager
    def watch(self, uuid: str) -> Iterator[SessionWatch]:
        """Hold the session's watch for the duration of one wait."""
        entry = self._watches.get(uuid)
        if entry is None:
            entry = self._watches[uuid] = SessionWatch()
        entry.waiters += 1
        self._membership.notify_all()
        try:
            yield entry
        finally:
            entry.waiters -= 1
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
        entry.generation += 1
        entry.notified_at = IOLoop.current().time()
        entry.condition.notify_all()
        return True

    def notify_all(self) -> None:
        """Wake every waiter, e.g. after notifications may have been lost."""
        for entry in self._watches.values():
            entry.generation += 1
            entry.condition.notify_all()

    @property
    def sessions(self) -> int:
        """How many sessions have parked waiters."""
        return len(self._watches)

    @property
    def waiters(self) -> int:
        """How many waiters are parked in all."""
        return sum(entry.waiters for entry in self._watches.values())

    async def wait_until(self, predicate: Callable[[WaiterRegistry], bool], timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds as waiters come and go; False on timeout."""
        deadline = IOLoop.current().time() + timeout
        while not predicate(self):
            if not await self._membership.wait(timeout=deadline):
                return predicate(self)
        return True
