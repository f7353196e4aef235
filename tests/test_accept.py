"""Connections are accepted a few per loop callback, on real sockets: a burst does not hold the loop."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from tornado.web import Application, RequestHandler

from runtime.accept import ACCEPTS_PER_CALLBACK, accept_some
from runtime.answer_guard import AnswerGuard
from runtime.http import ConnectionLimits, build_http_server
from runtime.process import LISTEN_BACKLOG

#: connections opened at once: several callbacks' worth, within the listen backlog
BURST = 5 * ACCEPTS_PER_CALLBACK


#: how long an answer may take here: a loaded machine's slack
ANSWER_BOUND = 5.0
#: an answer of many TCP segments
BIG = 256 * 1024


class Hello(RequestHandler):
    def get(self) -> None:
        self.write("hello")


class Big(RequestHandler):
    def get(self) -> None:
        self.write(b"x" * BIG)


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def test_one_call_accepts_at_most_its_limit_and_stops_at_an_empty_queue() -> None:
    server = listening()
    clients = [socket.create_connection(server.getsockname()) for _ in range(10)]  # queued by the kernel
    accepted: list[socket.socket] = []
    handler = accept_some(server, lambda connection, address: accepted.append(connection), limit=4)
    try:
        counts = []
        for _ in range(4):
            before = len(accepted)
            handler(server, 0)
            counts.append(len(accepted) - before)
        assert counts == [4, 4, 2, 0]
    finally:
        for sock in [*clients, *accepted, server]:
            sock.close()


async def test_a_burst_is_accepted_over_several_loop_turns_and_every_connection_is_served() -> None:
    loop = asyncio.get_running_loop()
    turns = 0
    ticking = True

    def tick() -> None:  # one call per loop iteration: counts the turns
        nonlocal turns
        turns += 1
        if ticking:
            loop.call_soon(tick)

    accepted_at: list[int] = []
    http = build_http_server(Application([("/", Hello)]), ConnectionLimits(per_ip=0))
    handle_stream = http.handle_stream

    def recorded(stream: Any, address: Any) -> None:
        accepted_at.append(turns)
        handle_stream(stream, address)

    http.handle_stream = recorded  # type: ignore[method-assign]
    server = listening()
    address = server.getsockname()
    http.add_sockets([server])
    try:
        # Queued before the loop runs again: all BURST wait in the backlog at once.
        clients = []
        for _ in range(BURST):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(address)
            clients.append(client)
        loop.call_soon(tick)
        streams = [await asyncio.open_connection(sock=client) for client in clients]
        for _, writer in streams:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = [await reader.readuntil(b"hello") for reader, _ in streams]
        assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers)
        per_turn = {turn: accepted_at.count(turn) for turn in accepted_at}
        assert len(accepted_at) == BURST
        assert max(per_turn.values()) <= ACCEPTS_PER_CALLBACK
        assert len(per_turn) >= BURST // ACCEPTS_PER_CALLBACK  # over several turns, not one
        for _, writer in streams:
            writer.close()
    finally:
        ticking = False
        http.stop()
    # Tornado's stop removes our handler with the socket: nothing listens there now.
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1).close()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    """One keep-alive GET's whole body, within ``ANSWER_BOUND``."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    async with asyncio.timeout(ANSWER_BOUND):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        return await reader.readexactly(length)


async def test_an_accepted_connection_keeps_no_delay_between_requests() -> None:
    # Tornado turns TCP_NODELAY on as each answer finishes and off again after it; ours stays on.
    http = build_http_server(Application([("/", Hello), ("/big", Big)]), ConnectionLimits())
    guard = http.request_callback
    assert isinstance(guard, AnswerGuard)
    server = listening()
    http.add_sockets([server])
    try:
        reader, writer = await asyncio.open_connection(sock=socket.create_connection(server.getsockname()))
        for path, body in [("/", b"hello"), ("/big", b"x" * BIG), ("/", b"hello"), ("/big", b"x" * BIG)]:
            assert await _answer(reader, writer, path) == body
            deadline = time.monotonic() + ANSWER_BOUND
            while not guard.awaiting:  # the server is done with the answer and waits for the next request
                assert time.monotonic() < deadline
                await asyncio.sleep(0)  # the server's loop is ours: let it run
            (stream,) = guard.awaiting
            sock = stream.socket
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        writer.close()
    finally:
        http.stop()
