"""Clients of the push transports for the tests: a WebSocket client, a silent WebSocket peer, an SSE reader.

All real sockets; every wait is bounded and waits on what arrives, never on a clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

#: longest any single step of a test waits for the server
STEP_TIMEOUT = 10.0


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/ws"


async def open_socket(
    base_url: str, *, origin: str | None = None, headers: dict[str, str] | None = None
) -> WebSocketClientConnection:
    """A WebSocket to ``/ws`` (with this ``Origin``, if given); raises HTTPClientError if refused."""
    headers = dict(headers or {})
    if origin is not None:
        headers["Origin"] = origin
    request = HTTPRequest(ws_url(base_url), headers=headers, request_timeout=STEP_TIMEOUT)
    return await websocket_connect(request)


async def follow_socket(
    base_url: str, cursor: str, status: int = 0, *, origin: str | None = None, headers: dict[str, str] | None = None
) -> WebSocketClientConnection:
    """A socket that has sent its first message."""
    socket = await open_socket(base_url, origin=origin, headers=headers)
    await socket.write_message(json.dumps({"cursor": cursor, "status": status}))
    return socket


async def pushed(socket: WebSocketClientConnection, timeout: float = STEP_TIMEOUT) -> dict[str, Any] | None:
    """The next message the server pushed, parsed; None once the server closed the socket."""
    message = await asyncio.wait_for(socket.read_message(), timeout)
    if message is None:
        return None
    assert isinstance(message, str)
    parsed: dict[str, Any] = json.loads(message)
    return parsed


async def closed_with(
    socket: WebSocketClientConnection, timeout: float = STEP_TIMEOUT
) -> tuple[int | None, str | None]:
    """Reads until the server closes; its close code and reason (fails if a message comes first)."""
    message = await pushed(socket, timeout)
    assert message is None, f"expected the close, got {message}"
    return socket.close_code, socket.close_reason


class SilentPeer:
    """A WebSocket client that completes the handshake, sends its first message, then never reads again.

    So it answers no ping: what a PC whose network vanished looks like to the server.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.writer: asyncio.StreamWriter | None = None

    async def start(self, first_message: dict[str, Any]) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.writer.write(self.frame(json.dumps(first_message).encode()))
        await self.writer.drain()

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """One masked text frame (a client must mask), payload under 64 KiB."""
        mask = os.urandom(4)
        length = len(payload)
        head = struct.pack("!BB", 0x81, 0x80 | length) if length < 126 else struct.pack("!BBH", 0x81, 0xFE, length)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()


@dataclass
class Event:
    """One server-sent event, or a comment (``kind == "comment"``)."""

    kind: str
    data: str = ""
    id: str | None = None

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.data)
        return parsed


class EventStream:
    """``POST /events`` read as it streams: parses the text/event-stream into events as they arrive."""

    def __init__(self, base_url: str, body: Any, *, headers: dict[str, str] | None = None) -> None:
        self.http = AsyncHTTPClient(force_instance=True)
        self.events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._buffer = ""
        self.retry: int | None = None
        self.code: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        request = HTTPRequest(
            base_url + "/events",
            method="POST",
            body=json.dumps(body),
            headers={"Content-Type": "application/json", **(headers or {})},
            streaming_callback=self._received,
            header_callback=self._header,
            request_timeout=120,
        )
        self.done = asyncio.ensure_future(self._run(request))

    async def _run(self, request: HTTPRequest) -> None:
        response = await self.http.fetch(request, raise_error=False)
        self.code = response.code
        self.events.put_nowait(None)

    def _header(self, line: str) -> None:
        name, sep, value = line.partition(":")
        if sep:
            self.headers[name.strip().lower()] = value.strip()

    def _received(self, chunk: bytes) -> None:
        self.body += chunk
        self._buffer += chunk.decode()
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            self._parse(block)

    def _parse(self, block: str) -> None:
        event = Event("message")
        data: list[str] = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                self.events.put_nowait(Event("comment", value))
                return
            if field == "retry":
                self.retry = int(value)
            elif field == "event":
                event.kind = value
            elif field == "id":
                event.id = value
            elif field == "data":
                data.append(value)
        if data:
            event.data = "\n".join(data)
            self.events.put_nowait(event)

    async def next(self, *, comments: bool = False, timeout: float = STEP_TIMEOUT) -> Event | None:
        """The next event (comments skipped unless asked for); None once the stream ended."""
        while True:
            event = await asyncio.wait_for(self.events.get(), timeout)
            if event is None or comments or event.kind != "comment":
                return event

    async def ended(self, timeout: float = STEP_TIMEOUT) -> None:
        """Waits for the end of the stream (fails if an event comes first)."""
        event = await self.next(timeout=timeout)
        assert event is None, f"expected the end, got {event}"

    def close(self) -> None:
        self.done.cancel()
        self.http.close()
