"""The collector policy (``runtime/collector.py``) and the cyclic garbage a finished request leaves.

Frozen objects are freed by reference counting alone, so a request that ends
in a reference cycle of ours would stay in memory until the backstop: every
kind of finished request is run with the collector off, and what the next
collection finds unreachable must hold nothing of ours.  Requests go over
real sockets to a real instance (HTTP from a thread with plain blocking
sockets, which leaves no garbage of its own; the push transports through the
tests' Tornado clients, whose objects are Tornado's, not ours).
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import sys
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from diagnostics.parked import parked_waiters
from runtime.collector import CHECK_EVERY, Collector
from tests.push_clients import EventStream, closed_with, follow_socket, pushed
from tests.service import Instance

ROOT = Path(__file__).resolve().parent.parent
#: the service's own packages: garbage from these is a cycle to break
OURS = ("auth", "diagnostics", "handlers", "login", "oidc", "redis_map", "runtime")
OUR_DIRS = tuple(str(ROOT / package) + "/" for package in OURS)
#: the app's credential on the tests' auth server
APP = {"Authorization": "Bearer alice-token"}


def is_ours(thing: object) -> bool:
    """An object of one of our classes, or a frame, coroutine or function running our code."""
    if type(thing).__module__.split(".")[0] in OURS:
        return True
    code = getattr(thing, "f_code", None) or getattr(thing, "cr_code", None) or getattr(thing, "__code__", None)
    return code is not None and code.co_filename.startswith(OUR_DIRS)


@contextmanager
def unreachable() -> Iterator[list[object]]:
    """Collects nothing while the block runs; the list then holds what became cyclic garbage meanwhile."""
    found: list[object] = []
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        found += gc.garbage
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()


def exchange(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """One request on a connection of its own, which the server closes once it has answered (and cleaned up)."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = {"Host": "127.0.0.1", "Connection": "close", "Content-Length": str(len(payload)), **(headers or {})}
    lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"{method} {path} HTTP/1.1\r\n{lines}\r\n".encode() + payload)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    content = answer.partition(b"\r\n\r\n")[2]
    return status, (json.loads(content) if content.startswith(b"{") else content)


class Requests:
    """Each kind of finished request, against ``service``."""

    def __init__(self, service: Instance) -> None:
        self.service = service
        self.parked = parked_waiters(service.registry)

    async def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        _, answer = await asyncio.to_thread(exchange, self.service.port, method, path, body, headers)
        return answer

    async def new_session(self) -> dict[str, Any]:
        session: dict[str, Any] = await self.call("POST", "/uuid")
        return session

    async def wait_answered(self) -> None:
        session = await self.new_session()
        wait = asyncio.ensure_future(self.call("POST", "/wait", {"cursor": session["cursor"], "status": 0}))
        assert await self.parked.until(lambda registry: registry.waiters == 1, timeout=10)
        await self.call("POST", "/scan", {"uuid": session["uuid"]}, APP)
        assert (await wait)["status"] == 1

    async def wait_timed_out(self) -> None:
        session = await self.new_session()
        assert (await self.call("POST", "/wait", {"cursor": session["cursor"], "status": 0}))["status"] == 0

    async def client_gone_mid_wait(self) -> None:
        session = await self.new_session()
        body = json.dumps({"cursor": session["cursor"], "status": 0}).encode()
        request = f"POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        conn = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", self.service.port))
        with conn:
            await asyncio.to_thread(conn.sendall, request)
            assert await self.parked.until(lambda registry: registry.waiters == 1, timeout=10)
        assert await self.parked.until(lambda registry: registry.waiters == 0, timeout=10)
        await self.call("GET", "/healthz")  # after the server's callbacks for the closed connection

    async def login(self) -> None:
        session = await self.new_session()
        assert (await self.call("GET", session["qr_svg"])).startswith(b"<svg")
        await self.call("POST", "/scan", {"uuid": session["uuid"]}, APP)
        await self.call("POST", "/confirm", {"uuid": session["uuid"]}, APP)
        answer = await self.call("POST", "/wait", {"cursor": session["cursor"], "status": 1})
        token = await self.call("POST", "/token", {"cursor": session["cursor"], "code": answer["code"]})
        assert "token" in token

    async def errors(self) -> None:
        assert (await self.call("POST", "/wait", {"cursor": "nope"}))["error"]
        assert (await self.call("POST", "/scan", {"uuid": "0" * 32}, APP))["error"]
        assert (await self.call("POST", "/confirm", {"uuid": "0" * 32}))["error"]  # no credential
        await self.call("GET", "/nowhere")

    async def event_stream(self) -> None:
        session = await self.new_session()
        stream = EventStream(self.service.base_url, {"cursor": session["cursor"], "status": 0})
        try:
            assert await self.parked.until(lambda registry: registry.waiters == 1, timeout=10)
            for action, status in (("/scan", 1), ("/confirm", 2)):
                await self.call("POST", action, {"uuid": session["uuid"]}, APP)
                event = await stream.next()
                assert event is not None and event.json()["status"] == status
            await stream.ended()
        finally:
            stream.close()
        assert await self.service.services.connections.drained(timeout=10)

    async def web_socket(self) -> None:
        session = await self.new_session()
        peer = await follow_socket(self.service.base_url, session["cursor"])
        await self.call("POST", "/scan", {"uuid": session["uuid"]}, APP)
        assert (await pushed(peer) or {})["status"] == 1
        await self.call("POST", "/confirm", {"uuid": session["uuid"]}, APP)
        assert (await pushed(peer) or {})["status"] == 2
        await closed_with(peer)
        assert await self.service.services.connections.drained(timeout=10)

    async def web_socket_closed_by_client(self) -> None:
        session = await self.new_session()
        peer = await follow_socket(self.service.base_url, session["cursor"])
        assert await self.parked.until(lambda registry: registry.waiters == 1, timeout=10)
        peer.close()
        assert await self.service.services.connections.drained(timeout=10)


KINDS = [
    "wait_answered",
    "wait_timed_out",
    "client_gone_mid_wait",
    "login",
    "errors",
    "event_stream",
    "web_socket",
    "web_socket_closed_by_client",
]


def described(garbage: list[object]) -> str:
    kinds = Counter(f"{type(thing).__module__}.{type(thing).__qualname__}" for thing in garbage)
    return ", ".join(f"{count} {name}" for name, count in kinds.most_common(12))


@pytest.mark.parametrize("kind", KINDS)
async def test_a_finished_request_leaves_no_cyclic_garbage_of_ours(make_instance: Any, kind: str) -> None:
    service = await make_instance(wait_timeout=0.5)
    run: Callable[[], Awaitable[None]] = getattr(Requests(service), kind)
    # Twice first: one-time work (scripts loaded into Redis, the pool's new connections, lazy imports)
    # leaves garbage of its own that a steady stream of requests does not.
    await run()
    await run()
    with unreachable() as garbage:
        await run()
    ours = [thing for thing in garbage if is_ours(thing)]
    if garbage:  # what libraries leave, if anything: shown with -s
        print(f"\n{kind}: {len(garbage)} unreachable objects: {described(garbage)}", file=sys.stderr)
    assert not ours, f"{kind} left cyclic garbage of ours: {described(ours)}"


class Node:
    """A stand-in for an object of ours caught in a cycle."""

    def __init__(self) -> None:
        self.me = self


def test_the_census_sees_a_cycle_of_ours() -> None:
    with unreachable() as garbage:
        ours = Collector(lambda: 0)
        ours.live = ours.unexplained  # the collector and its own bound method: a cycle
        del ours
    assert any(isinstance(thing, Collector) for thing in garbage) and any(map(is_ours, garbage))


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    live = [0]
    collector = Collector(lambda: live[0], growth=50_000, share=0.0)
    collector.install()
    try:
        yield collector
    finally:
        collector.uninstall()
        gc.unfreeze()


async def test_survivors_of_a_collection_leave_the_generations_the_collector_traverses(collector: Collector) -> None:
    kept = [[index] for index in range(200_000)]  # 200,000 tracked objects that live on, like parked requests
    gc.collect(0)
    assert len(gc.get_objects(generation=2)) < 1_000
    assert gc.get_freeze_count() > len(kept)


async def test_frozen_cyclic_garbage_is_freed_by_the_backstop_and_only_past_its_limit(collector: Collector) -> None:
    leaked = [Node() for _ in range(100_000)]  # cycles
    gc.collect(0)  # now frozen
    alive = weakref.ref(leaked[0])
    del leaked
    gc.collect()
    assert alive() is not None  # frozen cyclic garbage: no collection of the generations frees it
    assert collector.unexplained() > collector.limit
    for _ in range(CHECK_EVERY):
        gc.collect(0)
    await asyncio.sleep(0)  # one loop turn: the backstop was scheduled on the loop
    assert collector.backstops == 1 and alive() is None
    assert collector.last_collected >= 100_000
    # Growth that live connections explain calls for no backstop.
    kept: list[Node] = []
    collector.live = lambda: len(kept)
    collector.per_connection = 10
    kept += (Node() for _ in range(100_000))
    for _ in range(CHECK_EVERY):
        gc.collect(0)
    await asyncio.sleep(0)
    assert collector.backstops == 1
