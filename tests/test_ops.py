"""/healthz, /readyz and /metrics, including across processes (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from auth import UserInfoClient
from diagnostics.parked import parked_waiters
from diagnostics.userinfo_server import AuthServer
from redis_map import EmbeddedRedis
from tests.conftest import TEST_AUTH_TIMEOUT, MakeInstance
from tests.process import ROOT, ServiceProcess
from tests.service import Instance


async def test_healthz_answers_while_alive(service: Instance) -> None:
    answer = await service.request("GET", "/healthz")
    assert answer.code == 200 and answer.body == {"status": "ok"}


async def test_readyz_needs_redis_pubsub_and_not_stopping(service: Instance) -> None:
    ready = await service.request("GET", "/readyz")
    assert ready.code == 200 and ready.body["checks"] == {"redis": True, "pubsub": True, "accepting": True}

    await service.listener.stop()
    unsubscribed = await service.request("GET", "/readyz")
    assert unsubscribed.code == 503 and unsubscribed.body["checks"]["pubsub"] is False

    service.services.shutdown.begin()
    stopping = await service.request("GET", "/readyz")
    assert stopping.code == 503 and stopping.body["checks"]["accepting"] is False


async def test_readyz_and_metrics_when_redis_is_gone(make_instance: MakeInstance, auth_server: AuthServer) -> None:
    with EmbeddedRedis() as private:  # our own Redis, so we may stop it
        service = await make_instance(
            redis_url=private.url, authenticator=UserInfoClient(auth_server.url, timeout=TEST_AUTH_TIMEOUT)
        )
        private.stop()
        answer = await service.request("GET", "/readyz")
        assert answer.code == 503 and answer.body["checks"]["redis"] is False
        failed = await service.post("/uuid")
        assert failed.code == 503 and failed.error == "storage_unavailable"
        assert await service.metric("qrlogin_redis_errors_total", where="request") == 1


async def test_metrics_follow_a_login(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    assert (await service.post("/scan", {"uuid": session["uuid"]}, user="wrong-token")).code == 401
    parked = asyncio.ensure_future(service.wait(session["cursor"], status=1))
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    assert await service.metric("qrlogin_waiters_parked") == 1
    await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    code = (await parked).body["code"]
    assert (await service.post("/token", {"cursor": session["cursor"], "code": code})).code == 200

    assert await service.metric("qrlogin_waiters_parked") == 0
    for outcome in ("created", "confirmed", "exchanged"):
        assert await service.metric("qrlogin_sessions_total", outcome=outcome) == 1, outcome
    assert await service.metric("qrlogin_wake_latency_seconds_count") == 1
    assert await service.metric("qrlogin_auth_check_seconds_count") == 3
    assert await service.metric("qrlogin_auth_failures_total", reason="invalid_token") == 1
    assert await service.metric("qrlogin_http_requests_total", handler="TokenHandler", code="200") == 1


async def test_metrics_add_up_across_processes(redis_url: str, namespace: str, tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    options = (f"--redis-url={redis_url}", f"--namespace={namespace}")
    processes = [await ServiceProcess(*options, env=env).start() for _ in range(2)]
    try:
        for process in processes:
            assert (await process.post("/uuid")).code == 200
        for process in processes:  # either one answers for both
            assert await process.metric("qrlogin_sessions_total", outcome="created") == 2
    finally:
        for process in processes:
            await process.stop()


def test_prepare_multiprocess_before_forking_sums_the_children() -> None:
    """What ``--processes N`` does: prepare the directory, fork, each child counts, any can report."""
    script = """
import os
from runtime.metrics import Metrics, mark_process_dead, prepare_multiprocess

shared = prepare_multiprocess(2)
children = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        metrics = Metrics()
        metrics.sessions.labels("created").inc(3)
        metrics.waiters.inc()
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
mark_process_dead(children[0])
print(Metrics().exposition().decode())
shared.remove()
print("removed" if not shared.path.exists() else "kept")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert 'qrlogin_sessions_total{outcome="created"} 6.0' in done.stdout
    assert "qrlogin_waiters_parked 1.0" in done.stdout  # the dead child's live gauge is dropped
    assert done.stdout.rstrip().endswith("removed")
