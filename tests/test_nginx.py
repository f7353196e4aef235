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

from tests.pool import FORGED, Client, Served, login, start_instances, start_nginx
from tests.procs import Process, require_program

#: logins driven through the pool
LOGINS = 60
#: how many run at once
CONCURRENCY = 15
#: the instances' long-poll timeout: far longer than a wake-up takes, so a lost wake-up shows
WAIT_TIMEOUT = 20
#: the address the "PC" connects from; the phone uses 127.0.0.1, nginx and the instances too
PC_IP = "127.0.0.2"


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
            3, redis_url, namespace, "--trusted-proxies=127.0.0.1", f"--wait-timeout={WAIT_TIMEOUT}"
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
