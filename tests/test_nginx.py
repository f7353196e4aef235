"""Real nginx (deploy/nginx.conf) in front of 3 real ``python main.py`` instances on one Redis."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from tornado.httpclient import HTTPClientError

from handlers.socket import CloseCode
from tests.pool import FORGED, Client, Served, login, start_instances, start_nginx
from tests.procs import Process, require_program
from tests.push_clients import EventStream, closed_with, follow_socket, open_socket, pushed

#: logins driven through the pool
LOGINS = 60
#: how many run at once
CONCURRENCY = 15
#: the instances' long-poll timeout: far longer than a wake-up takes, so a lost wake-up shows
WAIT_TIMEOUT = 20
#: the address the "PC" connects from; the phone uses 127.0.0.1, nginx and the instances too
PC_IP = "127.0.0.2"
#: the instances' heartbeat (WebSocket pings, SSE comments): short, so a test sees one pass through nginx
PING = 1


@dataclass
class Pool:
    instances: list[Served]
    nginx: Process
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[tuple[str, str, str]]:
        """(method, uri, upstream) of every request nginx passed on."""
        lines = (self.directory / "access.log").read_text().splitlines()
        return [(m, u, up) for m, u, _status, up in (line.split(" ", 3) for line in lines)]


@pytest.fixture(scope="module")
def pool(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    nginx_binary = require_program("nginx", "nginx")
    namespace = f"test-{secrets.token_hex(6)}"
    directory = tmp_path_factory.mktemp("nginx")
    instances: list[Served] = []
    nginx: Process | None = None
    try:
        instances = start_instances(
            3,
            redis_url,
            namespace,
            "--trusted-proxies=127.0.0.1",
            f"--wait-timeout={WAIT_TIMEOUT}",
            f"--ping-interval={PING}",
            f"--ping-timeout={PING}",
        )
        nginx, port = start_nginx(nginx_binary, directory, [i.port for i in instances])
        yield Pool(instances, nginx, port, directory)
    finally:
        if nginx is not None:
            nginx.stop()
        for instance in instances:
            instance.process.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_many_logins_through_nginx_land_on_different_instances_and_all_complete(pool: Pool) -> None:
    pc, phone = Client(pool.url, source_ip=PC_IP), Client(pool.url)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def bounded(number: int) -> None:
        async with gate:
            await login(pc, phone, number, PC_IP)

    try:
        await asyncio.wait_for(asyncio.gather(*(bounded(n) for n in range(LOGINS))), timeout=WAIT_TIMEOUT * 4)
    finally:
        pc.close()
        phone.close()

    upstreams = {f"127.0.0.1:{instance.port}" for instance in pool.instances}
    served: dict[tuple[str, int], list[str]] = {}
    for _method, uri, upstream in pool.access_log():
        match = re.fullmatch(r"(/\w+)\?login=(\d+)", uri)
        if match:
            served.setdefault((match.group(1), int(match.group(2))), []).append(upstream)
    assert {u for ups in served.values() for u in ups} == upstreams  # every instance took part
    # The PC's long-poll and the phone's confirm were served by different instances: woken across processes.
    crossed = [n for n in range(LOGINS) if served[("/wait", n)][-1] != served[("/confirm", n)][0]]
    assert len(crossed) >= LOGINS // 4, crossed


async def test_forwarding_headers_are_ignored_from_a_client_that_is_not_a_trusted_proxy(pool: Pool) -> None:
    direct = Client(pool.instances[0].base_url, source_ip=PC_IP)
    phone = Client(pool.instances[1].base_url)
    try:
        created = await direct.post("/uuid", headers=FORGED)
        scanned = await phone.post("/scan", {"uuid": created.body["uuid"]}, user="demo:alice")
        assert scanned.body["requester"]["ip"] == PC_IP
    finally:
        direct.close()
        phone.close()


async def test_answers_through_nginx_name_no_version(pool: Pool) -> None:
    client = Client(pool.url)
    try:
        answer = await client.post("/uuid")
    finally:
        client.close()
    assert answer.code == 200 and answer.headers["Server"] == "nginx"  # server_tokens off; qrlogin sends none


async def holder(pool: Pool, transport: str) -> int:
    """The index of the one instance holding an open socket or stream (asked directly, not through nginx)."""
    held = []
    for index, instance in enumerate(pool.instances):
        client = Client(instance.base_url)
        try:
            held += [index] * int(await client.metric("qrlogin_push_open", transport=transport))
        finally:
            client.close()
    assert len(held) == 1, held
    return held[0]


async def test_a_websocket_through_nginx_is_woken_by_a_confirm_on_another_instance(pool: Pool) -> None:
    pc = Client(pool.url, source_ip=PC_IP)
    try:
        session = (await pc.post("/uuid")).body
        # A browser on the page nginx serves: its Origin is nginx's, which the instance admits.
        socket = await follow_socket(pool.url, session["cursor"], origin=pool.url)
        held_by = await holder(pool, "websocket")
        other = Client(pool.instances[(held_by + 1) % len(pool.instances)].base_url)
        try:
            scan = await other.post("/scan", {"uuid": session["uuid"]}, user="demo:alice")
            assert scan.body["requester"]["ip"] == PC_IP  # nginx passed on the PC's address
            scanned = await pushed(socket)
            assert scanned is not None and scanned["state"] == "scanned"
            assert (await other.post("/confirm", {"uuid": session["uuid"]}, user="demo:alice")).code == 200
        finally:
            other.close()
        confirmed = await pushed(socket)
        assert confirmed is not None and confirmed["status"] == 2 and confirmed["code"]
        assert await closed_with(socket) == (CloseCode.FINAL, "confirmed")
        token = await pc.post("/token", {"cursor": session["cursor"], "code": confirmed["code"]})
        assert token.code == 200 and token.body["user"]["name"] == "alice"
    finally:
        pc.close()


async def test_a_websocket_from_a_foreign_page_is_refused_through_nginx(pool: Pool) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await open_socket(pool.url, origin="https://evil.example")
    assert refused.value.code == 403


async def test_an_event_stream_through_nginx_is_unbuffered_and_woken_across_instances(pool: Pool) -> None:
    pc = Client(pool.url, source_ip=PC_IP)
    stream: EventStream | None = None
    try:
        session = (await pc.post("/uuid")).body
        stream = EventStream(pool.url, {"cursor": session["cursor"], "status": 0})
        # A heartbeat comment arrives on its own: nginx passes each write on as it comes.
        beat = await stream.next(comments=True, timeout=PING * 10)
        assert beat is not None and beat.kind == "comment"
        held_by = await holder(pool, "sse")
        other = Client(pool.instances[(held_by + 1) % len(pool.instances)].base_url)
        try:
            assert (await other.post("/scan", {"uuid": session["uuid"]}, user="demo:bob")).code == 200
            scanned = await stream.next()
            assert scanned is not None and scanned.json()["state"] == "scanned"
            assert (await other.post("/confirm", {"uuid": session["uuid"]}, user="demo:bob")).code == 200
        finally:
            other.close()
        confirmed = await stream.next()
        assert confirmed is not None and confirmed.json()["status"] == 2
        await stream.ended()
    finally:
        if stream is not None:
            stream.close()
        pc.close()
