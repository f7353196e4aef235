"""What stands between the HTTP server and the app: the timers on a request's headers and body, and our
answers where Tornado would answer a bare ``400``.

- **Timeouts.** A connection's wait for the next request's headers is timed
  by one timer (Tornado's ``idle_connection_timeout``, kept by ``AnswerGuard``
  as a plain loop timer: Tornado's ``gen.with_timeout`` around every header
  read costs several times more): from the moment a connection opens, or its
  last answer is sent, to the end of the next request's headers.  So an idle
  keep-alive connection and one trickling its headers are both closed after
  the idle timeout.  A body must arrive within the body timeout.  A parked
  ``/wait`` has sent its whole request and waits for us: neither timer runs then.
- **Our answers.** Where Tornado hands the request to us first (a ``Host`` it
  refuses, a bad query string, a body over the limit), ``AnswerGuard``
  answers instead, with our JSON error and security headers.  A request
  Tornado cannot read at all (its request line, a header line, its
  ``Content-Length``, ``Transfer-Encoding`` or chunks; a head over the limit)
  is answered by the connection's stream (``runtime.framing``), with what
  ``AnswerGuard.unreadable`` says: the same JSON and headers.  Every one of
  these answers closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import cast

from tornado.http1connection import HTTP1Connection, HTTP1ServerConnection
from tornado.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerConnectionDelegate,
    RequestStartLine,
    ResponseStartLine,
)
from tornado.iostream import IOStream, UnsatisfiableReadError

from login.errors import BodyTooLarge, HeadersTooLarge, InvalidRequest, LoginError
from runtime.framing import CHUNKED_MALFORMED, error_answer, refusal

log = logging.getLogger("qrlogin.http")  # the HTTP layer's one logger, with runtime/http.py: one name to configure

#: how far a chunked body is read before the guard cuts it: Tornado would refuse the declared size
#: with its bare 400, so the guard reads on (up to this) and answers 413 itself
_CHUNKED_READ_LIMIT = 1 << 62


class AnswerGuard(HTTPServerConnectionDelegate):
    """Puts a ``_GuardedRequest`` before every request: our JSON errors where Tornado would answer bare.

    With an ``idle_timeout``, a connection whose next request's headers are not
    all in within it is closed (what Tornado's ``idle_connection_timeout`` does);
    the server must call ``on_close`` as each connection closes.  ``unreadable``
    says what a request Tornado cannot read is told (``runtime.framing``).
    """

    def __init__(
        self,
        delegate: HTTPServerConnectionDelegate,
        max_body_size: int,
        body_timeout: float,
        idle_timeout: float | None = None,
    ) -> None:
        self.delegate = delegate
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        #: per connection (its stream), its request whose headers are awaited (its timer is stopped if the
        #: connection closes)
        self.awaiting: dict[IOStream, _GuardedRequest] = {}

    def start_request(self, server_conn: object, request_conn: HTTPConnection) -> HTTPMessageDelegate:
        inner = self.delegate.start_request(server_conn, request_conn)
        guarded = _GuardedRequest(inner, request_conn, self.max_body_size, self.body_timeout)
        stream: IOStream = server_conn.stream  # type: ignore[attr-defined]  # an HTTP1ServerConnection's (no cast: hot)
        guarded.await_headers(self.idle_timeout, self.awaiting, stream)
        return guarded

    def on_close(self, server_conn: object) -> None:
        guarded = self.awaiting.pop(cast(HTTP1ServerConnection, server_conn).stream, None)
        if guarded is not None:
            guarded.stop_timer()
        self.delegate.on_close(server_conn)

    def unreadable(self, stream: IOStream, error: BaseException | None) -> LoginError:
        """What a request on ``stream`` that Tornado cannot read is told; ``error`` says why (an ``HTTPInputError``,
        an ``UnsatisfiableReadError`` for a read over its limit, None if unknown)."""
        if isinstance(error, UnsatisfiableReadError):
            # The head's read (max_header_size) while its headers are awaited, else a chunk-size line's.
            answer: LoginError = HeadersTooLarge() if stream in self.awaiting else InvalidRequest(CHUNKED_MALFORMED)
        else:
            answer = refusal(str(error) if error is not None else "")
        log.debug("%d %s for a request Tornado cannot read: %.200s", answer.status_code, answer.error, error)
        return answer


class _GuardedRequest(HTTPMessageDelegate):
    """One request on its way to the app; answers itself what Tornado would answer with a bare 400.

    - a ``Content-Length`` over the limit: 413 before the app sees the request;
    - a request Tornado refuses once parsed (``HTTPInputError`` from building
      it: a bad ``Host``, a bad query string): 400 ``invalid_request``;
    - a chunked body: read on past the limit (Tornado would refuse the
      declared size bare), and at the limit the app is handed what came so
      far and told the body ended, so the API answers its 413; the rest is
      not read, and the connection closes after the answer.

    A body (a ``Content-Length``, or chunked) must be in within ``body_timeout``
    of its headers, else the connection is closed, as Tornado's ``body_timeout`` does;
    and, once ``await_headers`` is called, the headers within its timeout.
    """

    def __init__(
        self, inner: HTTPMessageDelegate, connection: HTTPConnection, max_body_size: int, body_timeout: float
    ) -> None:
        self.inner = inner
        self.connection = connection
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        #: the one timer running: the headers' (idle) or the body's
        self._timer: asyncio.TimerHandle | None = None
        #: while the headers are awaited: the guard's map of such requests (our key in it: ``_stream``)
        self._awaiting: dict[IOStream, _GuardedRequest] | None = None
        #: the app has the request (its headers_received returned)
        self._started = False
        #: the app was told the body ended (or we answered ourselves): nothing more goes to it
        self._done = False
        self._chunked = False
        self._received = 0
        self._start_line: RequestStartLine | None = None

    #: the connection's stream, once ``await_headers`` is called
    _stream: IOStream

    def await_headers(self, timeout: float | None, awaiting: dict[IOStream, _GuardedRequest], stream: IOStream) -> None:
        """Listed in ``awaiting`` (under ``stream``) until the headers are in; with a ``timeout``, the connection
        is closed unless they are in within it."""
        if timeout is not None:
            self._timer = asyncio.get_running_loop().call_later(timeout, self._headers_late)
        self._awaiting = awaiting
        self._stream = stream
        awaiting[stream] = self

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        if self._awaiting is not None:
            self.stop_timer()
            self._leave_awaiting()
        self._start_line = cast(RequestStartLine, start_line)
        length = headers.get("Content-Length", "")
        encoding = headers.get("Transfer-Encoding", "")
        if length or encoding:
            self._timer = asyncio.get_running_loop().call_later(self.body_timeout, self._body_late)
        if length.isdecimal() and int(length) > self.max_body_size:
            self._allow_body(int(length))  # so Tornado reads on quietly until our answer closes the connection
            self._answer(BodyTooLarge())
            return None
        self._chunked = "chunked" in encoding.lower()
        if self._chunked:
            self._allow_body(_CHUNKED_READ_LIMIT)
        try:
            answer = self.inner.headers_received(start_line, headers)
        except HTTPInputError as exc:
            log.info("request refused: %s", exc)
            self._answer(refusal(str(exc)))
            return None
        self._started = True
        return answer

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._done:
            return None
        self._received += len(chunk)
        if self._chunked and self._received > self.max_body_size:
            # Enough for the app to see the body is too large; it answers 413 and the connection closes.
            over = chunk[: self.max_body_size + 1 - (self._received - len(chunk))]
            answer = self.inner.data_received(over)
            self._done = True
            if answer is not None:
                return self._then_finish(answer)
            self.inner.finish()
            return None
        return self.inner.data_received(chunk)

    async def _then_finish(self, answer: Awaitable[None]) -> None:
        await answer
        self.inner.finish()

    def finish(self) -> None:
        self.stop_timer()
        if not self._done:
            self._done = True
            self.inner.finish()

    def on_connection_close(self) -> None:
        self.stop_timer()
        if self._started and not self._done:
            self._done = True
            self.inner.on_connection_close()

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        # Quietly, as Tornado's idle_connection_timeout: the read of the headers fails and the connection ends.
        self._timer = None
        self._leave_awaiting()
        if isinstance(self.connection, HTTP1Connection):
            self.connection.close()

    def _leave_awaiting(self) -> None:
        """Off the guard's map of requests whose headers are awaited (if on it)."""
        if self._awaiting is not None:
            del self._awaiting[self._stream]
            self._awaiting = None

    def _body_late(self) -> None:
        self._timer = None
        if isinstance(self.connection, HTTP1Connection) and self.connection.stream is not None:
            log.info("timeout reading the body from %s", self.connection.context)
            # What Tornado's body_timeout does: the read fails, the app is told the connection closed.
            self.connection.stream.close()

    def _allow_body(self, size: int) -> None:
        if isinstance(self.connection, HTTP1Connection):
            self.connection.set_max_body_size(size)

    def _answer(self, error: LoginError) -> None:
        """Our JSON error with our headers, then the connection closes (Tornado closes it: the body is unread)."""
        self._done = True
        start, headers, body = error_answer(error)
        head = self._start_line is not None and self._start_line.method == "HEAD"
        path = self._start_line.path.partition("?")[0][:200] if self._start_line else ""
        method = self._start_line.method if self._start_line else ""
        log.info("%d %s for %s %s", error.status_code, error.error, method, path)
        self.connection.write_headers(start, headers, None if head else body)
        self.connection.finish()


__all__ = ["AnswerGuard"]
