"""Auth checks reuse their connections only while that is safe, and fail as the auth server's failure otherwise.

The auth server here is a raw HTTP/1.1 server on a loopback socket that sends
scripted bytes, one reply per request read, so each test decides exactly
when a connection is closed, what an answer says about keeping it, and how
large it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from auth import UserInfoClient
from auth.keepalive import MAX_HEAD_BYTES, KeptAliveGet
from auth.userinfo import ANSWER_UNREADABLE, MAX_ANSWER_BYTES
from login.errors import AuthTimeout, AuthUnavailable
from tests.conftest import MakeInstance
from tests.test_collector import described, is_ours, unreachable

#: on both loops the service runs on: their transports differ (uvloop's are not asyncio's classes)
pytestmark = pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])

ALICE = b'{"sub": "alice", "name": "Alice"}'
#: a reply that says nothing: the server reads on until the client closes the connection
SILENT = None
#: uvloop's timers count whole milliseconds and may fire up to one early: a deadline is met this close to it
TIMER_SLACK = 0.005


def answer(body: bytes = ALICE, *, head: str = "HTTP/1.1 200 OK", extra: str = "") -> bytes:
    return f"{head}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked(body: bytes, size: int = 4096) -> bytes:
    pieces = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(pieces) + b"0\r\n\r\n"


#: a reply: the bytes sent for a request, and whether the server then closes the connection
Reply = tuple[bytes, bool]
#: connection number (0, 1, ...) and request number on it -> the reply, or SILENT
Script = Callable[[int, int], Reply | None]


class ScriptedServer:
    """Counts connections and requests; tells when a connection was closed by the client."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.client_closed = asyncio.Event()
        #: set when the server has read a request it will never answer
        self.silent = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/userinfo"

    async def start(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number, self.connections = self.connections, self.connections + 1
        try:
            for request in range(1_000):
                try:
                    self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                except asyncio.IncompleteReadError:
                    self.client_closed.set()
                    return
                reply = self.script(number, request)
                if reply is SILENT:
                    self.silent.set()
                    await reader.read()  # until the client closes
                    self.client_closed.set()
                    return
                writer.write(reply[0])
                await writer.drain()
                if reply[1]:
                    return
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


MakeScripted = Callable[[Script], Awaitable[ScriptedServer]]


@pytest.fixture
async def scripted() -> AsyncIterator[MakeScripted]:
    servers: list[ScriptedServer] = []

    async def make(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        servers.append(server)
        return await server.start()

    yield make
    for server in servers:
        await server.stop()


async def checks(url: str, count: int, *, timeout: float = 2.0) -> list[str]:
    client = UserInfoClient(url, timeout=timeout)
    try:
        return [(await client.identify("Bearer alice-token")).sub for _ in range(count)]
    finally:
        client.close()


@pytest.mark.parametrize(
    "reply, connections",
    [
        (answer(), 1),  # kept alive
        (chunked(ALICE, 8), 1),
        (answer(head="HTTP/1.0 200 OK", extra="Connection: keep-alive\r\n"), 1),
        (answer(extra="Connection: close\r\n"), 3),  # the server would keep serving it: the client must not
        (answer(head="HTTP/1.0 200 OK"), 3),
        (answer() + b"HTTP/1.1 200 OK\r\n", 3),  # bytes after the answer: that connection's framing is lost
    ],
    ids=["keep-alive", "chunked", "1.0-keep-alive", "connection-close", "1.0", "bytes-after-answer"],
)
async def test_a_connection_is_kept_only_when_the_answer_allows(
    scripted: MakeScripted, reply: bytes, connections: int
) -> None:
    server = await scripted(lambda conn, req: (reply, False))
    assert await checks(server.url, 3) == ["alice"] * 3
    assert server.connections == connections


async def test_a_connection_the_server_closed_while_idle_is_not_used(scripted: MakeScripted) -> None:
    server = await scripted(lambda conn, req: (answer(), True))  # answers, then closes as on an idle timeout
    assert await checks(server.url, 3) == ["alice"] * 3
    assert (server.connections, len(server.requests)) == (3, 3)


async def test_a_reused_connection_dropped_before_answering_is_retried_once(scripted: MakeScripted) -> None:
    # The first connection answers once, then closes on reading the next request: as a restart racing the send.
    server = await scripted(lambda conn, req: (b"", True) if (conn, req) == (0, 1) else (answer(), False))
    assert await checks(server.url, 3) == ["alice"] * 3
    assert (server.connections, len(server.requests)) == (2, 4)


@pytest.mark.parametrize(
    "cut",
    [b"", b"HTTP/1.1 20", answer()[:-5]],
    ids=["nothing", "part-of-first-line", "part-of-body"],
)
async def test_no_retry_on_a_new_connection_or_after_part_of_an_answer(scripted: MakeScripted, cut: bytes) -> None:
    fresh = await scripted(lambda conn, req: (cut, True))
    with pytest.raises(AuthUnavailable) as failed:
        await checks(fresh.url, 1)
    assert failed.value.message == ANSWER_UNREADABLE and fresh.connections == 1
    if cut:  # on a reused connection too, once any byte of the answer came
        reused = await scripted(lambda conn, req: (cut, True) if req == 1 else (answer(), False))
        with pytest.raises(AuthUnavailable):
            await checks(reused.url, 2)
        assert (reused.connections, len(reused.requests)) == (1, 2)


OVERSIZED = b'{"sub": "alice", "name": "' + b"A" * MAX_ANSWER_BYTES + b'"}'


@pytest.mark.parametrize(
    "reply",
    [
        answer(OVERSIZED),
        chunked(OVERSIZED),
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + OVERSIZED,  # until the connection closes
    ],
    ids=["content-length", "chunked", "until-close"],
)
async def test_an_oversized_answer_is_502_and_changes_nothing(
    make_instance: MakeInstance, scripted: MakeScripted, reply: bytes
) -> None:
    server = await scripted(lambda conn, req: (reply, True))
    service = await make_instance(authenticator=UserInfoClient(server.url, timeout=2))
    session = await service.new_session()
    scan = await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    assert (scan.code, scan.error, scan.body["message"]) == (502, "auth_unavailable", ANSWER_UNREADABLE)
    view = await service.store.read(session["uuid"])
    assert view.status == 0 and view.user is None


async def test_a_silent_server_is_a_timeout_within_the_deadline(
    scripted: MakeScripted, caplog: pytest.LogCaptureFixture
) -> None:
    server = await scripted(lambda conn, req: SILENT)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthTimeout):
        await checks(server.url, 1, timeout=0.3)
    assert 0.3 - TIMER_SLACK <= time.monotonic() - started < 2.0
    assert all("alice-token" not in record.getMessage() for record in caplog.records)  # the credential is never logged


async def test_a_tls_handshake_never_answered_is_a_timeout_within_the_deadline(scripted: MakeScripted) -> None:
    server = await scripted(lambda conn, req: SILENT)  # reads a request's head forever: the ClientHello never ends one
    started = time.monotonic()
    with pytest.raises(AuthTimeout):
        await checks(server.url.replace("http:", "https:"), 1, timeout=0.3)
    assert 0.3 - TIMER_SLACK <= time.monotonic() - started < 2.0


async def test_a_cancelled_check_closes_its_connection(scripted: MakeScripted) -> None:
    server = await scripted(lambda conn, req: SILENT if req == 1 else (answer(), False))
    client = UserInfoClient(server.url)
    try:
        await client.identify("Bearer alice-token")
        check = asyncio.ensure_future(client.identify("Bearer alice-token"))
        await server.silent.wait()  # the request is on the wire, its answer never coming
        check.cancel()
        await server.client_closed.wait()  # the server sees the connection closed, not pooled with its answer due
        assert (await client.identify("Bearer alice-token")).sub == "alice"
        assert server.connections == 2
    finally:
        client.close()


async def test_close_closes_every_kept_connection(scripted: MakeScripted) -> None:
    server = await scripted(lambda conn, req: (answer(), False))
    client = UserInfoClient(server.url)
    await client.identify("Bearer alice-token")
    client.close()
    await asyncio.wait_for(server.client_closed.wait(), 5)
    assert server.connections == 1


async def test_interim_answers_are_skipped_for_the_final_one(scripted: MakeScripted) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    server = await scripted(lambda conn, req: (interim + answer(), False))
    assert await checks(server.url, 3) == ["alice"] * 3
    assert server.connections == 1


async def test_an_answer_framed_by_its_connection_ends_with_it(scripted: MakeScripted) -> None:
    until_close = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + ALICE
    server = await scripted(lambda conn, req: (until_close, True))
    assert await checks(server.url, 3) == ["alice"] * 3
    assert (server.connections, len(server.requests)) == (3, 3)


async def test_an_oversized_head_is_unreadable(scripted: MakeScripted) -> None:
    huge = answer(extra="".join(f"X-Filler-{i}: {'x' * 1000}\r\n" for i in range(MAX_HEAD_BYTES // 1000 + 1)))
    server = await scripted(lambda conn, req: (huge, False))
    with pytest.raises(AuthUnavailable) as failed:
        await checks(server.url, 1)
    assert failed.value.message == ANSWER_UNREADABLE
    smaller = answer(extra="".join(f"X-Filler-{i}: {'x' * 1000}\r\n" for i in range(MAX_HEAD_BYTES // 1000 - 4)))
    fits = await scripted(lambda conn, req: (smaller, False))
    assert await checks(fits.url, 2) == ["alice"] * 2


async def test_a_header_value_with_a_line_break_is_never_sent(scripted: MakeScripted) -> None:
    server = await scripted(lambda conn, req: (answer(), False))
    client = KeptAliveGet(server.url, max_idle=1, max_body=MAX_ANSWER_BYTES, ca_file=None)
    try:
        for value in ("Bearer a\r\nX-Injected: 1", "Bearer a\nb", "Bearer a\0"):
            with pytest.raises(ValueError):
                await client.get({"Authorization": value})
        assert (await client.get({"Authorization": "Bearer a"})).code == 200
    finally:
        client.close()
    assert len(server.requests) == 1 and b"X-Injected" not in server.requests[0]


@pytest.mark.parametrize(
    "reply",
    [(answer(extra="Connection: close\r\n"), False), (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", False), SILENT],
    ids=["connection-close", "malformed", "timed-out"],
)
async def test_a_closed_connection_leaves_no_cyclic_garbage_of_ours(
    scripted: MakeScripted, reply: Reply | None
) -> None:
    # The service freezes what survives a collection (runtime/collector.py): a cycle of ours would stay for good.
    server = await scripted(lambda conn, req: reply)
    client = UserInfoClient(server.url, timeout=0.2)
    try:
        for _ in range(3):  # the first two leave one-time garbage of the libraries' (imports, the loop's set-up)
            with unreachable() as garbage:
                with contextlib.suppress(AuthUnavailable, AuthTimeout):
                    await client.identify("Bearer alice-token")
                await asyncio.wait_for(server.client_closed.wait(), 5)  # the server saw our side close
                server.client_closed.clear()
    finally:
        client.close()
    ours = [thing for thing in garbage if is_ours(thing)]
    assert not ours, f"a check left cyclic garbage of ours: {described(ours)}"
