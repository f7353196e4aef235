"""A Redis connection pool that queues commands past its limit, paying for it only when it must.

redis-py's plain pool raises "Too many connections" once every connection is
busy; its BlockingConnectionPool queues instead, but takes an asyncio
Condition and starts a timer for every command, busy or not: ~40 µs more CPU
a command than the plain pool (measured; a full login makes about ten).  This
pool takes a free connection like the plain one, and only a command that
finds none queues, first come first served.

It also replaces a pooled connection the server has closed before handing it
out.  redis-py checks that itself only with its maintenance notifications off,
and they are on by default ("auto") since redis-py 6: after Redis restarted,
every idle connection failed its next command once ("Connection closed by
server"), so a request was answered 503 although Redis was back.  Commands are
never retried (a retried transition could run twice): the dead connection is
found before anything is sent on it.

Its connections carry no ``socket_timeout`` of their own: the pool keeps it,
and one watch fails a connection in use longer than that, rather than a
timer per command (``redis_map.connection.timely``).  They pack commands with
hiredis (``redis_map.connection.packing``).  A connection is taken and given
back without redis-py 8's observability counters (no collector is ever set up
here) or its "released" event (whose one listener re-authenticates with a
streaming token provider; our password comes from the URL), and a connection
found ready is not checked a second time: ~3.5 against ~10 µs of CPU a trip.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from redis_map.connection.packing import packed
from redis_map.connection.timely import CheckoutWatch


class QueueingConnectionPool(aioredis.ConnectionPool):
    """redis-py's pool, but past ``max_connections`` a command waits up to ``timeout`` for a connection.

    A command that waits too long fails with redis-py's ConnectionError, as
    with the blocking pool.  While any command waits, newcomers queue behind it.
    """

    def __init__(self, *args: Any, timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_class = packed(self.connection_class)  # the same kind of connection, packing in C
        self.timeout = timeout
        limit = self.connection_kwargs.get("socket_timeout")
        #: fails the connections in use longer than ``socket_timeout`` (None: no bound, as redis-py without one)
        self.watch = CheckoutWatch(limit) if limit else None
        if limit:
            self.connection_kwargs["socket_timeout"] = None  # the watch bounds the commands instead
            if self.connection_kwargs.get("socket_connect_timeout") is None:
                self.connection_kwargs["socket_connect_timeout"] = limit  # as redis-py's default is
        #: one future per queued command, set when a released connection is its to take
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        """Commands waiting for a connection now."""
        return len(self._queue)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        # redis-py's, without its observability counters (the metrics collector is never set up here) and so
        # without the awaits they cost on every command.
        if self._queue or not self._has_room():
            await self._wait_turn()
        async with self._lock:
            connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        # Every command's connection comes through here, before it is connected if need be: its time starts.
        if self.watch is not None:
            self.watch.start(connection)
        if connection.is_connected:
            if not await _closed_by_server(connection):
                return  # ready: what redis-py's check below would find too (nothing unread, not closed)
            # Reconnect now, before the command is sent: nothing was sent on it yet.
            await connection.disconnect()
        await super().ensure_connection(connection)

    async def release(self, connection: AbstractConnection) -> None:
        # redis-py's, without its observability counters and its "connection released" event, whose one
        # listener re-authenticates with a streaming token provider's new token: we have none (a URL's password).
        if self.watch is not None:
            self.watch.end(connection)
        try:
            async with self._lock:
                self._in_use_connections.remove(connection)
                if connection.should_reconnect():  # type: ignore[no-untyped-call]
                    await connection.disconnect()
                self._available_connections.append(connection)
        finally:
            self._hand_on()

    def _has_room(self) -> bool:
        return bool(self._available_connections) or len(self._in_use_connections) < self.max_connections

    async def _wait_turn(self) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        proceeding = False
        try:
            async with asyncio.timeout(self.timeout):
                await turn
            proceeding = True
        except TimeoutError as exc:
            raise RedisConnectionError("No connection available.") from exc
        finally:
            # Leave the queue only now: until a woken command has taken its
            # connection, newcomers must not overtake it.
            self._queue.remove(turn)
            if not proceeding and turn.done() and not turn.cancelled():
                self._hand_on()  # woken but leaving (timed out, cancelled): the connection is the next one's

    def _hand_on(self) -> None:
        """Wake the first queued command not yet woken: a connection is free for it."""
        for turn in self._queue:
            if not turn.done():
                turn.set_result(None)
                return


async def _closed_by_server(connection: AbstractConnection) -> bool:
    """The idle ``connection`` can carry no command: the server closed or reset it, or left a reply unread.

    Costs no round trip: the event loop has already read the close (a FIN sets
    EOF, a reset sets the stream's exception) while the connection sat idle.
    """
    stream = getattr(connection, "_reader", None)  # redis-py's asyncio.StreamReader for the socket
    if isinstance(stream, asyncio.StreamReader) and (stream.at_eof() or stream.exception() is not None):
        return True
    try:
        return await connection.can_read()  # bytes no command asked for: not safe to reuse either
    except RedisConnectionError:
        return True
