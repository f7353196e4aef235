"""The HTTP server an instance serves on: bounds on slow, idle and greedy clients, and our answers to bad requests.

``build_http_server`` is the one way to make it, for ``main.py`` and the tests
alike, so what the tests exercise is what production runs.

- **Timeouts.** An idle keep-alive connection, and one trickling its headers,
  is closed after ``IDLE_TIMEOUT``; a body must arrive within
  ``BODY_TIMEOUT``; a parked ``/wait`` has sent its whole request, and neither
  timer runs then (``runtime.answer_guard`` keeps them).
- **Sizes.** A request head over ``MAX_HEADER_SIZE`` is our JSON ``431
  headers_too_large``; a body over ``MAX_BODY_SIZE`` (the API's limit) is our
  JSON ``413 body_too_large``, chunked or not.
- **Connections per IP.** Past ``--max-connections-per-ip`` open
  connections from one TCP peer, a new one is closed at once.  The peer is
  the TCP address: behind a trusted proxy every connection comes from the
  proxy, so peers in ``--trusted-proxies`` are not counted (the proxy limits
  its clients itself, e.g. nginx's ``limit_conn``).
- **Our answers.** Tornado answers a request it cannot make sense of with a
  bare ``400`` (no body, none of our headers); here every such request gets
  our JSON error and security headers instead (``runtime.answer_guard``,
  ``runtime.framing``), and the connection closes.  (A TLS connection, which
  the service does not serve itself, keeps Tornado's stream and its bare ``400``.)
"""

from __future__ import annotations

import logging
import socket
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from tornado.http1connection import HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerConnectionDelegate
from tornado.iostream import IOStream

from handlers.base import MAX_JSON_BODY
from handlers.middleware.proxy import IPAddress, TrustedProxies, parse_address
from runtime.accept import NoDelayStream, take_over_accepting
from runtime.answer_guard import AnswerGuard
from runtime.framing import AnsweringStream, Unreadable

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


def _peer(address: Any) -> IPAddress | None:
    """The IP of a TCP peer's address tuple (IPv4-mapped IPv6 as IPv4); None for a Unix socket."""
    if not isinstance(address, tuple) or not address:
        return None
    return parse_address(str(address[0]))


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
        peer = _peer(address)
        if peer is not None and self.per_ip and not self.uncounted.trusts(peer):
            ip = str(peer)
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


__all__ = ["ConnectionLimits", "LimitedHTTPServer", "build_http_server"]
