"""The benchmark hooks in the service: the loop-lag probe, /debug/stats, the fd limit, the QR process."""

from __future__ import annotations

import ast
import asyncio
import gc
import os
import resource
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

import diagnostics
from auth import UserInfoClient
from diagnostics.loopprobe import INTERVAL, LoopLagProbe
from diagnostics.userinfo_server import AuthServer
from handlers import make_app
from runtime.process import raise_fd_limit
from tests.conftest import MakeInstance
from tests.service import Client, Instance

ROOT = Path(__file__).resolve().parent.parent
#: the service's own packages, which must not depend on the diagnostics plug-in
CORE_PACKAGES = ("handlers", "login", "redis_map")

#: how long the test blocks the loop on purpose
STALL = 0.03


def busy_for(seconds: float) -> None:
    """Hold the loop and the CPU, as a slow callback would: ``seconds`` of this thread's CPU time."""
    # The loop thread's own clock, the one the probe times callbacks on: another
    # thread's CPU time must not end the stall early.
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@pytest.fixture
async def probe() -> AsyncIterator[LoopLagProbe]:
    probe = LoopLagProbe()
    probe.start()
    probe.time_callbacks(True)
    yield probe
    probe.stop()


async def run_then_tick(callback: Callable[[float], object]) -> None:
    """Run ``callback(STALL)`` on the loop, then return once the probe's timer has run."""
    loop = asyncio.get_running_loop()
    loop.call_soon(callback, STALL)
    # The probe's timer is due before this one, so it has run once this one has.
    after = loop.create_future()
    loop.call_later(2 * INTERVAL, after.set_result, None)
    await after


async def test_probe_tells_a_process_kept_off_the_cpu_from_a_busy_one(probe: LoopLagProbe) -> None:
    await run_then_tick(time.sleep)  # idle, as if the OS ran another process meanwhile
    assert probe.max_lag >= STALL - INTERVAL
    assert probe.max_busy < STALL / 2 and probe.max_callback < STALL / 2
    assert probe.max_callback_wall >= STALL  # blocked in a system call: the wall-clock figure shows it


async def test_a_jump_of_the_thread_clock_is_not_a_long_callback(
    probe: LoopLagProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some VMs' thread CPU clock jumps by milliseconds between two reads while
    # almost no time passes: the callback's CPU is capped at its wall-clock time.
    jumped = [0.0]
    monkeypatch.setattr(time, "thread_time", lambda thread_time=time.thread_time: thread_time() + jumped[0])
    await run_then_tick(lambda seconds: jumped.__setitem__(0, seconds))
    assert jumped[0] == STALL  # the clock jumped inside the callback...
    assert probe.max_callback < STALL / 2  # ...which still took no time
    assert probe.max_callback <= probe.max_callback_wall


async def test_probe_measures_a_callback_that_blocks_the_loop(probe: LoopLagProbe) -> None:
    await run_then_tick(busy_for)
    assert probe.max_lag >= STALL - INTERVAL
    assert probe.max_busy >= STALL - INTERVAL
    assert probe.max_callback >= STALL and "busy_for" in probe.slowest
    collections = probe.gc_count
    gc.collect()
    assert probe.gc_count > collections and probe.max_gc > 0
    assert probe.stalls >= 1 and probe.ticks >= 1
    probe.reset()
    figures = probe.as_json()
    assert figures.pop("callback_timing") is True  # asyncio's own loop: callbacks can be timed
    assert figures.pop("allocated_blocks") > 0  # the heap as it is, not a figure reset() zeroes
    assert figures.pop("lateness_timing") is True  # a setting, not a figure
    assert set(figures.values()) == {0, ""}
    assert probe.as_json().keys() >= {"callback_max_ms", "callback_wall_max_ms", "gc_max_ms", "loop_lag_max_ms"}


async def test_a_slow_task_step_is_named_down_to_the_coroutine_that_ran_it(probe: LoopLagProbe) -> None:
    # As a handler's step does under Tornado's RequestHandler._execute: the outer coroutine only awaits.
    resumed = asyncio.Event()

    async def handler_step() -> None:
        await resumed.wait()
        busy_for(STALL)
        await asyncio.Event().wait()  # then parks, as a long-poll does

    async def execute() -> None:
        await handler_step()

    task = asyncio.create_task(execute())
    await asyncio.sleep(0)
    resumed.set()
    await run_then_tick(lambda seconds: None)
    task.cancel()
    assert probe.max_callback >= STALL
    chain = probe.slowest.split(", then at ")[1].split(" > ")
    assert [stop.split(".<locals>.")[1].split(":")[0] for stop in chain[:2]] == ["execute", "handler_step"]


def test_on_uvloop_the_probe_measures_lateness_and_says_callbacks_are_not_timed() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def stalled() -> LoopLagProbe:
        probe = LoopLagProbe()
        probe.start()
        probe.time_callbacks(True)  # not possible here: a no-op
        try:
            await run_then_tick(busy_for)
        finally:
            probe.stop()
        return probe

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        probe = runner.run(stalled())
    assert probe.as_json()["callback_timing"] is False and probe.max_callback == 0
    # Lateness is measured on perf_counter, finer than uvloop's millisecond clock.
    assert probe.max_busy >= STALL - INTERVAL and probe.max_lag != round(probe.max_lag, 3)


async def test_debug_stats_is_not_served_without_the_probe(make_instance: MakeInstance) -> None:
    service = await make_instance()
    answer = await service.request("GET", "/debug/stats")
    assert answer.code == 404 and answer.error == "not_found"


@pytest.fixture
async def probed(redis_url: str, namespace: str, auth_server: AuthServer) -> AsyncIterator[tuple[Client, Instance]]:
    """The service's app with the diagnostics plug-in mounted, as ``--loop-probe`` mounts it."""
    service = await Instance(redis_url, namespace, UserInfoClient(auth_server.url), wait_timeout=30).start()
    probe = diagnostics.start_probe()
    app = make_app(service.services)
    app.add_handlers(r".*", diagnostics.routes(service.registry, probe))
    sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)[0]
    server = HTTPServer(app)
    server.add_sockets([sock])
    client = Client()
    client.http, client.port = service.http, sock.getsockname()[1]
    try:
        yield client, service
    finally:
        server.stop()
        await server.close_all_connections()
        probe.stop()
        await service.stop()


async def test_debug_stats_waits_for_parked_waiters_and_reports_the_probe(probed: tuple[Client, Instance]) -> None:
    client, _ = probed
    session = await client.new_session()
    parked = asyncio.ensure_future(client.wait(session["cursor"]))
    stats = await client.request("GET", "/debug/stats?waiters=1&timeout=10&reset=1&callbacks=1")
    assert stats.code == 200
    assert stats.body["reached"] is True and stats.body["waiters"] == 1 and stats.body["sessions"] == 1
    assert stats.body["pid"] == os.getpid()  # the process that served it (a worker, behind a shared socket)
    assert stats.body["loop_ticks"] > 0
    assert stats.body["callback_max_ms"] == 0  # not timed until asked

    await run_then_tick(busy_for)  # a known stall, now that callbacks are timed
    await client.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    assert (await parked).body["status"] == 1
    timed = (await client.request("GET", "/debug/stats?callbacks=0")).body
    assert timed["callback_max_ms"] >= STALL * 1000 and "busy_for" in timed["callback_slowest"]
    assert timed["loop_busy_max_ms"] >= (STALL - INTERVAL) * 1000 and timed["loop_stalls"] >= 1
    assert timed["loop_lag_max_ms"] >= timed["loop_busy_max_ms"]
    for lots in ("lots", "%C2%B2"):  # a word; "²", a digit to str.isdigit() that int() refuses
        bad = await client.request("GET", f"/debug/stats?waiters={lots}")
        assert bad.code == 400 and bad.error == "invalid_request"


async def test_debug_stats_turns_the_lateness_timer_off_and_on(probed: tuple[Client, Instance]) -> None:
    # Off, no tick wakes the loop (benchmarks measure CPU so, against a bare Tornado with no probe).
    client, _ = probed
    stopped = (await client.request("GET", "/debug/stats?reset=1&lateness=0")).body
    assert stopped["lateness_timing"] is True  # as it was when read
    await run_then_tick(busy_for)  # a stall the timer would have seen, and ten intervals more
    idle = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(10 * INTERVAL, idle.set_result, None)
    await idle
    off = (await client.request("GET", "/debug/stats?lateness=1")).body
    assert off["lateness_timing"] is False and off["loop_ticks"] == 0 and off["loop_lag_max_ms"] == 0
    assert off["gc_count"] >= 0  # collections are still measured with the timer off
    await run_then_tick(busy_for)
    on = (await client.request("GET", "/debug/stats")).body
    assert on["lateness_timing"] is True and on["loop_ticks"] > 0
    assert on["loop_busy_max_ms"] >= (STALL - INTERVAL) * 1000


def imports_of(path: Path) -> set[str]:
    """The modules a source file imports, by their full dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_service_packages_do_not_import_diagnostics() -> None:
    importers = [
        str(path.relative_to(ROOT))
        for package in CORE_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if any(name == "diagnostics" or name.startswith("diagnostics.") for name in imports_of(path))
    ]
    assert importers == []


@pytest.fixture
def low_fd_limit() -> Iterator[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 2:
        pytest.skip("the open-files hard limit is unlimited or tiny here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard // 2), hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_fd_limit_is_raised_to_the_hard_limit(low_fd_limit: int) -> None:
    assert raise_fd_limit() == low_fd_limit
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == low_fd_limit
