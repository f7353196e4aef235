"""A lean HTTP/1.1 keep-alive client over asyncio streams, for the load client.

Only what the benchmark needs: one request at a time per connection, answers
with a Content-Length (Tornado always sends one here).  It costs the client
far less CPU than a general client, so the service, not the client, is what
the figures measure.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

#: longest header block read from an answer
MAX_HEADER_LINE = 64 * 1024
#: Linux's socket option (``<linux/in.h>``; Python 3.11 does not name it): a bound source address
#: whose port is chosen at connect, unique per 4-tuple, not reserved at bind for every destination
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


class HTTPError(Exception):
    """An answer the benchmark did not expect."""


class Connection:
    """One keep-alive connection to ``host:port``, from ``source_address`` if given (a loopback 127.x.y.z).

    Each loopback source address has its own ~28,000 ephemeral ports towards one
    server port: many clients' connections need not share one range.
    """

    def __init__(self, host: str, port: int, source_address: str | None = None) -> None:
        self.host = host
        self.port = port
        self.source_address = source_address
        self._host_header = f"{host}:{port}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._detached: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        if not self.source_address:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEADER_LINE)
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self.source_address, 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        except BaseException:
            sock.close()
            raise
        self._reader, self._writer = await asyncio.open_connection(sock=sock, limit=MAX_HEADER_LINE)
        return self

    def detach(self) -> asyncio.Transport:
        """The open connection's transport, no longer this Connection's (a WebSocket upgrade takes it over)."""
        if self._writer is None:
            raise HTTPError("connection is not open")
        transport = self._writer.transport
        assert isinstance(transport, asyncio.Transport)
        # The writer stays referenced: a StreamWriter garbage-collected closes its transport.
        self._detached, self._writer, self._reader = self._writer, None, None
        return transport

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def send(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Write one request; read its answer with ``answer()``."""
        if self._writer is None:
            raise HTTPError("connection is not open")
        extra = b"".join(f"{name}: {value}\r\n".encode() for name, value in (headers or {}).items())
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            method.encode(),
            path.encode(),
            self._host_header,
            len(body),
            extra,
        )
        self._writer.write(head + body)

    async def answer(self) -> tuple[int, bytes]:
        """The status and body of the answer to the request sent last."""
        if self._reader is None:
            raise HTTPError("connection is not open")
        status_line = await self._reader.readline()
        if not status_line:
            raise HTTPError("connection closed by the server")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        self.send(method, path, body, headers)
        return await self.answer()

    async def call(self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None) -> Any:
        """A JSON request that must answer 200; its parsed body."""
        body = b"" if payload is None else json.dumps(payload).encode()
        status, answer = await self.request(method, path, body, headers)
        if status != 200:
            raise HTTPError(f"{method} {path} -> {status}: {answer[:200]!r}")
        return json.loads(answer) if answer else None
