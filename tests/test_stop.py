"""A stop always ends: a stuck Redis cannot hold it past --stop-timeout, and a second signal ends it at once."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from tornado.httpclient import AsyncHTTPClient

from tests.procs import Process, RedisServer, listening_port, run_main
from tests.service import Client

#: the stop deadline these tests set (production's default is 20 s)
STOP_TIMEOUT = 3.0
#: parked waits at the stop
PARKED = 20


class Service(Client):
    def __init__(self, process: Process) -> None:
        self.process = process
        self.port = listening_port(process)
        self.http = AsyncHTTPClient(force_instance=True, max_clients=100)


async def parked_service(redis: RedisServer, *options: str) -> tuple[Service, list[asyncio.Future[object]]]:
    process = run_main(f"--redis-url={redis.url}", "--wait-timeout=60", "--rate-limit=off", *options)
    service = Service(process)
    sessions = [await service.new_session() for _ in range(PARKED)]
    waits: list[asyncio.Future[object]] = [
        asyncio.ensure_future(service.wait(session["cursor"], timeout=60)) for session in sessions
    ]
    deadline = time.monotonic() + 10
    while await service.metric("qrlogin_waiters_parked") != PARKED:
        assert time.monotonic() < deadline, "the waits never parked"
    return service, waits


async def test_a_stop_with_redis_stuck_ends_at_the_deadline_naming_what_it_waited_for(
    own_redis: RedisServer,
) -> None:
    service, waits = await parked_service(own_redis, f"--stop-timeout={STOP_TIMEOUT:g}")
    try:
        assert own_redis.process is not None
        os.kill(own_redis.process.pid, signal.SIGSTOP)  # Redis hangs: no answer, no reset
        signalled = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(service.process.wait, STOP_TIMEOUT + 10)
        assert time.monotonic() - signalled < STOP_TIMEOUT + 5
        assert code != 0
        cut = service.process.wait_for_line(r"stop did not finish within 3s", 5)
        assert "still waiting for" in cut.string
    finally:
        for wait in waits:
            wait.cancel()
        service.http.close()
        service.process.stop()
        print("\n".join(service.process.lines[-20:]))


async def test_a_second_sigterm_ends_the_stop_at_once(own_redis: RedisServer) -> None:
    service, waits = await parked_service(own_redis, "--stop-timeout=600")
    try:
        assert own_redis.process is not None
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        service.process.send_signal(signal.SIGTERM)
        await service.process.wait_for_line_async(r"shutting down", 10)
        signalled = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(service.process.wait, 10)
        assert time.monotonic() - signalled < 5
        assert code != 0
        cut = service.process.wait_for_line(r"a second SIGTERM: stopping at once", 5)
        assert "still waiting for" in cut.string
    finally:
        for wait in waits:
            wait.cancel()
        service.http.close()
        service.process.stop()
        print("\n".join(service.process.lines[-20:]))
