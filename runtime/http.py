"""The HTTP server an instance serves on: bounds on slow, idle and greedy clients, and our answers to bad requests.

``build_http_server`` is the one way to make it, for ``main.py`` and the tests
alike, so what the tests exercise is what production runs.

- **Timeouts.** A connection's wait for the next request's headers is timed
  by one timer (Tornado's ``idle_connection_timeout``, kept by ``AnswerGuard``
  as a plain loop timer: Tornado's ``gen.with_timeout`` around every header
  read costs several times more): from the moment a connection opens, or its
  last answer is sent, to the end of the next request's headers.  So an idle
  keep-alive connection and one trickling its headers are both closed after
  ``IDLE_TIMEOUT``.  A body must arrive within ``BODY_TIMEOUT``.  A parked
  ``/wait`` has sent its whole request and waits for us: neither timer runs then.
- **Sizes.** A request head over ``MAX_HEADER_SIZE`` is our JSON ``431
  headers_too_large``; a body over ``MAX_BODY_SIZE`` (the API's limit) is our
  JSON ``413 body_too_large``, chunked or not.
- **Connections per IP.** Past ``--max-connections-per-ip`` open
  connections from one TCP peer, a new one is closed at once.  The peer is
  the TCP address: behind a trusted proxy every connection comes from the
  proxy, so peers in ``--trusted-proxies`` are not counted (the proxy limits
  its clients itself, e.g. nginx's ``limit_conn``).
- **Our answers.** Tornado answers a request it cannot make sense of with a
  bare ``400`` (no body, none of our headers).  Where Tornado hands the
  request to us first (a ``Host`` it refuses, a bad query string, a body over
  the limit), ``AnswerGuard`` answers instead, with our JSON error and security
  headers.  A request Tornado cannot read at all (its request line, a header
  line, its ``Content-Length``, ``Transfer-Encoding`` or chunks; a head over
  the limit) is answered by the connection's stream (``runtime.framing``),
  with what ``AnswerGuard.unreadable`` says: the same JSON and headers.
  Every one of these answers closes the connection.  (A TLS connection, which
  the service does not serve itself, keeps Tornado's stream and its bare ``400``.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from tornado.http1connection import HTTP1Connection, HTTP1ServerConnection
from tornado.httpserver import HTTPServer
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

from handlers.base import MAX_JSON_BODY
from handlers.middleware.proxy import TrustedProxies
from login.errors import BodyTooLarge, HeadersTooLarge, InvalidRequest, LoginError
from runtime.accept import NoDelayStream, take_over_accepting
from runtime.framing import CHUNKED_MALFORMED, AnsweringStream, Unreadable, error_answer, refusal

log = logging.getLogger("qrlogin.http")

#: longest a connection may go without sending the next request's headers in full, from its opening or
#: its last answer: shorter than the long-poll's wait, so idle and trickling clients are gone well
#: before a parked /wait (which has sent its request) answers
IDLE_TIMEOUT = 15.0
#: longest a request's body may take to arrive: the largest we read is 16 KiB
BODY_TIMEOUT = 10.0
#: largest request line and headers: the app's credential (up to 8 KiB) and a browser's usual headers
#: fit with room to spare; nginx's default buffers hold no more
MAX_HEADER_SIZE = 32 * 1024
#: largest body read: the API's limit; nothing else takes a body
MAX_BODY_SIZE = MAX_JSON_BODY
#: default of --max-connections-per-ip: above the parked waits one address may hold (the rate limit's
#: wait_ip, 500), since an office or a carrier's NAT puts many PCs behind one address
MAX_CONNECTIONS_PER_IP = 1000
#: how far a chunked body is read before the guard cuts it: Tornado would refuse the declared size
#: with its bare 400, so the guard reads on (up to this) and answers 413 itself
_CHUNKED_READ_LIMIT = 1 << 62


@dataclass(frozen=True)
class ConnectionLimits:
    """The bounds every connection is held to; the tests shorten the timeouts."""

    idle_timeout: float = IDLE_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_header_size: int = MAX_HEADER_SIZE
    max_body_size: int = MAX_BODY_SIZE
    #: most open connections from one TCP peer; 0: no cap
    per_ip: int = MAX_CONNECTIONS_PER_IP
    #: peers whose connections are not counted: the trusted proxies, which carry many clients each
    uncounted: TrustedProxies = field(default_factory=TrustedProxies)


def build_http_server(delegate: HTTPServerConnectionDelegate, limits: ConnectionLimits) -> HTTPServer:
    """The HTTP server for ``delegate`` (the app, or the app behind the trusted proxies), held to ``limits``."""
    server = LimitedHTTPServer(
        AnswerGuard(delegate, limits.max_body_size, limits.body_timeout, limits.idle_timeout),
        max_header_size=limits.max_header_size,
        max_body_size=limits.max_body_size,
        per_ip=limits.per_ip,
        uncounted=limits.uncounted,
    )
    # The guard times the wait for headers; Tornado would wrap every header read in gen.with_timeout
    # (with an hour's timeout even when none is given).
    server.conn_params.header_timeout = None
    return server


def _peer(address: Any) -> str | None:
    """The IP of a TCP peer's address tuple (IPv4-mapped IPv6 as IPv4); None for a Unix socket."""
    if not isinstance(address, tuple) or not address:
        return None
    try:
        ip = ipaddress.ip_address(address[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


class LimitedHTTPServer(HTTPServer):
    """Tornado's HTTPServer that closes a connection at once past ``per_ip`` open ones from its peer."""

    def initialize(self, *args: Any, per_ip: int = 0, uncounted: TrustedProxies | None = None, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.per_ip = per_ip
        self.uncounted = uncounted or TrustedProxies()
        #: open connections per counted peer
        self.open_per_ip: Counter[str] = Counter()
        self._peer_of: dict[IOStream, str] = {}
        self._refusing: set[str] = set()
        guard = self.request_callback
        #: what an AnsweringStream asks when a request cannot be read (None: plain NoDelayStreams); bound once,
        #: not per accepted connection
        self._unreadable: Unreadable | None = guard.unreadable if isinstance(guard, AnswerGuard) else None
        self._stream_sizes = dict(max_buffer_size=self.max_buffer_size, read_chunk_size=self.read_chunk_size)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        sockets = list(sockets)
        super().add_sockets(sockets)
        take_over_accepting(sockets, self._accepted)

    def _accepted(self, connection: socket.socket, address: Any) -> None:
        """An accepted connection: for plain TCP a ``NoDelayStream``, one that answers what Tornado cannot read
        when an ``AnswerGuard`` serves it; Tornado's own set-up for TLS."""
        if self.ssl_options is not None:
            self._handle_connection(connection, address)
            return
        if self._unreadable is not None:
            stream: IOStream = AnsweringStream(connection, self._unreadable, **self._stream_sizes)
        else:
            stream = NoDelayStream(connection, **self._stream_sizes)
        self.handle_stream(stream, address)

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        ip = _peer(address)
        if ip is not None and self.per_ip and not self.uncounted.trusts(ipaddress.ip_address(ip)):
            if self.open_per_ip[ip] >= self.per_ip:
                if ip not in self._refusing:  # one line per burst, not per connection
                    self._refusing.add(ip)
                    log.warning("%s has %d connections open; refusing more", ip, self.per_ip)
                self._close_at_once(stream)
                return
            self.open_per_ip[ip] += 1
            self._peer_of[stream] = ip
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        if isinstance(self.request_callback, HTTPServerConnectionDelegate):
            self.request_callback.on_close(server_conn)  # Tornado's HTTPServer does not pass it on
        ip = self._peer_of.pop(cast(HTTP1ServerConnection, server_conn).stream, None)
        if ip is not None:
            self.open_per_ip[ip] -= 1
            if self.open_per_ip[ip] <= 0:
                del self.open_per_ip[ip]
            if self.open_per_ip[ip] < self.per_ip:
                self._refusing.discard(ip)

    @staticmethod
    def _close_at_once(stream: IOStream) -> None:
        # A reset, not a FIN: the refused client learns at once and we keep no TIME_WAIT.
        sock = stream.socket
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stream.close()


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
            del self._awaiting[self._stream]
            self._awaiting = None
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
        if self._awaiting is not None:
            del self._awaiting[self._stream]
            self._awaiting = None
        if isinstance(self.connection, HTTP1Connection):
            self.connection.close()

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
