"""Running our Lua scripts: one EVALSHA on a pooled connection, without redis-py's command machinery.

Every script call of the store, the limits and the provider goes through
:class:`Script`.  On one server or a Sentinel-managed master it takes a
connection from the client's pool (ours queues, replaces a connection the
server closed, and its watch bounds a hung Redis), sends ``EVALSHA``, reads
the reply and gives the connection back: redis-py's own connection, packer
and parser, but not its ``execute_command`` (its retry wrapper, which we
configure to retry nothing, its observability hooks, which record nothing
here, and its per-command lookups).  A Cluster keeps redis-py's ``Script``:
slots, redirects and per-node pools are its client's.

Nothing is retried: a retried transition could run twice.  Only ``NOSCRIPT``
(Redis restarted, ``SCRIPT FLUSH``, a failover to a replica without the
script) runs the script again, as ``EVAL`` on the same connection: Redis ran
nothing the first time.  Any failure or cancellation once the command may be
on the wire disconnects the connection before it goes back to the pool, so a
late reply can never be read as the next command's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from redis_map.connection.connect import RedisClient


class Script:
    """A Lua script registered with ``redis``; call it as redis-py's: ``await script(keys=[...], args=[...])``."""

    def __init__(self, redis: RedisClient, source: str) -> None:
        #: the Lua source, sent as EVAL when Redis does not know the script
        self.source = source
        self._pool: aioredis.ConnectionPool | None = None
        self._redis_py: AsyncScript | None = None
        if isinstance(redis, aioredis.Redis) and not redis.single_connection_client:
            self._pool = redis.connection_pool
            encoded = self._pool.get_encoder().encode(source)  # type: ignore[no-untyped-call]
            #: the SHA1 Redis knows the script by (EVALSHA, pipelines)
            self.sha: str = hashlib.sha1(encoded, usedforsecurity=False).hexdigest()
        else:
            # A Cluster (or a client bound to one connection) runs it redis-py's way.
            self._redis_py = AsyncScript(redis, source)
            self.sha = self._redis_py.sha

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        """The script's reply; redis-py's exceptions: ResponseError (an error reply), ConnectionError, TimeoutError."""
        if self._pool is None:
            assert self._redis_py is not None
            return await self._redis_py(keys=keys, args=args)
        numkeys = len(keys)
        connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                return await _ask(connection, ("EVALSHA", self.sha, numkeys, *keys, *args))
            except NoScriptError:
                return await _ask(connection, ("EVAL", self.source, numkeys, *keys, *args))
        finally:
            await self._pool.release(connection)


async def _ask(connection: AbstractConnection, command: tuple[Any, ...]) -> Any:
    """Sends ``command`` on ``connection`` and reads its reply; the connection is dropped unless a reply was read."""
    packed = connection.pack_command(*command)  # a DataError here sends nothing: the connection stays good
    try:
        await connection.send_packed_command(packed)
        return await connection.read_response()
    except ResponseError:
        raise  # an error reply, read whole: the connection is in step
    except BaseException:
        # Cancelled, timed out, broken: a reply may still come, and must not be read as the next command's.
        # (redis-py's send and read disconnect on these too; this keeps it true whatever they do.)
        await connection.disconnect(nowait=True)
        raise
