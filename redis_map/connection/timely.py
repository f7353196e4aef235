"""Keeping a hung Redis bounded with one watch per pool rather than timers for every command.

With ``socket_timeout`` set on its connections, redis-py wraps every send in
``asyncio.wait_for`` (on Python 3.11 a Task, a future and a timer per
command) and every read in ``asyncio.timeout`` (a timer).  Our pool's
connections have none; instead a :class:`CheckoutWatch` notes when each
connection is taken from the pool (connecting, sending and reading one
command or pipeline) and, every ``limit / WATCH_TICKS`` seconds while any is
out, fails those out longer than ``limit``: the read in flight raises
redis-py's TimeoutError (a send stuck on a full buffer a ConnectionError),
and the connection is dropped, as redis-py's own timeout does; at most one
tick later than it would.
"""

from __future__ import annotations

import asyncio

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import TimeoutError as RedisTimeoutError

#: checks of the connections in use per ``limit``: a hung command fails at most this share late
WATCH_TICKS = 5


class CheckoutWatch:
    """A pool's connections in use, each failed once it has been out longer than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        #: how long a connection may stay out: the pool's ``socket_timeout``
        self.limit = limit
        self._since: dict[AbstractConnection, float] = {}
        self._tick: asyncio.TimerHandle | None = None

    @property
    def out(self) -> int:
        """Connections in use now."""
        return len(self._since)

    def start(self, connection: AbstractConnection) -> None:
        """``connection`` is taken for a command: its time starts now."""
        loop = asyncio.get_running_loop()
        self._since[connection] = loop.time()
        if self._tick is None:
            self._tick = loop.call_later(self.limit / WATCH_TICKS, self._check)

    def end(self, connection: AbstractConnection) -> None:
        """``connection`` is back (or gone): it is no longer watched."""
        self._since.pop(connection, None)

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        late = loop.time() - self.limit
        for connection, since in list(self._since.items()):
            if since <= late:
                del self._since[connection]
                _fail(connection, self.limit)
        # Ticks stop with the last connection in use, so an idle pool holds no timer.
        self._tick = loop.call_later(self.limit / WATCH_TICKS, self._check) if self._since else None


def _fail(connection: AbstractConnection, limit: float) -> None:
    """Make the command waiting on ``connection`` fail with a timeout, and drop its socket."""
    # redis-py's stream pair for the socket (None until connected, and once disconnected); pinned by
    # tests/test_hung_redis.py, which hangs a real Redis.
    reader = getattr(connection, "_reader", None)
    writer = getattr(connection, "_writer", None)
    if isinstance(reader, asyncio.StreamReader):
        reader.set_exception(RedisTimeoutError(f"Timeout: no answer from Redis within {limit:g}s"))
    if isinstance(writer, asyncio.StreamWriter):
        writer.transport.abort()  # wakes a send waiting for the buffer to drain, too
