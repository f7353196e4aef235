"""Accepting connections a few at a time, so a burst of new PCs does not hold the loop.

Tornado's accept handler takes up to 128 connections (its default backlog)
each time the listening socket is readable, and sets each one up (an
``IOStream``, an ``HTTP1ServerConnection``, its first read) in the same
callback: through a burst of thousands of PCs parking at once that one
callback held the loop for 4-6 ms, which every parked waiter feels.  A
connection whose request is already queued is served up to its first real
wait in that same callback (Tornado reads it inline), so the callback's cost
is that of a few requests per connection accepted.  Here a callback accepts
at most ``ACCEPTS_PER_CALLBACK``; the listening socket stays
readable while connections are queued, so the loop calls back at its next
turn, after whatever else was ready.  Accepting fewer at a time also spreads a
burst more evenly over the workers of ``--processes``, which share the socket.

An accepted TCP connection becomes a ``NoDelayStream``: no-delay is set once,
for the connection's life, instead of Tornado's two ``setsockopt`` calls a
request (on as each answer finishes, off again after it).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

from tornado.ioloop import IOLoop
from tornado.iostream import IOStream

#: most connections accepted (and set up) in one loop callback
ACCEPTS_PER_CALLBACK = 4

#: what is done with each accepted connection: ``TCPServer._handle_connection``'s signature
OnConnection = Callable[[socket.socket, Any], None]


AcceptHandler = Callable[[Any, int], None]


def accept_some(sock: socket.socket, on_connection: OnConnection, limit: int = ACCEPTS_PER_CALLBACK) -> AcceptHandler:
    """A loop handler for the listening ``sock``: accepts up to ``limit`` queued connections per call."""

    def accept(fd: Any, events: int) -> None:
        for _ in range(limit):
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return  # the queue is empty
            except ConnectionAbortedError:
                continue  # closed by its peer while queued
            on_connection(connection, address)

    return accept


def take_over_accepting(sockets: list[socket.socket], on_connection: OnConnection) -> None:
    """Replace the loop's handlers of the listening ``sockets`` (Tornado's) with ``accept_some``'s.

    Tornado's own stop (``TCPServer.stop``) still removes them: it removes
    whatever handler the loop has for the socket.
    """
    loop = IOLoop.current()
    for sock in sockets:
        loop.remove_handler(sock)
        loop.add_handler(sock, accept_some(sock, on_connection), IOLoop.READ)


class NoDelayStream(IOStream):
    """An ``IOStream`` whose TCP socket has ``TCP_NODELAY`` on from the start, for good; ``set_nodelay`` does nothing.

    Tornado's ``HTTP1Connection`` turns no-delay on as each answer finishes (to
    push its last bytes out) and back off after it, two system calls a request.
    Nagle's algorithm only ever delays the service's writes (whole answers,
    pushed events), so it stays off, as most servers keep it.
    """

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # A connection already reset by its peer may refuse: its first read or write finds out.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def set_nodelay(self, value: bool) -> None:
        """Nothing: no-delay is on for the stream's life."""
