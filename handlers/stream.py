"""``POST /events``: the session's changes as Server-Sent Events, for networks that block WebSocket.

The request is ``/wait``'s: a JSON body ``{"cursor", "status"}`` (the status
the PC knows; without one, the ``Last-Event-ID`` header's, else 0).  The
cursor rides in the body, never the URL, so the browser reads the stream with
``fetch`` (``EventSource`` can only GET).  A malformed request gets the usual
JSON error before any event.  Then, as ``text/event-stream``:

- ``retry: <ms>``, first: how long an ``EventSource``-style client pauses before reconnecting;
- one event per change: ``id: <status>`` and ``data: <the /wait answer's JSON>``;
  the id is the status to resume from (as ``"status"`` or ``Last-Event-ID``);
- ``: heartbeat`` comments every ``--ping-interval`` seconds while nothing changes;
- ``event: error`` with ``{"status", "error", "message"}`` (and ``"retry_after"``)
  when the /wait slots are full (429) or the store failed (503), then the end.

The stream ends once the state is final; a stream that ends while the state is
pending (the service restarting, which first pushes the current state) is to
be reopened with the status last seen.
"""

from __future__ import annotations

import re
from asyncio import Future
from typing import Any

from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from handlers.base import JSON_ENCODER, BaseHandler
from handlers.push import OpenConnections, Transport, follow, follow_request
from login.errors import LoginError, RateLimited, StorageUnavailable
from login.models import Cursor, SessionView, Status
from login.waiting import ChangeWaiter, WaitTicket
from runtime.metrics import Metrics

#: the reconnection pause a client is told to take, in ms (the ``retry:`` field)
RETRY_MS = 1000
#: a ``Last-Event-ID`` we accept: one of our ids, a status
LAST_EVENT_ID = re.compile(r"-?[0-3]")


class StreamHandler(BaseHandler):
    """One PC following one session as an event stream."""

    _ticket: WaitTicket | None = None
    _beat: object | None = None

    def initialize(
        self, waiter: ChangeWaiter, connections: OpenConnections, metrics: Metrics, heartbeat: float
    ) -> None:
        self.waiter = waiter
        self.connections = connections
        self.metrics = metrics
        #: seconds between heartbeat comments
        self.heartbeat = heartbeat

    async def post(self) -> None:
        cursor, known = self._arguments()
        ticket = self._ticket = self._ticket or WaitTicket()
        if ticket.cancelled:
            return  # the PC left before the stream began
        self._open()
        try:
            await self._send(f"retry: {RETRY_MS}\n\n")
            await follow(self.waiter, cursor, known, self.request.remote_ip or "", ticket, self._push)
        except (RateLimited, StorageUnavailable) as exc:
            await self._send(self._error_event(exc))
        finally:
            self._close()

    def _arguments(self) -> tuple[Cursor, Status]:
        """The cursor and the status the PC knows (kept apart so the parsed body is not held while parked)."""
        body = self.json_body()
        last_seen = self.request.headers.get("Last-Event-ID", "").strip()
        if "status" not in body and LAST_EVENT_ID.fullmatch(last_seen):
            body["status"] = int(last_seen)
        return follow_request(body)

    def _open(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        # Whatever proxy sits in front (nginx reads this header) must pass each event on as it comes.
        self.set_header("X-Accel-Buffering", "no")
        self.connections.add(self)
        self.metrics.push_open.labels(Transport.SSE).inc()
        self._beat = IOLoop.current().call_later(self.heartbeat, self._heartbeat)

    def _close(self) -> None:
        if self._beat is not None:
            IOLoop.current().remove_timeout(self._beat)
            self._beat = None
        self.connections.discard(self)
        self.metrics.push_open.labels(Transport.SSE).dec()

    async def _push(self, view: SessionView) -> None:
        data = JSON_ENCODER.encode(view.wait_answer())
        if await self._send(f"id: {int(view.status)}\ndata: {data}\n\n"):
            self.metrics.pushes.labels(Transport.SSE).inc()

    async def _send(self, text: str) -> bool:
        """Write ``text`` out now; False (and the wait cancelled) if the PC has gone."""
        if self._finished or self.request.connection is None or self._gone():
            return False
        self.write(text)
        try:
            await self.flush()
        except StreamClosedError:
            self._left()
            return False
        return True

    def _heartbeat(self) -> None:
        self._beat = IOLoop.current().call_later(self.heartbeat, self._heartbeat)
        if self._finished or self._gone():
            return
        # A comment: clients ignore it, proxies and NAT tables see traffic.
        self.write(": heartbeat\n\n")
        self.flush().add_done_callback(self._heartbeat_sent)

    def _heartbeat_sent(self, sent: Future[None]) -> None:
        if sent.cancelled() or sent.exception() is None:
            return
        self.metrics.heartbeats_missed.labels(Transport.SSE).inc()
        self._left()

    def _gone(self) -> bool:
        stream = getattr(self.request.connection, "stream", None)
        return stream is None or bool(stream.closed())

    @staticmethod
    def _error_event(error: LoginError) -> str:
        payload: dict[str, Any] = {"status": error.status_code, "error": error.error, "message": error.message}
        if error.retry_after is not None:
            payload["retry_after"] = error.retry_after
        return f"event: error\ndata: {JSON_ENCODER.encode(payload)}\n\n"

    def stop(self) -> None:
        """The service is stopping: the registry wakes this stream, which pushes the state and ends."""

    def _left(self) -> None:
        if self._ticket is None:
            self._ticket = WaitTicket()
        self._ticket.cancel()

    def on_connection_close(self) -> None:
        super().on_connection_close()  # ends a body still streaming in
        self._left()
