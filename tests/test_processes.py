"""``python main.py --processes=N``: workers on one port and one Redis, restarted, stopped cleanly, never orphaned."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.supervisor import DEFAULT_STOP_TIMEOUT, MAX_QUICK_FAILURES, ORPHAN_STOP_MARGIN
from tests.pool import Client, login
from tests.procs import STOP_TIMEOUT, Process, RedisServer, find_program, listening_port, run_main
from tests.service import TEST_SECRET

WORKERS = 2
#: logins driven through the workers
LOGINS = 20
#: how long orphaned workers may take to exit: their graceful stop, bounded by the supervisor's deadline
ORPHAN_EXIT_TIMEOUT = DEFAULT_STOP_TIMEOUT + ORPHAN_STOP_MARGIN + 15.0
#: how long a supervisor whose workers keep failing may take to give up (each failure here takes
#: up to the change listener's 10 s subscribe deadline)
GIVE_UP_TIMEOUT = 90.0
#: how often to look again at a worker's mapped files while it starts
POLL_INTERVAL = 0.05


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
    # Each worker, once it says it serves, stops gracefully: none is killed by the signal as it starts.
    assert sum(line.endswith("] stopped") for line in supervisor.lines) == WORKERS, supervisor.tail()
    assert not any(alive(pid) for pid in pids.values())
    assert not socket_path.exists()  # the embedded Redis stopped and its directory is gone


async def test_workers_share_one_signing_key_from_redis() -> None:
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
    assert sum("no signing key yet: created" in line for line in process.lines) == 1


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """Waits on pidfds (no sleeping) until each process has exited; the pids still running at the deadline."""
    until = time.monotonic() + timeout
    running = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # already gone and reaped
        try:
            # A pidfd turns readable when its process exits, zombie or not: the
            # workers are not our children, and whoever adopts them may be slow to reap.
            ready, _, _ = select.select([fd], [], [], max(0.0, until - time.monotonic()))
        finally:
            os.close(fd)
        if not ready:
            running.append(pid)
    return running


def metrics_file(pid: int, timeout: float = STOP_TIMEOUT) -> Path:
    """A metrics file the worker ``pid`` has mapped (once it has built its metrics), in the shared directory."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[5:]
            if path and path[0].endswith(".db") and "/gauge_livesum_" in path[0]:
                return Path(path[0])
        time.sleep(POLL_INTERVAL)  # polling the worker's real state: it gives no event to wait on
    raise AssertionError(f"worker {pid} mapped no metrics file in {timeout}s")


def temp_dirs(kind: str, pid: int) -> list[Path]:
    """The ``qrlogin-<kind>-<pid>-*`` directories in the temp folder: what the process ``pid`` made."""
    return sorted(Path(tempfile.gettempdir()).glob(f"qrlogin-{kind}-{pid}-*"))


def test_killing_the_supervisor_stops_its_workers_and_the_next_start_cleans_up() -> None:
    first = run_main(f"--processes={WORKERS}")
    second: Process | None = None
    try:
        port = listening_port(first)
        pids = worker_pids(first, WORKERS)
        redis_dir = Path(first.wait_for_line(r"embedded Redis at unix://(\S+)").group(1)).parent
        metrics_dir = metrics_file(pids[0]).parent
        left_behind = [redis_dir, metrics_dir]
        assert all(path.is_dir() for path in left_behind)

        os.kill(first.pid, signal.SIGKILL)  # the supervisor only, as the OOM killer would
        first.wait()

        assert wait_until_gone(list(pids.values()), ORPHAN_EXIT_TIMEOUT) == [], first.tail()
        assert all(path.is_dir() for path in left_behind)  # a kill -9 leaves them: the next start's job

        # The same port again: nobody holds it any more.
        second = run_main(f"--processes={WORKERS}", f"--port={port}")
        assert listening_port(second) == port, second.tail()
        assert not any(path.exists() for path in left_behind), second.tail()
        # and its own directories are made, not taken for stale
        assert len(temp_dirs("redis", second.pid)) == 1 and len(temp_dirs("metrics", second.pid)) == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()


def given_up(process: Process) -> list[str]:
    """The supervisor's one line saying it gave up."""
    return [line for line in process.lines if line.startswith("qrlogin: worker ") and "giving up" in line]


def test_a_worker_that_keeps_failing_at_start_is_given_up_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A metrics directory that does not exist: every worker fails as it builds its metrics.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    process = run_main(f"--processes={WORKERS}")
    try:
        status = process.wait(GIVE_UP_TIMEOUT)
    finally:
        process.stop()
    assert status != 0
    assert len(given_up(process)) == 1, process.tail()
    assert given_up(process)[0] == process.lines[-1]  # the last word, after the workers have stopped
    restarts = [line for line in process.lines if "restarting" in line]
    assert len(restarts) <= WORKERS * MAX_QUICK_FAILURES


def test_workers_that_redis_refuses_are_given_up_not_restarted_forever(tmp_path: Path) -> None:
    """Redis answers the start-up check (PING) but refuses the workers' subscription: each fails after ~10 s."""
    binary = find_program("redis-server", (6, 0, 0))
    if binary is None:
        pytest.skip("redis-server >= 6 (ACLs) not installed: apt-get install redis-server")
    redis = RedisServer(binary, tmp_path / "redis", extra=["user default on nopass ~* &* -@all +ping"]).start()
    process = run_main(f"--processes={WORKERS}", f"--redis-url={redis.url}")
    try:
        status = process.wait(GIVE_UP_TIMEOUT)
    finally:
        process.stop()
        redis.stop()
    assert status != 0
    assert len(given_up(process)) == 1, process.tail()
