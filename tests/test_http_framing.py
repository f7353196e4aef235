"""Requests whose framing Tornado cannot read: our JSON error, Connection: close, then the connection ends.

Tornado answers these with a bare ``400`` (or, for a head over the limit, not
at all); ``runtime.framing`` answers instead.  The messages name what was
wrong, so a Tornado upgrade that changes what we rely on (the bytes it writes,
its reasons, how its stream closes on a read over its limit) fails here.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from runtime.framing import CHUNKED_MALFORMED, TORNADO_BARE_400, lingering
from tests.raw_http import parse_head
from tests.service import Instance

#: how long an answer, and then the server's close, may take
BOUND = 10.0


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes
    #: what came after the first answer's body before the server closed
    rest: bytes


async def exchange(port: int, request: bytes, *, first: bytes = b"") -> tuple[Raw, bool]:
    """Sends ``first`` and reads its answer, then ``request``: its answer, and whether the server then closed
    (rather than the read timing out)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(BOUND):
            if first:
                writer.write(first)
                await _read_answer(reader)
            writer.write(request)
            answer = await _read_answer(reader)
            rest = await reader.read()  # to the server's close
        return Raw(*answer, rest=rest), reader.at_eof()
    finally:
        writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


class Bad(NamedTuple):
    request: bytes
    status: int
    error: str
    message: str


POST = b"POST /uuid HTTP/1.1\r\nHost: test\r\n"

BAD: dict[str, Bad] = {
    "request-line": Bad(b"GARBAGE\r\n\r\n", 400, "invalid_request", "The request line is malformed."),
    "http-version": Bad(
        b"GET /healthz HTTP/2.0\r\nHost: test\r\n\r\n",
        400,
        "invalid_request",
        "The HTTP version is not supported: HTTP/1.1 is.",
    ),
    "header-without-colon": Bad(
        b"GET /healthz HTTP/1.1\r\nHost test\r\n\r\n", 400, "invalid_request", "A header line is malformed."
    ),
    "folded-header": Bad(
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Note: a\r\n b\r\n\r\n",
        400,
        "invalid_request",
        "A header line is malformed (folded lines are not allowed).",
    ),
    "control-character": Bad(
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Note: a\x01b\r\n\r\n",
        400,
        "invalid_request",
        "A header value holds a character that is not allowed.",
    ),
    "content-length-not-a-number": Bad(
        POST + b"Content-Length: abc\r\n\r\n{}", 400, "invalid_request", "The Content-Length is invalid."
    ),
    # isdigit() but not a decimal: int() refused it in the guard, a traceback and no answer
    "content-length-superscript": Bad(
        POST + b"Content-Length: \xb2\r\n\r\n{}", 400, "invalid_request", "The Content-Length is invalid."
    ),
    "two-content-lengths": Bad(
        POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
        400,
        "invalid_request",
        "The Content-Length is invalid.",
    ),
    "repeated-content-length-over-the-limit": Bad(
        POST + b"Content-Length: 2000000, 2000000\r\n\r\n", 413, "body_too_large", "The request body is too large."
    ),
    "transfer-encoding-gzip": Bad(
        POST + b"Transfer-Encoding: gzip\r\n\r\n",
        400,
        "invalid_request",
        "The Transfer-Encoding is not supported: chunked is.",
    ),
    "transfer-encoding-and-content-length": Bad(
        POST + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400,
        "invalid_request",
        "Transfer-Encoding and Content-Length are both sent.",
    ),
    "chunk-size-not-hex": Bad(
        POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid_request", CHUNKED_MALFORMED
    ),
    "chunk-not-terminated": Bad(
        POST + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n", 400, "invalid_request", CHUNKED_MALFORMED
    ),
    "chunk-size-line-too-long": Bad(
        POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 100 + b"\r\n", 400, "invalid_request", CHUNKED_MALFORMED
    ),
    "headers-too-large": Bad(
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        431,
        "headers_too_large",
        "The request's headers are too large.",
    ),
    "missing-host": Bad(b"GET /healthz HTTP/1.1\r\n\r\n", 400, "invalid_request", "The Host header is missing."),
}


def assert_closing_json_error(answer: Raw, closed: bool, bad: Bad) -> None:
    assert (answer.status, json.loads(answer.body)) == (
        bad.status,
        {"status": bad.status, "error": bad.error, "message": bad.message},
    ), answer
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["connection"] == "close"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert closed and answer.rest == b""  # the server closed, and said nothing more


@pytest.mark.parametrize("name", BAD)
async def test_an_unreadable_request_gets_a_json_error_and_the_connection_closes(service: Instance, name: str) -> None:
    bad = BAD[name]
    assert_closing_json_error(*await exchange(service.port, bad.request), bad)
    assert (await service.request("GET", "/healthz")).code == 200  # and the server serves on


@pytest.mark.parametrize("name", ["header-without-colon", "content-length-not-a-number", "chunk-size-not-hex"])
async def test_after_a_good_request_on_the_same_connection(service: Instance, name: str) -> None:
    bad = BAD[name]
    good = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    assert_closing_json_error(*await exchange(service.port, bad.request, first=good), bad)


async def test_a_head_far_over_the_limit_is_answered_without_a_reset(service: Instance) -> None:
    # The client is still sending when the server answers: closing at once would reset the connection
    # (and could destroy the answer); the server shuts its side and reads on until the client closes.
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    assert_closing_json_error(*await exchange(service.port, request), BAD["headers-too-large"])
    deadline = time.monotonic() + BOUND
    while lingering():  # once the client has closed, so has the server
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_an_answer_the_app_gave_is_not_followed_by_another(service: Instance) -> None:
    # /admin is answered 404 as soon as its headers are in, before Tornado finds the Content-Length bad.
    request = b"POST /admin HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n"
    answer, closed = await exchange(service.port, request)
    assert answer.status == 404 and json.loads(answer.body)["error"] == "not_found"
    assert closed and answer.rest == b""


class _Hello(RequestHandler):
    def get(self) -> None:
        self.write("hello")


async def test_tornado_still_answers_an_unreadable_request_with_the_bytes_we_replace() -> None:
    # Tornado's own server, alone: if an upgrade changes what it writes, our stream would no longer see it.
    sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)[0]
    server = HTTPServer(Application([("/", _Hello)]))
    server.add_sockets([sock])
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        writer.write(b"GARBAGE\r\n\r\n")
        async with asyncio.timeout(BOUND):
            assert await reader.read() == TORNADO_BARE_400
        writer.close()
    finally:
        server.stop()
        await server.close_all_connections()
