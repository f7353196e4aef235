"""Shared fixtures: a real Redis, a real auth server, real service instances."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from auth import UserInfoClient
from diagnostics.userinfo_server import AuthServer
from redis_map import EmbeddedRedis, connect
from tests.procs import RedisServer, require_program
from tests.service import Instance

#: the auth timeout the test instances use, short so the slow-server test is quick
TEST_AUTH_TIMEOUT = 1.0


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    """asyncio's own loop for every test; uvloop (the service's default) too for tests that name it.

    A test runs on uvloop as well with ``@pytest.mark.asyncio(loop_factories=["asyncio", "uvloop"])``; without
    uvloop installed, its uvloop case is skipped.
    """
    factories: dict[str, Callable[[], Any]] = {"asyncio": asyncio.new_event_loop}
    marker = item.get_closest_marker("asyncio")
    if marker is not None and "uvloop" in marker.kwargs.get("loop_factories", ()):
        with contextlib.suppress(ImportError):
            factories["uvloop"] = importlib.import_module("uvloop").new_event_loop
    return factories


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``REDIS_URL`` when set, else an embedded redis-server for this test run."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
async def namespace(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (and only they)."""
    name = f"test-{secrets.token_hex(6)}"
    yield name
    client = connect(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def auth_server() -> AsyncIterator[AuthServer]:
    server = AuthServer()
    server.start()
    yield server
    await server.stop()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server on a loopback port of this test's own, with AOF: it may be killed, restarted or stalled."""
    binary = require_program("redis-server", "redis-server", (6, 0, 0))
    server = RedisServer(binary, tmp_path / "redis", extra=["appendonly yes", "appendfsync always"])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may pause; resumed and stopped afterwards."""
    server = RedisServer(require_program("redis-server", "redis-server"), tmp_path / "redis").start()
    try:
        yield server
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


MakeInstance = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def make_instance(redis_url: str, namespace: str, auth_server: AuthServer) -> AsyncIterator[MakeInstance]:
    """Builds service instances sharing this test's Redis namespace and auth server."""
    instances: list[Instance] = []
    built: list[UserInfoClient] = []

    async def make(**options: Any) -> Instance:
        authenticator = options.pop("authenticator", None)
        if authenticator is None:
            authenticator = UserInfoClient(auth_server.url, timeout=TEST_AUTH_TIMEOUT)
            built.append(authenticator)
        instance = await Instance(options.pop("redis_url", redis_url), namespace, authenticator, **options).start()
        instances.append(instance)
        return instance

    yield make
    for instance in instances:
        await instance.stop()
    for authenticator in built:
        authenticator.close()


@pytest.fixture
async def service(make_instance: MakeInstance) -> Instance:
    return await make_instance()
