"""Requests Tornado's HTTP layer used to answer itself (bare 400s, a 500): now our JSON, with our headers.

Those whose framing Tornado cannot read at all: tests/test_http_framing.py.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from tests.raw_http import parse_head
from tests.service import Instance

#: how long an answer may take
BOUND = 10.0


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error(self) -> str | None:
        return (
            json.loads(self.body).get("error")
            if self.headers.get("content-type", "").startswith("application/json")
            else None
        )


async def send(instance: Instance, request: bytes, *, then: bytes = b"") -> Raw:
    """Writes ``request`` (and ``then``) on a new connection; the first answer, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", instance.port)
    try:
        writer.write(request + then)
        data = b""
        async with asyncio.timeout(BOUND):
            while chunk := await reader.read(65536):
                data += chunk
                if _complete(data):
                    break
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return Raw(status, headers, body)


def _complete(data: bytes) -> bool:
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def assert_ours(answer: Raw, status: int, error: str) -> None:
    assert answer.status == status, answer
    assert answer.error == error, answer
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in answer.headers


async def test_a_nul_byte_in_a_static_path_is_a_json_404(service: Instance) -> None:
    answer = await send(service, b"GET /static/login.js%00.png HTTP/1.1\r\nHost: test\r\n\r\n")
    assert_ours(answer, 404, "not_found")


async def test_a_missing_static_file_is_a_json_404(service: Instance) -> None:
    assert_ours(await send(service, b"GET /static/nothing.js HTTP/1.1\r\nHost: test\r\n\r\n"), 404, "not_found")


async def test_static_files_are_still_served(service: Instance) -> None:
    answer = await send(service, b"GET /static/login.js HTTP/1.1\r\nHost: test\r\n\r\n")
    assert answer.status == 200 and answer.body


@pytest.mark.parametrize("host", [b"a b", b"a<b", b"user@example.com", b"a,b"])
async def test_a_host_tornado_refuses_is_our_400(service: Instance, host: bytes) -> None:
    answer = await send(service, b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert_ours(answer, 400, "invalid_request")


async def test_a_bad_host_on_a_post_with_a_body_is_our_400(service: Instance) -> None:
    request = b"POST /uuid HTTP/1.1\r\nHost: a<b\r\nContent-Length: 2\r\n\r\n{}"
    assert_ours(await send(service, request), 400, "invalid_request")


@pytest.mark.parametrize("size", [17 * 1024, 2 * 1024 * 1024])
async def test_a_chunked_body_over_the_limit_is_our_413(service: Instance, size: int) -> None:
    head = b"POST /uuid HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    # One chunk declaring the whole size; the server needs only the first 16 KiB to say no.
    answer = await send(service, head + b"%x\r\n" % size, then=b"a" * (17 * 1024))
    assert_ours(answer, 413, "body_too_large")


async def test_a_chunked_body_within_the_limit_is_read(service: Instance) -> None:
    head = b"POST /uuid HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = await send(service, head + b"2\r\n{}\r\n0\r\n\r\n")
    assert answer.status == 200 and json.loads(answer.body)["state"] == "waiting"


@pytest.mark.parametrize("path", [b"/uuid", b"/", b"/healthz", b"/static/login.js"])
async def test_a_content_length_over_the_limit_is_our_413_on_any_path(service: Instance, path: bytes) -> None:
    request = b"POST " + path + b" HTTP/1.1\r\nHost: test\r\nContent-Length: 2000000\r\n\r\n"
    assert_ours(await send(service, request, then=b"a" * 1024), 413, "body_too_large")


async def test_a_control_character_in_a_header_is_our_400(service: Instance) -> None:
    # Tornado's parser refuses it before any code of ours runs; the stream answers (runtime.framing).
    answer = await send(service, b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Note: a\x01b\r\n\r\n")
    assert_ours(answer, 400, "invalid_request")
