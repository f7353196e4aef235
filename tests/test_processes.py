"""``python main.py --processes=N``: workers on one port and one Redis, restarted, stopped cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pool import Client, login
from tests.procs import STOP_TIMEOUT, Process, listening_port, run_main
from tests.service import TEST_SECRET

WORKERS = 2
#: logins driven through the workers
LOGINS = 20


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def supervisor() -> Iterator[Process]:
    """main.py with its own embedded Redis, forking WORKERS workers."""
    process = run_main(f"--processes={WORKERS}", f"--secret={TEST_SECRET}", "--wait-timeout=20")
    yield process
    process.stop()


def worker_pids(process: Process, count: int, start: int = 0) -> dict[int, int]:
    """worker id -> pid, from the next ``count`` "worker N serving" lines."""
    pids = {}
    for _ in range(count):
        match = process.wait_for_line(r"worker (\d+) serving \(pid (\d+)\)", start=start)
        start = process.lines.index(match.string) + 1
        pids[int(match.group(1))] = int(match.group(2))
    return pids


async def test_workers_share_the_port_and_complete_logins_together(supervisor: Process) -> None:
    port = listening_port(supervisor)
    pids = worker_pids(supervisor, WORKERS)
    assert sorted(pids) == list(range(WORKERS)) and supervisor.pid not in pids.values()

    pc, phone = Client(f"http://127.0.0.1:{port}", source_ip="127.0.0.3"), Client(f"http://127.0.0.1:{port}")
    try:
        await asyncio.wait_for(asyncio.gather(*(login(pc, phone, n, "127.0.0.3") for n in range(LOGINS))), timeout=60)
    finally:
        pc.close()
        phone.close()
    assert all(alive(pid) for pid in pids.values())


async def test_a_crashed_worker_is_replaced_and_the_service_goes_on(supervisor: Process) -> None:
    port = listening_port(supervisor)
    pids = worker_pids(supervisor, WORKERS)
    mark = len(supervisor.lines)

    os.kill(pids[0], signal.SIGKILL)

    await supervisor.wait_for_line_async(r"worker 0 \(pid \d+\) died", start=mark)
    replacement = worker_pids(supervisor, 1, start=mark)
    assert replacement[0] != pids[0] and alive(pids[1])
    pc, phone = Client(f"http://127.0.0.1:{port}"), Client(f"http://127.0.0.1:{port}")
    try:
        await asyncio.wait_for(asyncio.gather(*(login(pc, phone, n, "127.0.0.1") for n in range(5))), timeout=60)
    finally:
        pc.close()
        phone.close()


def test_sigterm_to_the_supervisor_stops_workers_and_the_embedded_redis(supervisor: Process) -> None:
    listening_port(supervisor)
    socket_path = Path(supervisor.wait_for_line(r"embedded Redis at unix://(\S+)").group(1))
    pids = worker_pids(supervisor, WORKERS)
    assert socket_path.exists()

    os.kill(supervisor.pid, signal.SIGTERM)  # the supervisor only, as a service manager would

    assert supervisor.wait(STOP_TIMEOUT) == 0, supervisor.tail()
    for worker_id in pids:
        supervisor.wait_for_line(rf"worker {worker_id} \(pid \d+\) exited")
    assert not any(alive(pid) for pid in pids.values())
    assert not socket_path.exists()  # the embedded Redis stopped and its directory is gone


async def test_workers_without_a_secret_share_one_random_signing_key() -> None:
    process = run_main(f"--processes={WORKERS}", "--wait-timeout=20")
    client = Client(f"http://127.0.0.1:{listening_port(process)}")
    try:
        worker_pids(process, WORKERS)
        created = (await client.post("/uuid")).body
        for action in ("/scan", "/confirm"):
            assert (await client.post(action, {"uuid": created["uuid"]}, user="demo:erin")).code == 200
        waited = (await client.post("/wait", {"cursor": created["cursor"], "status": 1})).body
        token = (await client.post("/token", {"cursor": created["cursor"], "code": waited["code"]})).body["token"]
        # Each request on a new connection, taken by whichever worker accepts it first.
        me = {"Authorization": f"Bearer {token}"}
        answers = [await client.request("GET", "/me", headers=me) for _ in range(30)]
    finally:
        client.close()
        process.stop()
    assert {answer.code for answer in answers} == {200}
    assert any("no --secret" in line for line in process.lines)
