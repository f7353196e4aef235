"""What the push transports share: the follow loop, the first request's shape, and the open connections.

A WebSocket (``handlers.socket``) and an event stream (``handlers.stream``)
follow one session each through the same :class:`login.waiting.ChangeWaiter`
as ``/wait``: wait for a change, push it, wait again knowing the new status.
So they park on the same per-session condition, woken by the process's one
Redis subscription; no connection subscribes to anything itself.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from tornado.locks import Event

from handlers.base import BaseHandler
from login.errors import InvalidRequest
from login.models import Cursor, SessionView, Status
from login.waiting import ChangeWaiter, WaitTicket

#: every status a client may say it knows (as at /wait)
KNOWN_STATUSES = range(Status.EXPIRED, Status.DENIED + 1)
#: seconds between heartbeats: WebSocket pings, SSE comments (``--ping-interval``)
PING_INTERVAL = 20.0
#: seconds a WebSocket peer has to answer a ping before it is dropped (``--ping-timeout``; at most the interval)
PING_TIMEOUT = 10.0


class Transport(enum.StrEnum):
    """The push transports, as the metrics label them."""

    WEBSOCKET = "websocket"
    SSE = "sse"


class Ending(enum.Enum):
    """Why following a session stopped."""

    #: the session's state is final (confirmed, denied, expired): nothing more will change
    FINAL = "final"
    #: the service is stopping: the client should reconnect (another instance) with the status it knows
    RESTART = "restart"
    #: the client went away
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class Followed:
    """How following ended, and the last status the client was given (or said it knew)."""

    ending: Ending
    status: Status


def follow_request(body: Any) -> tuple[Cursor, Status]:
    """The cursor and known status of a first message or stream request: ``{"cursor", "status"}``.

    InvalidJSON / InvalidRequest, with the same messages as ``/wait``, for anything else.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request must be a JSON object with 'cursor' and 'status'.")
    cursor = Cursor.parse(BaseHandler.str_field(body, "cursor"))
    if cursor is None:
        raise InvalidRequest("'cursor' is malformed.")
    return cursor, Status(BaseHandler.int_field(body, "status", Status.WAITING, KNOWN_STATUSES))


async def follow(
    waiter: ChangeWaiter,
    cursor: Cursor,
    known: Status,
    ip: str,
    ticket: WaitTicket,
    push: Callable[[SessionView], Awaitable[None]],
) -> Followed:
    """Push every change of the session until it is final, the service stops, or the client leaves.

    Each round is one ``waiter.wait``: it counts on the same /wait slots
    (RateLimited past them) and answers at its deadline unchanged, which is
    not pushed.  While stopping, the state as it is now is pushed even if the
    client knows it, so every client gets it before the close.  ``push``
    cancels ``ticket`` if it finds the client gone.  StorageUnavailable if
    Redis fails at a round's first read.
    """
    while not ticket.cancelled:
        view = await waiter.wait(cursor, known, ip, ticket)
        if view is None:
            break
        stopping = waiter.shutdown.closing
        if stopping or view.status is not known:
            await push(view)
            known = view.status
        if ticket.cancelled:
            break
        if not view.status.pending:
            return Followed(Ending.FINAL, known)
        if stopping:
            return Followed(Ending.RESTART, known)
    return Followed(Ending.LEFT, known)


class PushConnection(Protocol):
    """An open socket or stream, as :class:`OpenConnections` sees it."""

    def stop(self) -> None:
        """The service is stopping: end now unless already following a session (the registry wakes those)."""


class OpenConnections:
    """The WebSockets and event streams open in this process, for the graceful stop.

    As Tornado's chat demo holds its set of live sockets on the application.
    """

    def __init__(self) -> None:
        self._open: set[PushConnection] = set()
        self._none = Event()
        self._none.set()

    def add(self, connection: PushConnection) -> None:
        self._open.add(connection)
        self._none.clear()

    def discard(self, connection: PushConnection) -> None:
        self._open.discard(connection)
        if not self._open:
            self._none.set()

    def __len__(self) -> int:
        return len(self._open)

    async def stop(self, timeout: float) -> bool:
        """End every connection; False if some are still open after ``timeout`` seconds.

        Call it once ``Shutdown.begin()`` and ``WaiterRegistry.notify_all()``
        have run: those wake every connection following a session, which then
        pushes the session's state and ends (a socket with close code 1012).
        """
        for connection in list(self._open):
            connection.stop()
        return await self.drained(timeout)

    async def drained(self, timeout: float) -> bool:
        """Wait until none is open; False if some still are after ``timeout`` seconds."""
        try:
            await self._none.wait(timeout=timedelta(seconds=timeout))
        except TimeoutError:
            return False
        return True


__all__ = [
    "KNOWN_STATUSES",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "Ending",
    "Followed",
    "OpenConnections",
    "PushConnection",
    "Transport",
    "follow",
    "follow_request",
]
