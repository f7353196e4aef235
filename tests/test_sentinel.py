"""``redis+sentinel://`` against real redis-server and redis-sentinel processes, across a failover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from redis_map.connection.sentinel import MASTER_CHECK_INTERVAL
from tests.conftest import MakeInstance
from tests.procs import Process, RedisServer, free_port, redis_cli, require_program
from tests.service import Answer, Instance

SERVICE = "qrmaster"
#: most attempts a request may need while the failover settles
MAX_ATTEMPTS = 20
#: longest the sentinel may take, once it reports the replica, to be able to promote it
PROMOTABLE_TIMEOUT = 30.0
#: seconds between looks at the sentinel's view of the replica: it announces no event when
#: its link to the replica comes up or the replica's INFO first arrives
POLL_INTERVAL = 0.05


@dataclass
class SentinelSetup:
    master: RedisServer
    replica: RedisServer
    sentinel: Process
    port: int

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{SERVICE}"


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelSetup]:
    server = require_program("redis-server", "redis-server", (6, 0, 0))
    sentinel_binary = require_program("redis-sentinel", "redis-sentinel", (6, 0, 0))
    require_program("redis-cli", "redis-tools")
    master = RedisServer(server, tmp_path / "master").start()
    replica = RedisServer(server, tmp_path / "replica", extra=[f"replicaof 127.0.0.1 {master.port}"]).start()
    assert replica.process is not None
    replica.process.wait_for_line(r"MASTER <-> REPLICA sync: Finished with success")
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                f"dir {tmp_path}",
                'logfile ""',
                f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 1",
                f"sentinel down-after-milliseconds {SERVICE} 2000",
                f"sentinel failover-timeout {SERVICE} 10000",
            ]
        )
        + "\n"
    )
    process = Process([sentinel_binary, str(config)], name="redis-sentinel")
    try:
        process.wait_for_line(rf"\+monitor master {SERVICE}")
        process.wait_for_line(rf"\+slave slave 127\.0\.0\.1:{replica.port}")
        yield SentinelSetup(master, replica, process, port)
    finally:
        process.stop()
        replica.stop()
        master.stop()


def replica_state(setup: SentinelSetup) -> dict[str, str]:
    """The sentinel's view of the (one) replica: its ``SENTINEL REPLICAS`` fields."""
    lines = redis_cli("sentinel", "replicas", SERVICE, port=setup.port).splitlines()
    return dict(zip(lines[::2], lines[1::2], strict=True))


async def until_promotable(setup: SentinelSetup, deadline: float) -> None:
    """Polls until the sentinel could promote the replica: linked to it and holding its INFO.

    Right after ``+slave`` it knows the replica's address only; until it has
    connected (no ``disconnected`` flag) and read its INFO (``master-link-status``
    is ``err`` until then) it refuses to fail over.
    """
    while True:
        state = replica_state(setup)
        if state.get("flags") == "slave" and state.get("master-link-status") == "ok":
            return
        assert time.monotonic() < deadline, f"the sentinel cannot promote the replica: {state}"
        await asyncio.sleep(POLL_INTERVAL)


async def start_failover(setup: SentinelSetup) -> None:
    """``SENTINEL FAILOVER``, sent until the sentinel accepts it.

    A refusal (``NOGOODSLAVE``) is only a reply text: redis-cli still exits 0.
    """
    deadline = time.monotonic() + PROMOTABLE_TIMEOUT
    while True:
        await until_promotable(setup, deadline)
        reply = redis_cli("sentinel", "failover", SERVICE, port=setup.port).strip()
        if reply == "OK":
            return
        assert reply.startswith("NOGOODSLAVE"), reply
        assert time.monotonic() < deadline, f"the sentinel still refuses to fail over: {reply}"


async def until_served(request: Callable[[], Awaitable[Answer]]) -> Answer:
    """Retries a request that 503s while the failover settles; the client's part of a failover."""
    for _ in range(MAX_ATTEMPTS):
        answer = await request()
        if answer.code != 503:
            return answer
    raise AssertionError("still 503 after the failover")


async def full_login(pc: Instance, phone: Instance) -> None:
    created = await until_served(lambda: pc.post("/uuid"))
    session = created.body
    scanned = await until_served(lambda: phone.post("/scan", {"uuid": session["uuid"]}, user="alice-token"))
    assert scanned.code == 200, scanned.body
    parked = asyncio.ensure_future(pc.wait(session["cursor"], status=1))
    confirmed = await until_served(lambda: phone.post("/confirm", {"uuid": session["uuid"]}, user="alice-token"))
    assert confirmed.code == 200, confirmed.body
    answer = await parked
    if answer.code == 503 or answer.body["status"] != 2:  # parked across the switch: ask again
        answer = await until_served(lambda: pc.wait(session["cursor"], status=1))
    assert answer.body["status"] == 2, answer.body
    token = await until_served(lambda: pc.post("/token", {"cursor": session["cursor"], "code": answer.body["code"]}))
    assert token.code == 200, token.body


async def test_a_sentinel_url_finds_the_master_and_follows_a_failover(
    sentinel: SentinelSetup, make_instance: MakeInstance
) -> None:
    pc = await make_instance(redis_url=sentinel.url, wait_timeout=10)
    phone = await make_instance(redis_url=sentinel.url, wait_timeout=10)
    await full_login(pc, phone)
    assert "role:master" in redis_cli("info", "replication", port=sentinel.master.port)

    mark = len(sentinel.sentinel.lines)
    await start_failover(sentinel)
    await sentinel.sentinel.wait_for_line_async(
        rf"\+switch-master {SERVICE} 127\.0\.0\.1 {sentinel.master.port} 127\.0\.0\.1 {sentinel.replica.port}",
        start=mark,
    )

    # Within MASTER_CHECK_INTERVAL of the switch, both instances write to the promoted replica.
    assert "role:master" in redis_cli("info", "replication", port=sentinel.replica.port)
    deadline = time.monotonic() + MASTER_CHECK_INTERVAL * 5
    for instance in (pc, phone):
        while True:
            session = await until_served(lambda: instance.post("/uuid"))  # noqa: B023 (awaited at once)
            key = instance.store.key(session.body["uuid"])
            if redis_cli("exists", key, port=sentinel.replica.port).strip() == "1":
                break
            assert time.monotonic() < deadline, "still writing to the demoted master"

    # Logins go on, on the new master.
    for _ in range(3):
        await full_login(pc, phone)
