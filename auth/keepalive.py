"""GETs to one URL over kept-alive connections: Tornado's own HTTP/1.1 client connection, its streams reused.

Tornado's ``simple_httpclient`` opens a stream per request and closes it
after the answer; here the stream goes back to a small pool when the answer
allows it, and the next request takes the most recently used one.  Each
request gets its own ``HTTP1Connection`` on the stream, as Tornado's server
does for every request of a kept-alive connection.
"""

from __future__ import annotations

import socket
import ssl
from typing import NamedTuple
from urllib.parse import urlsplit

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.iostream import IOStream, SSLIOStream, StreamClosedError
from tornado.tcpclient import TCPClient


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
    connection.  An idle connection the server closed meanwhile is not used;
    if a reused connection fails before any byte of the answer, the request is
    sent once more on a new connection (only for GET, which is safe to repeat).
    """

    def __init__(self, url: str, *, max_idle: int, max_body: int, ca_file: str | None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._start_line = httputil.RequestStartLine("GET", target, "")
        self._netloc = parts.netloc.rpartition("@")[2]
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            # Verifies the chain against ca_file and the certificate's name against the URL's host (sent as SNI).
            self._tls = ssl.create_default_context(cafile=ca_file)
        self._params = HTTP1ConnectionParameters(max_body_size=max_body)
        self._max_idle = max_idle
        self._idle: list[IOStream] = []
        self._tcp = TCPClient()

    async def get(self, headers: dict[str, str]) -> Answer:
        """The answer's status and body (any status: redirects are not followed)."""
        request = httputil.HTTPHeaders(headers)
        request["Host"] = self._netloc
        stream = self._take_idle()
        if stream is None:
            return await self._exchange(await self._connect(), request, reused=False)
        try:
            return await self._exchange(stream, request, reused=True)
        except _NotAnswered:
            # The server dropped the kept connection (idle timeout, restart) as we sent on it: a new one, once.
            return await self._exchange(await self._connect(), request, reused=False)

    def close(self) -> None:
        """Closes every kept connection."""
        idle, self._idle = self._idle, []
        for stream in idle:
            stream.close()
        self._tcp.close()

    def _take_idle(self) -> IOStream | None:
        while self._idle:
            stream = self._idle.pop()
            if _still_open(stream):
                return stream
            stream.close()
        return None

    async def _connect(self) -> IOStream:
        try:
            stream = await self._tcp.connect(self._host, self._port, ssl_options=self._tls)
        except (OSError, StreamClosedError) as exc:  # ssl.SSLError is an OSError
            raise Unreachable(f"could not connect to {self.origin}: {_why(exc)}") from exc
        stream.set_nodelay(True)
        return stream

    async def _exchange(self, stream: IOStream, request: httputil.HTTPHeaders, *, reused: bool) -> Answer:
        reader = _Reader()
        connection = HTTP1Connection(stream, True, self._params)
        done = False
        try:
            connection.write_headers(self._start_line, request)
            connection.finish()
            complete = await connection.read_response(reader)
            done = True
        except StreamClosedError as exc:
            if reader.code == 0 and _buffered(stream) == 0:
                if reused:
                    raise _NotAnswered() from exc
                raise Unreadable(f"{self.origin} closed the connection without answering: {_why(exc)}") from exc
            raise Unreadable(f"{self.origin} closed the connection in its answer: {_why(exc)}") from exc
        finally:
            if not done:
                stream.close()  # a failure, or cancelled with the answer in flight: never pooled
        if not complete or not reader.finished:
            stream.close()
            limit = self._params.max_body_size
            raise Unreadable(f"{self.origin} sent an answer malformed, cut short or over {limit} bytes")
        if reader.keep_alive and len(self._idle) < self._max_idle and _buffered(stream) == 0 and not stream.closed():
            self._idle.append(stream)
        else:
            stream.close()
        return Answer(reader.code, bytes(reader.body))


class _NotAnswered(Exception):
    """A reused connection failed before any byte of the answer came."""


class _Reader(httputil.HTTPMessageDelegate):
    """Collects one answer and whether its connection may be kept."""

    def __init__(self) -> None:
        self.code = 0
        self.keep_alive = False
        self.finished = False
        self.body = bytearray()

    def headers_received(
        self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.code = start_line.code
        connection = headers.get("Connection", "").lower()
        framed = "Content-Length" in headers or "Transfer-Encoding" in headers  # else it ends with the connection
        if start_line.version == "HTTP/1.1":
            self.keep_alive = connection != "close" and framed
        else:  # HTTP/1.0 keeps the connection only when asked to
            self.keep_alive = connection == "keep-alive" and framed

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk

    def finish(self) -> None:
        self.finished = True


def _still_open(stream: IOStream) -> bool:
    """Whether an idle stream's server has neither closed it nor sent anything since its last answer."""
    sock = stream.socket
    if stream.closed() or sock is None or _buffered(stream):
        return False
    if isinstance(stream, SSLIOStream) and isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    try:
        # The raw socket (for TLS too: a close_notify alert is unexpected bytes as well).
        peeked = socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return not peeked  # b"": the server closed it; any byte: nothing we asked for


def _buffered(stream: IOStream) -> int:
    # Bytes read off the socket but not consumed: after an answer they are junk, and they are part of an answer.
    return int(stream._read_buffer_size)


def _why(exc: BaseException) -> str:
    real = getattr(exc, "real_error", None)
    return f"{type(real or exc).__name__}: {real or exc}"
