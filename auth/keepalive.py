"""GETs to one URL over kept-alive connections: an asyncio protocol per connection, answers parsed by httptools.

Each connection is an ``asyncio.Protocol`` on the service's loop: a request is
one ``transport.write`` of bytes mostly built once, and the answer is parsed by
httptools (llhttp, Node.js's HTTP parser, in C) as it arrives, with no stream
buffer, read future or message object per request.  A connection goes back to
a small pool when its answer allows it; the next request takes the most
recently used one.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools

#: largest answer head (status line and headers) read, as Tornado's default
MAX_HEAD_BYTES = 64 * 1024

_UNSAFE = re.compile(r"[\r\n\0]")


class Unreachable(Exception):
    """The server could not be reached: no connection (name, TCP, TLS), or the request could not be sent."""


class Unreadable(Exception):
    """The server's answer could not be read: malformed, too large, or cut short."""


class Answer(NamedTuple):
    code: int
    body: bytes


class KeptAliveGet:
    """GETs ``url`` (http or https) with given headers; at most ``max_idle`` connections kept between requests.

    A failure raises Unreachable or Unreadable, whose message names the server
    (for the log).  The caller bounds the time: a cancelled ``get`` closes its
    connection.  An idle connection the server closed or wrote on meanwhile is
    not used; if a reused connection fails before any byte of the answer, the
    request is sent once more on a new connection (only for GET, which is safe
    to repeat).
    """

    def __init__(self, url: str, *, max_idle: int, max_body: int, ca_file: str | None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        netloc = parts.netloc.rpartition("@")[2]
        self.origin = f"{parts.scheme}://{netloc}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._head = f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\n"
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            # Verifies the chain against ca_file and the certificate's name against the URL's host (sent as SNI).
            self._tls = ssl.create_default_context(cafile=ca_file)
        self._max_body = max_body
        self._max_idle = max_idle
        self._idle: list[_Connection] = []

    async def get(self, headers: dict[str, str]) -> Answer:
        """The answer's status and body (any status: redirects are not followed)."""
        request = self._request(headers)
        connection = self._take_idle()
        if connection is None:
            return await self._exchange(await self._connect(), request, reused=False)
        try:
            return await self._exchange(connection, request, reused=True)
        except _NotAnswered:
            # The server dropped the kept connection (idle timeout, restart) as we sent on it: a new one, once.
            return await self._exchange(await self._connect(), request, reused=False)

    def close(self) -> None:
        """Closes every kept connection."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _request(self, headers: dict[str, str]) -> bytes:
        if any(_UNSAFE.search(name) or _UNSAFE.search(value) for name, value in headers.items()):
            raise ValueError("a header name or value holds a line break or NUL")
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"{self._head}{lines}\r\n".encode()

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.idle:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self._max_body), self._host, self._port, ssl=self._tls
            )
        except OSError as exc:  # ssl.SSLError and socket.gaierror are OSErrors
            raise Unreachable(f"could not connect to {self.origin}: {_why(exc)}") from exc
        return connection

    async def _exchange(self, connection: _Connection, request: bytes, *, reused: bool) -> Answer:
        try:
            answer = await connection.send(request)
        except _Cut as cut:
            connection.close()
            if not cut.heard:
                if reused:
                    raise _NotAnswered() from cut
                raise Unreadable(f"{self.origin} closed the connection without answering: {cut}") from cut
            raise Unreadable(f"{self.origin} closed the connection in its answer: {cut}") from cut
        except _Malformed as malformed:
            connection.close()
            raise Unreadable(f"{self.origin} sent an answer {malformed}") from malformed
        except BaseException:
            connection.close()  # cancelled with the answer in flight: never pooled
            raise
        if connection.idle and len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()
        return answer


class _NotAnswered(Exception):
    """A reused connection failed before any byte of the answer came."""


class _Cut(Exception):
    """The connection ended before the answer did; ``heard``: whether any byte of it came."""

    def __init__(self, why: str, *, heard: bool) -> None:
        super().__init__(why)
        self.heard = heard


class _Malformed(Exception):
    """The answer broke HTTP/1.1's syntax or our size limits."""


class _Connection(asyncio.Protocol):
    """One connection: sends a request, parses its answer, and says whether it may carry the next one.

    ``idle`` is true only between a complete answer that allows keeping the
    connection and the next request, while the server has neither closed it
    nor sent anything.
    """

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[Answer] | None = None
        self._code = 0
        self._head_bytes = 0
        self._header_bytes = 0
        self._framed = False
        self._heard = False
        self._headers_done = False
        self._body = bytearray()
        self.idle = False

    def send(self, request: bytes) -> asyncio.Future[Answer]:
        """Writes ``request``; the future gives its answer, or raises _Cut or _Malformed."""
        assert self._transport is not None
        self.idle = self._heard = False
        self._head_bytes = 0
        self._answer = answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return answer

    def close(self) -> None:
        self.idle = False
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance check).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: this connection's framing is lost
            return
        self._heard = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(_Malformed(f"malformed: {exc}"))
            return
        if not self._headers_done:  # every byte fed so far is the head's
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(_Malformed(f"with a head over {MAX_HEAD_BYTES} bytes"))

    def eof_received(self) -> bool:
        self._ended("the server closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.idle = False
        self._ended(_why(exc) if exc else "the connection closed")
        # The parser holds our callbacks and we hold it: a cycle the collector's freezing would keep for good.
        self._parser = None

    # httptools' callbacks, called from feed_data

    def on_message_begin(self) -> None:
        if self._answer is not None and self._answer.done():
            self.idle = False  # a second message after the answer: the connection's framing is lost
        self._code, self._header_bytes, self._framed, self._headers_done = 0, 0, False, False
        self._body.clear()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._code = self._parser.get_status_code()
        if self._header_bytes > MAX_HEAD_BYTES:  # a head that came whole within one read
            self._fail(_Malformed(f"with a head over {MAX_HEAD_BYTES} bytes"))

    def on_body(self, body: bytes) -> None:
        if len(self._body) + len(body) > self._max_body:
            self._fail(_Malformed(f"over {self._max_body} bytes"))
            return
        self._body += body

    def on_message_complete(self) -> None:
        if 100 <= self._code < 200:
            return  # an interim answer (100 Continue, 103 Early Hints): the final one follows
        self._finish(keep=self._parser.should_keep_alive())

    # the answer's end

    def _ended(self, why: str) -> None:
        """The connection ended (closed, reset or lost): the answer in flight ends with it, if it may."""
        if self._answer is None or self._answer.done():
            return
        if self._headers_done and not self._framed and self._code >= 200 and self._code not in (204, 304):
            self._finish(keep=False)  # an answer without a length ends with its connection
            return
        self._fail(_Cut(why, heard=self._heard))

    def _finish(self, *, keep: bool) -> None:
        if self._answer is None or self._answer.done():
            return
        self.idle = keep
        self._answer.set_result(Answer(self._code, bytes(self._body)))
        self._body.clear()  # not held by an idle connection

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self.close()


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
