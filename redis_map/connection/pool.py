"""A Redis connection pool that queues commands past its limit, paying for it only when it must.

redis-py's plain pool raises "Too many connections" once every connection is
busy; its BlockingConnectionPool queues instead, but takes an asyncio
Condition and starts a timer for every command, busy or not: ~40 µs more CPU
a command than the plain pool (measured; a full login makes about ten).  This
pool takes a free connection like the plain one, and only a command that
finds none queues, first come first served.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError


class QueueingConnectionPool(aioredis.ConnectionPool):
    """redis-py's pool, but past ``max_connections`` a command waits up to ``timeout`` for a connection.

    A command that waits too long fails with redis-py's ConnectionError, as
    with the blocking pool.  While any command waits, newcomers queue behind it.
    """

    def __init__(self, *args: Any, timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = timeout
        #: one future per queued command, set when a released connection is its to take
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        """Commands waiting for a connection now."""
        return len(self._queue)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._queue or not self._has_room():
            await self._wait_turn()
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def release(self, connection: AbstractConnection) -> None:
        try:
            await super().release(connection)
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
