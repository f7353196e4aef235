"""A loopback TCP proxy in front of a test's own Redis that can hold back one reply.

``proxy.hold_reply_to(b"EVALSHA")`` makes the next client chunk containing
that word go through to Redis at once (so Redis runs it) while its reply is
kept until ``release()``: what a client sees when Redis, or a proxy on the
way, stalls past its read timeout after the command has already run.
"""

from __future__ import annotations

import asyncio
import contextlib

#: bytes read at once in either direction
CHUNK = 65536


class HoldingProxy:
    """Forwards ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>``; holds one reply on demand."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._word: bytes | None = None
        self._release = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        #: set once a command with the held word went through to Redis
        self.held = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def hold_reply_to(self, word: bytes) -> None:
        """Hold the reply to the next command containing ``word`` until ``release()``."""
        self._word = word
        self._release.clear()
        self.held.clear()

    def release(self) -> None:
        self._release.set()

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        holding = asyncio.Event()  # this connection owes a held reply
        upstream = asyncio.create_task(self._upstream(client_reader, redis_writer, holding))
        downstream = asyncio.create_task(self._downstream(redis_reader, client_writer, holding))
        self._tasks.update((upstream, downstream))
        try:
            await asyncio.wait((upstream, downstream), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (upstream, downstream):
                task.cancel()
                self._tasks.discard(task)
            for writer in (client_writer, redis_writer):
                writer.close()

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, holding: asyncio.Event
    ) -> None:
        while chunk := await reader.read(CHUNK):
            if self._word is not None and self._word in chunk:
                self._word = None
                holding.set()
            writer.write(chunk)
            await writer.drain()
            if holding.is_set():
                self.held.set()

    async def _downstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, holding: asyncio.Event
    ) -> None:
        while chunk := await reader.read(CHUNK):
            if holding.is_set():
                await self._release.wait()
                holding.clear()
            writer.write(chunk)
            await writer.drain()
