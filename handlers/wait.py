"""``POST /wait``: the PC's long-poll on its session."""

from __future__ import annotations

import asyncio
import time

from tornado.ioloop import IOLoop

from handlers.base import BaseHandler
from login.errors import InvalidRequest, StorageUnavailable
from login.models import Cursor, SessionView, Status
from login.waiters import WaiterRegistry
from redis_map import SessionStore
from redis_map.ratelimit import RateLimiter, WaitSlots
from runtime.metrics import Metrics

#: every status a client may say it knows
KNOWN_STATUSES = range(Status.EXPIRED, Status.DENIED + 1)
#: slack after a session's TTL before re-reading it, so Redis has expired it
EXPIRY_SLACK = 0.05


class WaitHandler(BaseHandler):
    """Answers as soon as the session's status differs from the one the PC knows.

    The cursor (the PC's secret) names the session.  A wrong or unknown cursor
    reads as an expired session, which tells an outsider nothing.
    """

    # Per-request state, defaulting at class level so a parked handler's
    # __dict__ holds only what changed (10,000s of them are parked at once).
    _wait_future: asyncio.Future[bool] | None = None
    _gone = False
    #: when the notice that woke this waiter reached the process (``time.monotonic()``)
    _woken_at: float | None = None

    def initialize(
        self,
        store: SessionStore,
        registry: WaiterRegistry,
        wait_timeout: float,
        limiter: RateLimiter,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.registry = registry
        self.wait_timeout = wait_timeout
        self.limiter = limiter
        self.metrics = metrics

    async def post(self) -> None:
        cursor, uuid, known = self._arguments()
        async with self.limiter.wait_slots(self.request.remote_ip or "") as slots:
            # inc/dec rather than track_inprogress(): no tracker object per parked waiter
            self.metrics.waiters.inc()
            try:
                view = await self._wait_for_change(cursor, uuid, known, slots)
            finally:
                self.metrics.waiters.dec()
        if view is None:
            return  # the PC left; nothing to answer
        self.write_json(view.wait_answer())
        if self._woken_at is not None and view.status is not known:
            self.metrics.wake_latency.observe(time.monotonic() - self._woken_at)

    def _arguments(self) -> tuple[Cursor, str, Status]:
        """The cursor, the uuid it names, and the status the PC knows."""
        # Apart, so the parsed body is not kept in post()'s frame while parked.
        body = self.json_body()
        cursor = Cursor.parse(self.str_field(body, "cursor"))
        if cursor is None:
            raise InvalidRequest("'cursor' is malformed.")
        return cursor, cursor.uuid, Status(self.int_field(body, "status", Status.WAITING, KNOWN_STATUSES))

    async def _wait_for_change(self, cursor: Cursor, uuid: str, known: Status, slots: WaitSlots) -> SessionView | None:
        """The session once its status is not ``known``, or at the deadline; None if the PC left."""
        loop = IOLoop.current()
        deadline = loop.time() + self.wait_timeout
        last: SessionView | None = None
        with self.registry.watch(uuid) as watch:
            while True:
                generation = watch.generation
                try:
                    view = await self.store.read_for_cursor(cursor)
                except StorageUnavailable:
                    if last is None:
                        raise
                    return last  # Redis went away while we were parked: what we last knew
                last = view
                if view.status is not known or view.status is Status.EXPIRED or self.registry.closing:
                    return view
                now = loop.time()
                if now >= deadline:
                    return view
                # The cursor is right (else the view read as expired): count this wait on its session.
                await slots.admit(uuid)
                if self._gone:
                    return None  # the PC left while we were reading
                if watch.generation != generation:
                    self._woken_at = watch.notified_at
                    continue  # notified while reading: read again
                # Expiry publishes nothing, so also wake when the TTL runs out.
                expiry = now + view.ttl_ms / 1000 + EXPIRY_SLACK if view.ttl_ms > 0 else deadline
                wake_at = min(deadline, expiry)
                self._wait_future = watch.condition.wait(timeout=wake_at)
                try:
                    if await self._wait_future:
                        self._woken_at = watch.notified_at
                except asyncio.CancelledError:
                    return None
                finally:
                    self._wait_future = None

    def on_connection_close(self) -> None:
        self._gone = True
        if self._wait_future is not None:
            self._wait_future.cancel()
