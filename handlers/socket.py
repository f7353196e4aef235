"""``/ws``: the PC follows its session over one WebSocket, each change pushed as it happens.

The protocol, all JSON text messages:

- the PC sends one message, at once: ``{"cursor": "<cursor>", "status": <the status it knows>}``
  (never in the URL, where logs and proxies would keep the secret);
- the server pushes each change as the JSON a ``/wait`` answer carries
  (``{"status", "state", "expires_in"}``, ``"user"`` once known, the one-time
  ``"code"`` once confirmed) and closes once the state is final.

Close codes (the reason starts with the wire code, as ``/wait``'s errors):

====  ==========================================================================
1000  the session is final; the reason is its state (``confirmed``, ``denied``, ``expired``)
1012  the service is restarting: reconnect (another instance) with the status you know
4400  the first message is malformed, binary, or a second message came (``invalid_request: …``)
4408  no first message within :data:`FIRST_MESSAGE_TIMEOUT` seconds
4429  too many waits at once, the ``/wait`` slots (``rate_limited: retry after N s``)
4503  the session store failed (``storage_unavailable``): reconnect after a pause
1011  a bug of ours
====  ==========================================================================

A handshake from a foreign ``Origin`` is refused with 403 before any of this.
Tornado's pings (``websocket_ping_interval``/``websocket_ping_timeout``,
``--ping-interval``/``--ping-timeout``) keep the connection alive; a peer that
does not answer one in time is dropped at once and its wait freed.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from urllib.parse import urlsplit

from tornado.httputil import HTTPHeaders
from tornado.ioloop import IOLoop
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol, WebSocketProtocol13

from handlers.base import JSON_ENCODER
from handlers.middleware.security import HttpPolicy
from handlers.push import Ending, OpenConnections, Transport, follow, follow_request
from login.errors import InvalidJSON, LoginError, RateLimited, StorageUnavailable
from login.models import Cursor, SessionView, Status
from login.waiting import ChangeWaiter, WaitTicket
from runtime.metrics import Metrics

log = logging.getLogger("qrlogin.push")

#: seconds a new socket has to send its first message before it is closed (4408)
FIRST_MESSAGE_TIMEOUT = 5.0
#: the reason Tornado closes with when a ping went unanswered (``WebSocketProtocol13.periodic_ping``)
PING_TIMED_OUT = "ping timed out"
#: the longest close reason the protocol allows, in bytes (RFC 6455 §5.5: 125 less the code)
MAX_REASON = 123


class CloseCode(enum.IntEnum):
    """Why the server closed a socket; the client acts on the code, the reason is for people."""

    FINAL = 1000
    INTERNAL = 1011
    RESTART = 1012
    BAD_MESSAGE = 4400
    NO_MESSAGE = 4408
    RATE_LIMITED = 4429
    STORAGE = 4503


class HeartbeatProtocol(WebSocketProtocol13):
    """Tornado's protocol, but a ping not answered in time drops the peer at once.

    Tornado closes such a socket with a close frame and then waits 5 s for the
    answer a silent peer never sends; the wait would stay parked that long.
    """

    def __init__(self, handler: SocketHandler, template: WebSocketProtocol13) -> None:
        super().__init__(handler, False, template.params)
        self._socket = handler

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        missed = reason == PING_TIMED_OUT and not self.server_terminated
        super().close(code, reason)
        if missed:
            self._socket.heartbeat_missed()
            self._abort()


class SocketHandler(WebSocketHandler):
    """One PC following one session: the first message names it, then each change is pushed."""

    _opened = False
    #: set once the server began closing: later messages are ignored
    _ended = False
    _timer: object | None = None
    _task: asyncio.Task[None] | None = None

    def initialize(
        self, waiter: ChangeWaiter, connections: OpenConnections, metrics: Metrics, policy: HttpPolicy
    ) -> None:
        self.waiter = waiter
        self.connections = connections
        self.metrics = metrics
        self.policy = policy
        self._ticket = WaitTicket()

    # -- the handshake ------------------------------------------------------------

    def check_origin(self, origin: str) -> bool:
        """Our own origin (as Tornado's default: the Origin's host is the Host) or a ``--cors-origins`` one.

        Browsers let any page open a WebSocket anywhere; this is what stops a
        foreign site from following sessions through its visitors' browsers.
        """
        same_host = urlsplit(origin).netloc.lower() == self.request.headers.get("Host", "").lower()
        return same_host or self.policy.allows(origin)

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):
            return HeartbeatProtocol(self, protocol)
        return protocol

    def open(self, *args: str, **kwargs: str) -> None:
        # The handshake is answered and nothing reads its headers again: a socket parked for minutes
        # need not keep the request's nor those of our 101 (as a parked /wait drops Tornado's self.ui).
        self.request.headers = HTTPHeaders()
        self._headers = HTTPHeaders()
        self._opened = True
        self.connections.add(self)
        self.metrics.push_open.labels(Transport.WEBSOCKET).inc()
        self._timer = IOLoop.current().call_later(FIRST_MESSAGE_TIMEOUT, self._silent)

    # -- the first message, then following ------------------------------------------

    def on_message(self, message: str | bytes) -> None:
        if self._ended:
            return  # what a client sends after our close frame means nothing
        if self._task is not None:
            self._end(CloseCode.BAD_MESSAGE, "invalid_request: only one message is expected")
            return
        self._stop_timer()
        try:
            cursor, known = self._first_message(message)
        except LoginError as exc:
            self._end(CloseCode.BAD_MESSAGE, f"{exc.error}: {exc.message}")
            return
        # A task of its own: a coroutine returned here would hold Tornado's frame loop, pongs included.
        self._task = asyncio.ensure_future(self._follow(cursor, known))
        self._task.add_done_callback(self._followed)

    @staticmethod
    def _first_message(message: str | bytes) -> tuple[Cursor, Status]:
        if isinstance(message, bytes):
            raise InvalidJSON("The first message must be JSON text, not binary.")
        try:
            body = json.loads(message)
        except (ValueError, RecursionError) as exc:
            raise InvalidJSON("The first message is not JSON.") from exc
        return follow_request(body)

    async def _follow(self, cursor: Cursor, known: Status) -> None:
        try:
            followed = await follow(self.waiter, cursor, known, self.request.remote_ip or "", self._ticket, self._push)
        except RateLimited as exc:
            self._end(CloseCode.RATE_LIMITED, f"{exc.error}: retry after {exc.retry_after} s")
            return
        except StorageUnavailable as exc:
            self._end(CloseCode.STORAGE, exc.error)
            return
        if followed.ending is Ending.FINAL:
            self._end(CloseCode.FINAL, followed.status.state)
        elif followed.ending is Ending.RESTART:
            self._end(CloseCode.RESTART, "service restart")

    async def _push(self, view: SessionView) -> None:
        try:
            await self.write_message(JSON_ENCODER.encode(view.wait_answer()))
        except WebSocketClosedError:
            self._ticket.cancel()
            return
        self.metrics.pushes.labels(Transport.WEBSOCKET).inc()

    def _followed(self, task: asyncio.Task[None]) -> None:
        """A bug in following must not leave the socket open and silent: log it and close with 1011."""
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("following a session over /ws failed", exc_info=error)
            self._end(CloseCode.INTERNAL, "internal_error")

    # -- ending -----------------------------------------------------------------------

    def _silent(self) -> None:
        self._timer = None
        self._end(CloseCode.NO_MESSAGE, f"invalid_request: no first message within {FIRST_MESSAGE_TIMEOUT:g} s")

    def _end(self, code: CloseCode, reason: str) -> None:
        self._ended = True
        self._stop_timer()
        self._ticket.cancel()
        self.close(code, reason.encode()[:MAX_REASON].decode(errors="ignore"))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            IOLoop.current().remove_timeout(self._timer)
            self._timer = None

    def stop(self) -> None:
        """The service is stopping. A socket following a session is woken by the registry and closes by itself."""
        if self._task is None:
            self._end(CloseCode.RESTART, "service restart")

    def heartbeat_missed(self) -> None:
        self.metrics.heartbeats_missed.labels(Transport.WEBSOCKET).inc()

    def on_close(self) -> None:
        self._stop_timer()
        self._ticket.cancel()  # frees the parked wait now, not at its deadline
        if self._opened:
            self._opened = False
            self.connections.discard(self)
            self.metrics.push_open.labels(Transport.WEBSOCKET).dec()
