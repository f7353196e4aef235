"""Waiting for a session to change: the rule behind the PC's long-poll, for any transport.

A PC knows a status; it gets an answer as soon as the session's status
differs from that one, or the session expired, or the wait's deadline came.
Every wake re-reads the session (a notice only says "something changed"),
and since Redis publishes nothing when a session expires, a waiter also
wakes at its session's TTL.

HTTP long-polls use it today; WebSocket and SSE transports use it the same
way: make a :class:`WaitTicket`, await :meth:`ChangeWaiter.wait`, and call
``ticket.cancel()`` when the client goes away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Protocol, cast

from tornado.ioloop import IOLoop

from login.errors import StorageUnavailable
from login.models import Cursor, SessionView, Status
from login.waiters import WaiterRegistry

if TYPE_CHECKING:
    from redis_map import SessionStore
    from redis_map.ratelimit import RateLimiter
    from runtime.metrics import Metrics

#: slack after a session's TTL before re-reading it, so Redis has expired it
EXPIRY_SLACK = 0.05
#: session reads of waits in flight at once: past it a wait queues here, holding one
#: future, instead of queueing for the Redis pool with a whole command's call stack
#: (a burst of PCs parking at once would otherwise leave the heap at that peak)
READS_AT_ONCE = 64


class Closing(Protocol):
    """Whether the process is stopping (``runtime.shutdown.Shutdown`` is one)."""

    @property
    def closing(self) -> bool: ...


class WaitTicket:
    """A transport's handle on one wait in progress: ``cancel()`` ends it when the client leaves.

    Holds the future the wait is parked on, as Tornado's chat demo keeps its
    ``wait_future``, so cancelling resolves the wait at once rather than at
    its deadline.
    """

    __slots__ = ("_future", "cancelled")

    def __init__(self) -> None:
        self._future: asyncio.Future[bool] | None = None
        #: set by :meth:`cancel`; the wait then returns None
        self.cancelled = False

    def cancel(self) -> None:
        """The client left: end the wait (now if parked, else before it would park)."""
        self.cancelled = True
        if self._future is not None:
            self._future.cancel()


class ChangeWaiter:
    """Waits, for one client at a time, until a session differs from what that client knows."""

    def __init__(
        self,
        store: SessionStore,
        registry: WaiterRegistry,
        limiter: RateLimiter,
        metrics: Metrics,
        wait_timeout: float,
        *,
        shutdown: Closing,
    ) -> None:
        self.store = store
        self.registry = registry
        self.limiter = limiter
        self.metrics = metrics
        #: longest a wait stays parked before answering with the current status
        self.wait_timeout = wait_timeout
        self.shutdown = shutdown
        self._reads = asyncio.Semaphore(READS_AT_ONCE)

    async def wait(self, cursor: Cursor, known: Status, ip: str, ticket: WaitTicket) -> SessionView | None:
        """The session once its status is not ``known`` (or it expired), else as it is at the deadline.

        The view leaves out the requester: the client waiting is the
        requester, and a parked wait keeps its last view, so it keeps only
        what an answer can carry.  None if the wait was cancelled: its
        ticket (the client left) or its task (the loop closing).  A wrong cursor
        reads as an expired session.  The wait counts on the client IP's and,
        once the cursor proved right, the session's concurrency slots
        (RateLimited past either); StorageUnavailable if the first read fails.
        """
        # One coroutine for the whole wait, holding only locals: 10,000s are parked at once.
        uuid = cursor.uuid
        loop = IOLoop.current()
        deadline = loop.time() + self.wait_timeout
        woken_at: float | None = None  # when the notice that woke us reached the process
        view: SessionView | None = None
        async with self.limiter.wait_slots(ip) as slots:
            # inc/dec rather than track_inprogress(): no tracker object per parked wait
            self.metrics.waiters.inc()
            watch = self.registry.hold(uuid)
            try:
                while True:
                    generation = watch.generation
                    try:
                        async with self._reads:
                            if view is None:  # the first read takes the wait's slots too
                                read = await self.store.read_to_wait(cursor, known, slots)
                            else:  # and a later one gives them back if the wait will answer
                                read = await self.store.read_after_wake(cursor, known, slots)
                            view = _without_requester(read)
                    except StorageUnavailable:
                        if view is None:
                            raise
                        break  # Redis went away while we were parked: answer what we last knew
                    if view.status is not known or view.status is Status.EXPIRED or self.shutdown.closing:
                        break
                    now = loop.time()
                    if now >= deadline:
                        break
                    # The cursor is right (else the view read as expired): count this wait on its session.
                    await slots.admit(uuid)
                    if ticket.cancelled:
                        return None  # the client left while we were reading
                    if watch.generation != generation:
                        woken_at = watch.notified_at
                        continue  # notified while reading: read again
                    # Expiry publishes nothing, so also wake when the TTL runs out.
                    expiry = now + view.ttl_ms / 1000 + EXPIRY_SLACK if view.ttl_ms > 0 else deadline
                    # Tornado's Condition.wait hands back its Future (typed as an Awaitable).
                    ticket._future = cast("asyncio.Future[bool]", watch.condition.wait(timeout=min(deadline, expiry)))
                    try:
                        if await ticket._future:
                            woken_at = watch.notified_at
                    except asyncio.CancelledError:
                        return None  # the ticket (the client left) or the loop closing
                    finally:
                        ticket._future = None
            finally:
                self.registry.release(uuid)
                self.metrics.waiters.dec()
        assert view is not None  # every way out of the loop but a raise follows a read
        if woken_at is not None and view.status is not known:
            self.metrics.wake_latency.observe(time.monotonic() - woken_at)
        return view


def _without_requester(view: SessionView) -> SessionView:
    # The requester (IP, user agent, creation time, base URL: a few hundred
    # bytes of strings) is the phone's to see, never in a wait's answer.
    return view if view.requester is None else dataclasses.replace(view, requester=None)
