"""Graceful shutdown of a real ``python main.py`` on a real signal."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from diagnostics.userinfo_server import AuthServer
from login.models import Status
from redis_map import SessionStore, connect
from tests.process import ServiceProcess
from tests.service import TEST_SECRET

#: how long the whole stop may take (SHUTDOWN_GRACE is 10 s; this one has nothing slow left)
EXIT_BOUND = 15.0


async def until_parked(service: ServiceProcess, count: int) -> None:
    """Until ``count`` waits are parked, read from the process's own metrics."""
    deadline = time.monotonic() + 10
    while await service.metric("qrlogin_waiters_parked") != count:
        assert time.monotonic() < deadline, "the waits never parked"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_stop_answers_parked_waits_lets_confirms_finish_and_exits_0(
    redis_url: str, namespace: str, auth_server: AuthServer, signum: int
) -> None:
    service = ServiceProcess(
        f"--redis-url={redis_url}",
        f"--namespace={namespace}",
        f"--auth-url={auth_server.url}",
        "--auth-timeout=30",
        "--wait-timeout=60",
        f"--secret={TEST_SECRET}",
    )
    await service.start()
    try:
        session = await service.new_session()
        assert (await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
        parked = asyncio.ensure_future(service.wait(session["cursor"], status=1, timeout=60))
        await until_parked(service, 1)
        confirm = asyncio.ensure_future(service.post("/confirm", {"uuid": session["uuid"]}, user="held-alice"))
        await asyncio.wait_for(auth_server.held.wait(), 10)  # the confirm is in flight, at the auth server

        signalled = time.monotonic()
        service.signal(signum)
        answer = await asyncio.wait_for(parked, 10)
        assert answer.code == 200 and answer.body["status"] == 1  # its current state, at once
        assert time.monotonic() - signalled < 5  # not at the 60 s wait timeout
        assert not confirm.done()

        auth_server.release.set()
        confirmed = await asyncio.wait_for(confirm, 10)
        assert confirmed.code == 200 and confirmed.body["state"] == "confirmed"
        assert await service.exit_code(EXIT_BOUND) == 0
        assert time.monotonic() - signalled < EXIT_BOUND
    finally:
        await service.stop()
        print("\n".join(service.lines))

    assert any("shutting down" in line for line in service.lines)
    assert service.lines[-1].endswith("stopped")
    assert not [line for line in service.lines if "Traceback" in line or line.startswith("[E ")]
    redis = connect(redis_url)
    try:
        view = await SessionStore(redis, namespace=namespace).read(session["uuid"])
    finally:
        await redis.aclose()
    assert view.status is Status.CONFIRMED and view.user is not None and view.user.sub == "alice"
