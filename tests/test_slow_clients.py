"""Slow, idle and greedy clients on real sockets: each is cut off, and a parked /wait is not."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from runtime.answer_guard import AnswerGuard
from runtime.http import ConnectionLimits, LimitedHTTPServer
from runtime.server import connection_limits
from runtime.settings import Settings
from tests.conftest import MakeInstance
from tests.service import Instance

#: the short bounds these tests run with (production's are seconds: runtime.http)
SHORT = 0.5
#: how long a cut may take here: the bound plus a loaded machine's slack
CUT_BOUND = 5.0


def short_limits(**overrides: Any) -> ConnectionLimits:
    """Production's limits (as main.py builds them) with short timeouts."""
    return replace(connection_limits(Settings()), **{"idle_timeout": SHORT, "body_timeout": SHORT, **overrides})


async def connect(instance: Instance) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", instance.port)


async def closed_within(reader: asyncio.StreamReader, bound: float = CUT_BOUND) -> bytes:
    """Everything the server sent until it closed the connection; fails if it stays open past ``bound``."""
    received = b""
    async with asyncio.timeout(bound):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


async def healthz(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One keep-alive request on an open connection; the status line."""
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CUT_BOUND)
    lines = head.split(b"\r\n")
    length = int(next(line for line in lines if line.lower().startswith(b"content-length")).split(b":")[1])
    await asyncio.wait_for(reader.readexactly(length), CUT_BOUND)
    return head.split(b"\r\n")[0]


async def refused(instance: Instance) -> bool:
    """Whether a new connection is closed at once without a word (it may be reset before connect returns)."""
    try:
        reader, writer = await connect(instance)
    except ConnectionResetError:
        return True
    try:
        return await closed_within(reader) == b""
    finally:
        writer.close()


@pytest.fixture
async def guarded(make_instance: MakeInstance) -> Instance:
    return await make_instance(limits=short_limits(), wait_timeout=2.0)


async def test_a_connection_that_sends_nothing_is_closed(guarded: Instance) -> None:
    reader, writer = await connect(guarded)
    try:
        assert await closed_within(reader) == b""
    finally:
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_its_answer(guarded: Instance) -> None:
    reader, writer = await connect(guarded)
    try:
        assert await healthz(reader, writer) == b"HTTP/1.1 200 OK"
        assert await closed_within(reader) == b""
    finally:
        writer.close()


async def test_headers_that_never_end_are_cut(guarded: Instance) -> None:
    reader, writer = await connect(guarded)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n")
        started = time.monotonic()
        for index in range(60):  # 60 KB of headers, and never the blank line
            writer.write(b"X-Filler-%d: %s\r\n" % (index, b"a" * 1000))
        with pytest.raises(ConnectionError):  # the server stops reading: it resets, or our writes fail
            await asyncio.wait_for(writer.drain(), CUT_BOUND)
            await closed_within(reader)
            raise ConnectionResetError
        assert time.monotonic() - started < CUT_BOUND
    finally:
        writer.close()


async def test_headers_trickled_are_cut_at_the_idle_timeout(guarded: Instance) -> None:
    reader, writer = await connect(guarded)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n")
        await writer.drain()
        assert await closed_within(reader) == b""
    finally:
        writer.close()


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 16000\r\n\r\n{", b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"],
    ids=["sized", "chunked"],
)
async def test_a_body_that_stops_coming_is_cut(guarded: Instance, framing: bytes) -> None:
    reader, writer = await connect(guarded)
    try:
        writer.write(b"POST /uuid HTTP/1.1\r\nHost: test\r\n" + framing)
        await writer.drain()
        assert await closed_within(reader) == b""
    finally:
        writer.close()


async def test_a_parked_wait_outlives_the_idle_timeout(guarded: Instance) -> None:
    session = await guarded.new_session()
    started = time.monotonic()
    answer = await guarded.wait(session["cursor"], status=0)
    assert answer.code == 200 and answer.body["status"] == 0  # answered at its own wait timeout, not cut
    assert time.monotonic() - started >= 1.5


async def test_connections_past_the_cap_from_one_address_are_refused(make_instance: MakeInstance) -> None:
    instance = await make_instance(limits=short_limits(idle_timeout=30.0, per_ip=3))
    server = instance._server
    assert isinstance(server, LimitedHTTPServer)
    held = [await connect(instance) for _ in range(3)]
    try:
        for reader, writer in held:  # each accepted and served
            assert await healthz(reader, writer) == b"HTTP/1.1 200 OK"
        assert await refused(instance)  # the fourth: reset at once

        held.pop()[1].close()
        deadline = time.monotonic() + CUT_BOUND
        while server.open_per_ip["127.0.0.1"] != 2:  # the server saw it go
            assert time.monotonic() < deadline
            await asyncio.sleep(0)  # the server's loop is ours: let it run
        reader, writer = await connect(instance)
        held.append((reader, writer))
        assert await healthz(reader, writer) == b"HTTP/1.1 200 OK"  # room again
    finally:
        for _, writer in held:
            writer.close()


async def test_a_closed_connection_leaves_no_header_timer(make_instance: MakeInstance) -> None:
    # The guard times each wait for headers itself: a connection that closes while its next request's
    # headers are awaited must take its timer (and the request objects it holds) with it.
    instance = await make_instance(limits=short_limits(idle_timeout=30.0))
    server = instance._server
    assert isinstance(server, LimitedHTTPServer) and server.conn_params.header_timeout is None
    guard = server.request_callback
    assert isinstance(guard, AnswerGuard)
    held = [await connect(instance) for _ in range(3)]
    for reader, writer in held:
        assert await healthz(reader, writer) == b"HTTP/1.1 200 OK"
    deadline = time.monotonic() + CUT_BOUND
    while len(guard.awaiting) != 3:  # each now awaits its next request's headers
        assert time.monotonic() < deadline
        await asyncio.sleep(0)
    waiting = list(guard.awaiting.values())
    for _, writer in held:
        writer.close()
    while server.open_per_ip.get("127.0.0.1"):  # the server saw them go
        assert time.monotonic() < deadline
        await asyncio.sleep(0)
    assert guard.awaiting == {}
    assert all(request._timer is None for request in waiting)
