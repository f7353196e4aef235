"""``POST /wait``: the PC's long-poll on its session."""

from __future__ import annotations

from handlers.base import BaseHandler
from login.errors import InvalidRequest
from login.models import Cursor, Status
from login.waiting import ChangeWaiter, WaitTicket

#: every status a client may say it knows
KNOWN_STATUSES = range(Status.EXPIRED, Status.DENIED + 1)


class WaitHandler(BaseHandler):
    """Answers as soon as the session's status differs from the one the PC knows.

    The cursor (the PC's secret) names the session.  A wrong or unknown cursor
    reads as an expired session, which tells an outsider nothing.  The rule
    itself is :class:`login.waiting.ChangeWaiter`'s; this is its HTTP face.
    """

    # Made when the wait starts (or the PC leaves first), so a request refused earlier pays nothing.
    _ticket: WaitTicket | None = None

    def initialize(self, waiter: ChangeWaiter) -> None:
        self.waiter = waiter
        # A wait renders no template: drop the per-request template namespace
        # now (a dict, the app's UI methods bound to this handler, and a cycle
        # through it), as Tornado itself does once a request finishes, rather
        # than keep it for as long as the wait is parked.
        self.ui = None  # type: ignore[assignment]

    async def post(self) -> None:
        cursor, known = self._arguments()
        ticket = self._ticket = self._ticket or WaitTicket()
        view = await self.waiter.wait(cursor, known, self.request.remote_ip or "", ticket)
        if view is None:
            return  # the PC left; nothing to answer
        self.write_json(view.wait_answer())

    def _arguments(self) -> tuple[Cursor, Status]:
        """The cursor and the status the PC knows."""
        # Apart, so the parsed body is not kept in post()'s frame while parked.
        body = self.json_body()
        cursor = Cursor.parse(self.str_field(body, "cursor"))
        if cursor is None:
            raise InvalidRequest("'cursor' is malformed.")
        return cursor, Status(self.int_field(body, "status", Status.WAITING, KNOWN_STATUSES))

    def on_connection_close(self) -> None:
        super().on_connection_close()  # ends a body still streaming in, which would otherwise never finish
        if self._ticket is None:
            self._ticket = WaitTicket()  # the PC left before its wait began: it must not park
        self._ticket.cancel()
