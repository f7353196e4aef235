"""Our JSON errors where a request cannot be read at all, and how such a connection ends.

Tornado's ``HTTP1Connection`` answers a request whose framing it cannot read (a
request line or header line it cannot parse, a bad ``Content-Length`` or
``Transfer-Encoding``, a malformed chunk) by writing a bare
``HTTP/1.1 400 Bad Request`` (``TORNADO_BARE_400``: no body, none of our
headers) and closing; and a request head over ``max_header_size`` makes its
``IOStream`` close the connection without a word.  Both happen on the stream,
so the stream answers instead (``AnsweringStream``, the server's stream for
plain TCP): Tornado's bytes are replaced by our JSON error, and a head too
large gets a ``431``.  What to say comes from the server's ``AnswerGuard``
(``Unreadable``), which knows whether the request's headers were still awaited.

The framing is lost after such a request, so the connection closes after the
answer (RFC 9112 §9.6): our side first, the client's input then read and
dropped until it closes its side, for at most ``LINGER_TIME`` and
``LINGER_BYTES`` (``linger_close``).  Closing at once with unread input makes
the kernel send a reset, which can destroy the answer before the client reads it.

A good request costs one comparison a write: nothing else here runs for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import Callable
from typing import Any

from tornado.httputil import HTTPHeaders, ResponseStartLine
from tornado.iostream import UnsatisfiableReadError

from handlers.middleware.security import API_CSP, FIXED_HEADERS
from login.errors import BodyTooLarge, InvalidRequest, LoginError
from runtime.accept import NoDelayStream

#: what Tornado's HTTP1Connection writes for a request it cannot read, while handling the HTTPInputError
#: that says why (tornado/http1connection.py, ``_read_message_inner``; tests/test_http_framing.py pins it)
TORNADO_BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"
#: how long a connection stays half-closed after our answer to a request we could not read
LINGER_TIME = 2.0
#: most bytes read from it (and dropped) meanwhile
LINGER_BYTES = 256 * 1024
#: most connections lingering at once; past it, one is closed at once
MAX_LINGERING = 1024

#: what a malformed chunked body is told (a chunk-size line over Tornado's limit of 64 bytes included)
CHUNKED_MALFORMED = "The chunked body is malformed."
#: what a request Tornado could not read is told, by the start of Tornado's reason (tornado.httputil,
#: tornado.http1connection); any other reason is ``MALFORMED``
_REASONS: tuple[tuple[str, str], ...] = (
    ("Malformed HTTP request line", "The request line is malformed."),
    ("Unexpected HTTP version", "The HTTP version is not supported: HTTP/1.1 is."),
    ("no colon in header line", "A header line is malformed."),
    ("header line cannot start with whitespace", "A header line is malformed (folded lines are not allowed)."),
    ("Invalid header name", "A header name is malformed."),
    ("Invalid header value", "A header value holds a character that is not allowed."),
    ("Multiple unequal Content-Lengths", "The Content-Length is invalid."),
    ("Only integer Content-Length", "The Content-Length is invalid."),
    ("Message with both Transfer-Encoding and Content-Length", "Transfer-Encoding and Content-Length are both sent."),
    ("Unsupported Transfer-Encoding", "The Transfer-Encoding is not supported: chunked is."),
    ("invalid chunk size", CHUNKED_MALFORMED),
    ("improperly terminated chunk", CHUNKED_MALFORMED),
    ("Missing Host header", "The Host header is missing."),
    ("Invalid Host header", "The Host header is invalid."),
    ("Multiple host headers", "The Host header is invalid."),
    ("Invalid query string", "The query string is malformed."),
)
#: what any other request Tornado refuses is told
MALFORMED = "The request is malformed."
_STATUS_REASONS = {400: "Bad Request", 413: "Content Too Large", 431: "Request Header Fields Too Large"}


def refusal(reason: str) -> LoginError:
    """Our error for a request Tornado refused with ``reason`` (an ``HTTPInputError``'s text)."""
    if reason.startswith(("Content-Length too long", "chunked body too large")):
        return BodyTooLarge()
    for start, message in _REASONS:
        if reason.startswith(start):
            return InvalidRequest(message)
    return InvalidRequest(MALFORMED)


def error_answer(error: LoginError) -> tuple[ResponseStartLine, HTTPHeaders, bytes]:
    """``error`` as an answer that closes the connection: our JSON, our security headers, not to be stored."""
    status = error.status_code
    body = json.dumps({"status": status, "error": error.error, "message": error.message}, separators=(",", ":"))
    headers = HTTPHeaders(
        {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "Connection": "close",
            "Content-Security-Policy": API_CSP,
            **FIXED_HEADERS,
        }
    )
    return ResponseStartLine("HTTP/1.1", status, _STATUS_REASONS.get(status, "Error")), headers, body.encode()


def wire_answer(error: LoginError) -> bytes:
    """``error_answer(error)`` as the bytes on the wire."""
    start, headers, body = error_answer(error)
    lines = [f"{start.version} {start.code} {start.reason}", *(f"{n}: {v}" for n, v in headers.get_all())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


#: the server's choice of what to tell a connection's unreadable request: the stream, and why it failed
#: (Tornado's HTTPInputError, UnsatisfiableReadError for a read over its limit, None if unknown)
Unreadable = Callable[["AnsweringStream", BaseException | None], LoginError]


class AnsweringStream(NoDelayStream):
    """A ``NoDelayStream`` that answers with our JSON error where Tornado would answer bare or not at all."""

    def __init__(self, sock: socket.socket, unreadable: Unreadable, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.unreadable = unreadable
        #: we answered a request we could not read: the connection ends with a lingering close
        self.answered_unreadable = False

    def write(self, data: bytes | memoryview) -> asyncio.Future[None]:
        if data == TORNADO_BARE_400:
            # Tornado writes it inside its ``except HTTPInputError``: that error says what was wrong.
            data = self._unreadable_answer(sys.exception())
        return NoDelayStream.write(self, data)  # not super(): this runs for every answer

    def close(self, exc_info: Any = False) -> None:
        # A read over its limit (the head's, max_header_size; a chunk-size line's) closes the stream
        # with that error; Tornado then closes without a word.
        if isinstance(exc_info, UnsatisfiableReadError) and not self.closed() and self.socket is not None:
            answer = self._unreadable_answer(exc_info)
            with contextlib.suppress(OSError):  # the peer may be gone; what cannot be sent at once is not sent
                self.socket.send(answer)
        super().close(exc_info)

    def close_fd(self) -> None:
        if self.answered_unreadable and self.socket is not None:
            linger_close(self.socket)
            self.socket = None  # type: ignore[assignment]  # as IOStream.close_fd does
            return
        super().close_fd()

    def _unreadable_answer(self, error: BaseException | None) -> bytes:
        # Nothing if the app answered before the body was read: then the stream is closed already, or
        # that answer is still going out.
        if self.closed() or self.writing():
            return b""
        self.answered_unreadable = True
        return wire_answer(self.unreadable(self, error))


_lingering: set[socket.socket] = set()


def linger_close(sock: socket.socket) -> None:
    """Closes ``sock`` without a reset: our side now, the peer's input read and dropped until it closes its side,
    ``LINGER_BYTES`` or ``LINGER_TIME``.  Closed at once outside an event loop or past ``MAX_LINGERING``."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        sock.close()
        return
    if len(_lingering) >= MAX_LINGERING:
        sock.close()
        return
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:  # already reset by the peer
        sock.close()
        return
    fd = sock.fileno()
    left = LINGER_BYTES

    def done() -> None:
        loop.remove_reader(fd)
        timer.cancel()
        _lingering.discard(sock)
        sock.close()

    def drain() -> None:
        nonlocal left
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        left -= len(data)
        if not data or left <= 0:
            done()

    _lingering.add(sock)
    loop.add_reader(fd, drain)
    timer = loop.call_later(LINGER_TIME, done)


def lingering() -> int:
    """How many connections are lingering now."""
    return len(_lingering)


__all__ = [
    "CHUNKED_MALFORMED",
    "MALFORMED",
    "TORNADO_BARE_400",
    "AnsweringStream",
    "Unreadable",
    "error_answer",
    "linger_close",
    "refusal",
    "wire_answer",
]
