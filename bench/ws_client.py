"""A lean asyncio WebSocket client for the WebSocket benchmark: handshake, masked frames, pongs, the close.

Only what the benchmark needs (RFC 6455, unfragmented frames, no extensions),
so that parking 10,000 sockets or running a closed loop of logins costs the
client far less CPU than the server it measures.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections import deque
from typing import Any

from bench.http import Connection, HTTPError

HOST = "127.0.0.1"
#: how long a handshake may take
HANDSHAKE_TIMEOUT = 30.0
#: opcodes (RFC 6455 §5.2)
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    """One masked frame (a client must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, length)
    keys = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(length, "big")
    return head + mask + masked


class Socket(asyncio.Protocol):
    """One client socket: the handshake, pongs, the text messages in order, the server's close."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buffer = b""
        self.open: asyncio.Future[None] = loop.create_future()
        #: the server's close code once its close frame came (None: the connection dropped without one)
        self.closed: asyncio.Future[int | None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._messages: deque[bytes] = deque()
        self._next: asyncio.Future[None] | None = None
        #: text messages sent and received
        self.sent = 0
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open.done():
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.open.set_exception(HTTPError(f"handshake refused: {head[:100]!r}"))
                return
            self.open.set_result(None)
            self.buffer = rest
        self._frames()

    def _frames(self) -> None:
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, start = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, start = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < start + length:
                return
            payload, self.buffer = self.buffer[start : start + length], self.buffer[start + length :]
            self._frame(opcode, payload)

    def _frame(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == PING:  # the heartbeat wants its pong
            self.transport.write(frame(PONG, payload))
        elif opcode == TEXT:
            self.received += 1
            self._messages.append(payload)
            if self._next is not None and not self._next.done():
                self._next.set_result(None)
        elif opcode == CLOSE and not self.closed.done():
            # Answer the close; the server then closes the TCP connection (RFC 6455 §7.1.1).
            self.transport.write(frame(CLOSE, payload[:2]))
            self.closed.set_result(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(HTTPError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self._next is not None and not self._next.done():
            self._next.set_exception(HTTPError("closed before the message"))

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(frame(TEXT, text.encode()))
        self.sent += 1

    async def message(self) -> bytes:
        """The next text message (one already received, else the next to come)."""
        if not self._messages:
            if self.closed.done() or self.transport is None or self.transport.is_closing():
                raise HTTPError("closed before the message")
            self._next = self.loop.create_future()
            await self._next
        return self._messages.popleft()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(port: int, first: dict[str, Any]) -> Socket:
    """A socket to ``/ws`` on ``port``, open, its first message sent."""
    loop = asyncio.get_running_loop()
    _, socket = await loop.create_connection(lambda: Socket(loop), HOST, port)
    return await opened(socket, first)


async def upgrade(connection: Connection, first: dict[str, Any]) -> Socket:
    """A socket to ``/ws`` over an open HTTP connection (which it takes over), open, its first message sent."""
    transport = connection.detach()
    socket = Socket(asyncio.get_running_loop())
    transport.set_protocol(socket)
    socket.connection_made(transport)
    return await opened(socket, first)


async def opened(socket: Socket, first: dict[str, Any]) -> Socket:
    await asyncio.wait_for(socket.open, HANDSHAKE_TIMEOUT)
    socket.send(json.dumps(first))
    return socket
