"""A real 3-master Redis Cluster, started once for the package, and two service instances on it."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from auth import UserInfoClient
from diagnostics.userinfo_server import AuthServer
from tests.conftest import TEST_AUTH_TIMEOUT
from tests.procs import CLUSTER_BUS_OFFSET, RedisServer, free_port, redis_cli, require_program
from tests.service import Instance

#: how long the new cluster may take until every node reports cluster_state:ok
CLUSTER_READY_TIMEOUT = 30.0


class Cluster:
    def __init__(self, masters: list[RedisServer]) -> None:
        self.masters = masters

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.masters[0].port}"

    def cli(self, master: RedisServer, *args: str) -> str:
        return redis_cli(*args, port=master.port)


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binary = require_program("redis-server", "redis-server", (7, 0, 0))
    require_program("redis-cli", "redis-tools", (7, 0, 0))
    directory: Path = tmp_path_factory.mktemp("cluster")
    masters: list[RedisServer] = []
    try:
        for index in range(3):
            server = RedisServer(
                binary,
                directory / str(index),
                port=free_port(below=65536 - CLUSTER_BUS_OFFSET, paired=CLUSTER_BUS_OFFSET),
                extra=["cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 2000"],
            )
            masters.append(server.start())
        addresses = [f"127.0.0.1:{server.port}" for server in masters]
        redis_cli("--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes", port=masters[0].port)
        deadline = time.monotonic() + CLUSTER_READY_TIMEOUT
        # The nodes agree on the slots by gossip: no event to wait on, so ask until they do.
        while not all("cluster_state:ok" in redis_cli("cluster", "info", port=m.port) for m in masters):
            assert time.monotonic() < deadline, "the cluster did not become ready"
            time.sleep(0.1)
        yield Cluster(masters)
    finally:
        for server in masters:
            server.stop()


@pytest.fixture
async def cluster_instances(cluster: Cluster, auth_server: AuthServer) -> AsyncIterator[list[Instance]]:
    namespace = f"test-{secrets.token_hex(6)}"
    instances = []
    for _ in range(2):
        client = UserInfoClient(auth_server.url, timeout=TEST_AUTH_TIMEOUT)
        instances.append(await Instance(cluster.url, namespace, client, wait_timeout=30).start())
    yield instances
    for instance in instances:
        await instance.stop()
