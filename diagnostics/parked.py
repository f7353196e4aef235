"""Waiting until a number of waits are parked: for benchmarks (``/debug/stats``) and tests.

It watches the registry through its observer hook, so the service's own
path pays nothing unless this is attached.
"""

from __future__ import annotations

from collections.abc import Callable

from tornado.ioloop import IOLoop
from tornado.locks import Condition

from login.waiters import WaiterRegistry


class ParkedWaiters:
    """Lets callers wait until the registry's waiters satisfy a predicate, as they come and go."""

    def __init__(self, registry: WaiterRegistry) -> None:
        self.registry = registry
        self._changed = Condition()

    def waiters_changed(self, registry: WaiterRegistry) -> None:
        self._changed.notify_all()

    async def until(self, predicate: Callable[[WaiterRegistry], bool], timeout: float) -> bool:
        """Wait until ``predicate(registry)`` holds; False if it still does not after ``timeout`` seconds."""
        deadline = IOLoop.current().time() + timeout
        while not predicate(self.registry):
            if not await self._changed.wait(timeout=deadline):
                return predicate(self.registry)
        return True


def parked_waiters(registry: WaiterRegistry) -> ParkedWaiters:
    """The registry's :class:`ParkedWaiters`, attached as its observer on first use."""
    observer = registry.observer
    if isinstance(observer, ParkedWaiters):
        return observer
    if observer is not None:
        raise RuntimeError(f"the registry already has an observer: {observer!r}")
    watcher = registry.observer = ParkedWaiters(registry)
    return watcher
