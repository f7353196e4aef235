"""Fuzzing the JSON API with Hypothesis, over real sockets, against a real instance in its own thread.

Random methods, paths, headers, bodies and sizes: never a 500, never a hang,
every error the JSON shape, the service keeps serving, and afterwards no key
in Redis without a TTL.  ``QRLOGIN_FUZZ_EXAMPLES`` sets how many requests (300).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth import UserInfoClient
from diagnostics.userinfo_server import AuthServer
from redis_map.keys import KeySpace
from redis_map.limit_rules import Rate, RateLimits
from tests.service import Instance

#: how many random requests one run sends
EXAMPLES = int(os.environ.get("QRLOGIN_FUZZ_EXAMPLES", "300"))
#: longest any answer may take (the fuzzed instance's /wait parks 0.5 s, its auth check at most 1 s)
ANSWER_TIMEOUT = 10.0
#: limits high enough that the fuzzer is not merely told 429, with the limiter's Redis code still run
FUZZ_LIMITS = RateLimits(
    uuid_ip=Rate(10**6), action_ip=Rate(10**6), action_user=Rate(10**6), wait_session=10**4, wait_ip=10**4
)
ENDPOINTS = [("POST", p) for p in ("/uuid", "/wait", "/scan", "/confirm", "/cancel", "/token")] + [
    ("GET", p) for p in ("/me", "/healthz", "/readyz", "/metrics")
]
API_PATHS = [path for _method, path in ENDPOINTS]
CREDENTIALS = ["Bearer alice-token", "Bearer bob-token", "Bearer broken", "Bearer not-json", "Bearer no-sub"]
#: headers the fuzzer leaves to http.client, as they frame the request itself
FRAMING = {"content-length", "transfer-encoding", "host", "connection", "expect", "te", "upgrade", "trailer"}


class ThreadedService:
    """An Instance and its auth server on their own event loop in a thread, so the test can block on sockets."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.ready = threading.Event()
        self.instance: Instance | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fuzzed-service", daemon=True)

    def start(self) -> ThreadedService:
        self._thread.start()
        if not self.ready.wait(30) or self.instance is None:
            raise RuntimeError(f"the service did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    @property
    def port(self) -> int:
        assert self.instance is not None
        return self.instance.port

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self.ready.set()

    async def _main(self) -> None:
        auth = AuthServer()
        auth.start()
        self.instance = await Instance(
            self.redis_url,
            self.namespace,
            UserInfoClient(auth.url, timeout=1.0),
            session_ttl=5,
            wait_timeout=0.5,
            code_ttl=5,
            rate_limits=FUZZ_LIMITS,
        ).start()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.ready.set()
        await self._stop.wait()
        await self.instance.stop()
        await auth.stop()


def send(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; its status, headers and body.  A hang fails the test."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def call(port: int, path: str, body: dict[str, Any], user: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {user}"} if user else {}
    status, _headers, raw = send(port, "POST", path, headers, json.dumps(body).encode())
    assert status == 200, raw
    answer: dict[str, Any] = json.loads(raw)
    return answer


@pytest.fixture
def fuzzed(redis_url: str) -> Iterator[ThreadedService]:
    namespace = f"test-fuzz-{secrets.token_hex(4)}"
    service = ThreadedService(redis_url, namespace).start()
    yield service
    service.stop()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def json_values(live: list[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=80),
        st.sampled_from(live),
        st.from_regex(r"\A[0-9a-f]{32}\Z"),
        st.from_regex(r"\A[0-9a-f]{32}\.[A-Za-z0-9_-]{43}\Z"),
        st.from_regex(r"\A[A-Za-z0-9_-]{22}\Z"),
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner))


def bodies(live: list[str]) -> st.SearchStrategy[bytes]:
    keys = st.sampled_from(["uuid", "cursor", "status", "code", "authorization"]) | st.text(max_size=10)
    objects = st.dictionaries(keys, json_values(live), max_size=5).map(lambda o: json.dumps(o).encode())
    return st.one_of(
        objects,
        objects,
        objects,
        json_values(live).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
        st.integers(min_value=0, max_value=40_000).map(lambda n: b'{"uuid": "' + b"a" * n + b'"}'),
        st.just(b"[" * 5000 + b"]" * 5000),
    )


def requests(live: list[str]) -> st.SearchStrategy[tuple[str, str, dict[str, str], bytes]]:
    # Mostly the API's own endpoints, often any method on any path, sometimes anything at all.
    endpoints = st.sampled_from(ENDPOINTS) | st.sampled_from(live).map(lambda c: ("GET", f"/qr/{c[:32]}.svg"))
    methods = st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) | st.from_regex(
        r"\A[A-Z]{1,12}\Z"
    )
    paths = st.one_of(
        st.sampled_from(API_PATHS),
        st.from_regex(r"\A/qr/[0-9a-f]{32}\.(svg|png|gif)\Z"),
        st.from_regex(r"\A/[A-Za-z0-9._~%/?=&-]{0,80}\Z"),
    )
    lines = st.one_of(endpoints, endpoints, endpoints, st.tuples(methods, paths))
    header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,30}\Z").filter(lambda n: n.lower() not in FRAMING)
    header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
    headers = st.dictionaries(header_names, header_values, max_size=6)
    extra = st.fixed_dictionaries(
        {},
        optional={
            "Authorization": st.sampled_from(CREDENTIALS) | header_values,
            "Content-Type": st.sampled_from(["application/json", "text/plain", "multipart/form-data"]),
            "Origin": st.sampled_from(["https://evil.example", "null"]),
            "Access-Control-Request-Method": st.just("POST"),
        },
    )
    return st.tuples(lines, st.tuples(headers, extra).map(lambda h: {**h[0], **h[1]}), bodies(live)).map(
        lambda r: (r[0][0], r[0][1], r[1], r[2])
    )


def test_fuzzed_api_never_fails_hangs_or_leaves_garbage(fuzzed: ThreadedService, redis_url: str) -> None:
    port = fuzzed.port
    # Live sessions, in every state, so random requests also reach real ones.
    live: list[str] = []
    for step in range(4):
        session = call(port, "/uuid", {})
        live += [session["uuid"], session["cursor"]]
        if step >= 1:
            call(port, "/scan", {"uuid": session["uuid"]}, "alice-token")
        if step == 2:
            call(port, "/confirm", {"uuid": session["uuid"]}, "alice-token")
        if step == 3:
            call(port, "/cancel", {"uuid": session["uuid"]}, "alice-token")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests(live))
    def one_request(request: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, body = request
        status, answer_headers, raw = send(port, method, path, headers, body)
        assert status < 500, (status, raw)
        if "content-security-policy" not in answer_headers:
            # Only Tornado's own HTTP parser answers without our headers: a 400 for a request it cannot parse.
            assert status == 400, (status, answer_headers)
            return
        assert answer_headers["x-frame-options"] == "DENY"
        if status >= 400 and method != "HEAD":
            if answer_headers.get("content-type", "").startswith("text/html"):
                # The pages (/ and /s/<uuid>) answer people with an HTML error page.
                assert path.split("?")[0] == "/" or path.startswith("/s/"), (path, status)
                assert b"Traceback" not in raw
                return
            error = json.loads(raw)
            assert set(error) == {"status", "error", "message"} and error["status"] == status

    one_request()

    # Still serving: a whole login.
    session = call(port, "/uuid", {})
    call(port, "/scan", {"uuid": session["uuid"]}, "bob-token")
    call(port, "/confirm", {"uuid": session["uuid"]}, "bob-token")
    code = call(port, "/wait", {"cursor": session["cursor"], "status": 1})["code"]
    assert call(port, "/token", {"cursor": session["cursor"], "code": code})["user"]["sub"] == "bob"

    instance = fuzzed.instance
    assert instance is not None
    assert instance.services.in_flight.count == 0
    assert instance.registry.waiters == 0 and instance.registry.sessions == 0
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{fuzzed.namespace}:*"))
        assert keys
        durable = KeySpace(fuzzed.namespace).durable()  # the provider's keys and clients, kept on purpose
        without_ttl = [key for key in keys if client.pttl(key) == -1 and key.decode() not in durable]
        assert without_ttl == []
    finally:
        client.close()
