"""The benchmark itself, in its tiny configuration, so it does not rot."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.http import Connection
from tests.procs import Process

ROOT = Path(__file__).resolve().parent.parent
#: longest the quick run may take, with room for a machine busy with other work
BENCH_TIMEOUT = 300
#: how long it may take to stop its servers once told to
STOP_TIMEOUT = 60

#: the figures every run must produce, as paths into the JSON
WAKE = ("count", "p50_ms", "p99_ms", "max_ms")
PARKED_SIDE = ("n", "parked", "park_seconds", "settle_seconds", "rss_before", "rss_parked", "rss_per_waiter")
FULL_LOGIN = ("requests", "seconds", "rps", "logins", "logins_per_s", "server_cpu_ms_per_request")
PROBE = ("loop_lag_max_ms", "loop_busy_max_ms", "gc_max_ms", "gc_count", "loop_stalls", "loop_ticks")
#: what the runs measuring CPU against bare Tornado keep of the probe: its lateness timer is off there
CPU_RUN_PROBE = ("gc_max_ms", "gc_count", "loop_ticks")
#: a garbage collection longer than this (wall clock, on a busy machine) is not a measurement but a fault
GC_BOUND_MS = 1000.0
#: the requests of one whole login: /uuid, the QR, /wait, /scan, /wait, /confirm, /token
REQUESTS_PER_LOGIN = 7
#: and of a site's login through the provider: /authorize, /authorize/session, the QR, /wait, /scan, /wait,
#: /confirm, /authorize/complete, /oauth/token, /userinfo
REQUESTS_PER_OIDC_LOGIN = 10
#: the single callbacks, timed on the run on asyncio's own loop
CALLBACKS = ("callback_max_ms", "callback_wall_max_ms")
#: what the bare-Tornado reference logs once it listens
REFERENCE_LISTENING = r"reference listening on http://127\.0\.0\.1:(\d+)"
#: requests the reference answers while its callbacks are timed
TIMED_REQUESTS = 20
#: what the reference's /debug/stats answers without --loop-probe: the parked count alone
UNPROBED_STATS = {"waiters", "reached"}


def numbers(value: Any, path: str = "") -> dict[str, float]:
    """Every number in ``value``, by its path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in numbers(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in numbers(item, f"{path}[{i}]").items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {path: float(value)}
    return {}


def run_quick(module: str, redis_url: str, out: Path, timeout: float) -> tuple[str, str]:
    """Run ``python -m <module> --quick`` on ``redis_url`` writing ``out``; its stdout and stderr once it succeeded.

    A run over ``timeout`` is stopped (the benchmarks stop their servers and clients on SIGTERM) and fails the test.
    """
    bench = subprocess.Popen(
        [sys.executable, "-m", module, "--quick", f"--redis-url={redis_url}", f"--out={out}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        bench.terminate()
        stdout, stderr = bench.communicate(timeout=STOP_TIMEOUT)
        pytest.fail(f"the quick run of {module} took over {timeout}s:\n{stderr[-3000:]}")
    assert bench.returncode == 0, stderr[-3000:]
    return stdout, stderr


@pytest.mark.timeout(BENCH_TIMEOUT + STOP_TIMEOUT + 30)
def test_quick_benchmark_writes_every_figure(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    stdout, stderr = run_quick("bench", redis_url, out, BENCH_TIMEOUT)
    assert "[bench]" in stderr  # it showed progress
    assert "| target |" in stdout  # and printed its table

    results = json.loads(out.read_text())
    (parked,) = results["parked"]
    for side in ("service", "reference"):
        assert set(PARKED_SIDE) <= parked[side].keys()
        assert set(WAKE) <= parked[side]["wake"].keys()
        assert parked[side]["parked"] == parked["n"] == 100
        assert parked[side]["wake"]["count"] == 20
    assert set(parked["ratios"]) == {"rss_per_waiter", "wake_p50", "wake_p99"}
    # The probe saw the parking's collections (a hundred parked requests allocate
    # past the youngest generation's threshold) and timed them plausibly.
    assert parked["service"]["gc_count"] >= 1
    assert 0 < parked["service"]["gc_max_ms"] < GC_BOUND_MS
    assert parked["service"]["blocks_per_waiter"] > 0
    assert parked["service"]["full_collection"]["collect_ms"] > 0  # the backstop's cost, measured after waking
    assert parked["service"]["loop_lag_max_ms"] >= parked["service"]["loop_busy_max_ms"] >= 0
    # The parking burst again on asyncio's loop, every callback timed: the service's, and bare Tornado's alike.
    for run in ("asyncio_loop", "reference_asyncio_loop"):
        burst = parked[run]
        assert burst["parked"] == 100 and "wake" not in burst
        assert set(CALLBACKS) <= burst.keys() and burst["parking_gc_max_ms"] >= 0
        assert burst["callback_max_ms"] > 0 and burst["callback_wall_max_ms"] > 0
    assert set(WAKE) <= results["cross_process"]["service"]["wake"].keys()
    assert set(results["cross_process"]["ratios"]) == {"wake_p50", "wake_p99"}
    login = results["full_login"]
    assert set(FULL_LOGIN) | set(CPU_RUN_PROBE) <= login["service"].keys()
    assert set(FULL_LOGIN) | set(PROBE) | set(CALLBACKS) <= login["asyncio_loop"].keys()
    assert login["asyncio_loop"]["callback_max_ms"] > 0  # callbacks were timed there
    # The CPU run had no lateness timer (no tick woke its loop); the asyncio-loop run had it.
    assert login["service"]["loop_ticks"] == 0 and login["asyncio_loop"]["loop_ticks"] > 0
    # Bare Tornado on asyncio's loop with the same probe and the logins' traffic shape: the same-run reference for
    # the longest callback.  The CPU comparisons' reference ran no probe (no probe figure in its result).
    timed_bare = login["reference_asyncio_loop"]
    assert set(PROBE) | set(CALLBACKS) <= timed_bare.keys() and timed_bare["loop_ticks"] > 0
    assert timed_bare["callback_max_ms"] > 0 and timed_bare["callback_wall_max_ms"] > 0
    assert timed_bare["requests"] % REQUESTS_PER_LOGIN == 0 and timed_bare["requests"] > 0
    assert not set(PROBE) & login["reference"].keys()
    for run in ("service", "asyncio_loop"):  # the probe saw the logins' collections either way
        assert login[run]["gc_count"] >= 1 and 0 < login[run]["gc_max_ms"] < GC_BOUND_MS
    logins = login["service"]["logins"]
    assert logins > 0 and login["service"]["requests"] == REQUESTS_PER_LOGIN * logins  # counted, not assumed
    assert login["reference"]["rps"] > 0 and "rps" in login["ratios"]
    # The reference like for like: each round a login's 7 requests over 3 new connections from 2 new addresses
    # (the warm-up's rounds, one per worker, included); and on kept-alive connections from 127.0.0.1.
    bare, concurrency = login["reference"], results["config"]["concurrency"]
    rounds = bare["requests"] // REQUESTS_PER_LOGIN
    assert bare["requests"] == REQUESTS_PER_LOGIN * rounds > 0
    assert rounds + concurrency <= bare["source_addresses"] // 2 <= rounds + 2 * concurrency
    assert login["reference_kept_alive"]["rps"] > 0 and "source_addresses" not in login["reference_kept_alive"]
    # The stack's floor: each unavoidable call timed, summed per login onto bare Tornado's requests.
    floor = login["floor"]
    units = ("redis_trip_ms", "auth_call_ms", "signature_ms", "qr_render_ms")
    assert all(floor[unit] > 0 for unit in units)
    counts = floor["per_login"]
    summed = sum(counts[name] * floor[unit] for name, unit in zip(
        ("redis_trips", "auth_calls", "signatures", "qr_renders"), units, strict=True))  # fmt: skip
    assert floor["calls_ms_per_login"] == pytest.approx(summed)
    assert floor["server_cpu_ms_per_request"] == pytest.approx(
        bare["server_cpu_ms_per_request"] + summed / REQUESTS_PER_LOGIN
    )
    assert login["ratios"]["floor_cpu_per_request"] > 1
    # The CPU comparisons ran in rounds, each figure from the round giving its ratio's (upper) median.
    rounds = results["cpu_rounds"]
    assert len(rounds) == results["config"]["rounds"] == 2
    assert all(each["logins"]["loop_ticks"] == each["oidc_logins"]["loop_ticks"] == 0 for each in rounds)
    config = results["config"]  # each loop of a round ran its share of --duration (the last logins end after it)
    cpu_loop, whole = config["duration"] * config["cpu_share"], config["duration"]
    assert config["cpu_share"] < 1 and all(cpu_loop <= each[run]["seconds"] < whole for each in rounds for run in each)
    per_round = login["ratios"]["server_cpu_per_request_rounds"]
    assert per_round == [
        each["logins"]["server_cpu_ms_per_request"] / each["reference"]["server_cpu_ms_per_request"] for each in rounds
    ]
    assert login["ratios"]["server_cpu_per_request"] == max(per_round)  # of two, the upper
    oidc = results["oidc_login"]
    site_rounds = oidc["ratios"]["server_cpu_per_login_vs_first_party_rounds"]
    assert oidc["ratios"]["server_cpu_per_login_vs_first_party"] == max(site_rounds) and len(site_rounds) == 2
    assert oidc["first_party"] in [each["logins"] for each in rounds]
    assert set(FULL_LOGIN) | set(CPU_RUN_PROBE) | {"server_cpu_ms_per_login"} <= oidc["service"].keys()
    assert oidc["service"]["loop_ticks"] == 0
    assert set(CALLBACKS) <= oidc["asyncio_loop"].keys() and oidc["asyncio_loop"]["callback_max_ms"] > 0
    site_logins = oidc["service"]["logins"]
    assert site_logins > 0 and oidc["service"]["requests"] == REQUESTS_PER_OIDC_LOGIN * site_logins
    assert oidc["ratios"]["server_cpu_per_login_vs_first_party"] > 0
    capacity = results["capacity"]  # tests/test_capacity.py checks its figures
    assert capacity["service"]["woken_across"] == capacity["service"]["parked"] == capacity["config"]["waiters"]
    assert len(results["targets"]) == 17 and all(isinstance(t["met"], bool) for t in results["targets"])
    cpu_target = next(t for t in results["targets"] if t["target"].startswith("server CPU per full-login request"))
    assert cpu_target["value"] == login["ratios"]["server_cpu_per_request"] and cpu_target["limit"] == "<= 3"
    assert results["machine"]["cpus"] >= 1

    figures = numbers(results)
    not_finite = [path for path, value in figures.items() if not math.isfinite(value)]
    assert not not_finite, not_finite
    assert all(figures[f".parked[0].{side}.rss_parked"] > 0 for side in ("service", "reference"))


def start_reference(*options: str) -> tuple[Process, int]:
    """``python -m bench.reference`` on asyncio's loop with ``options``; the process and its port once it listens."""
    argv = [sys.executable, "-m", "bench.reference", "--port=0", "--event-loop=asyncio", *options]
    process = Process(argv, name="reference", cwd=ROOT)
    return process, int(process.wait_for_line(REFERENCE_LISTENING).group(1))


async def hellos(conn: Connection, count: int) -> None:
    for _ in range(count):
        status, _ = await conn.request("POST", "/hello")
        assert status == 200


async def test_the_reference_with_loop_probe_times_its_callbacks_as_the_service_does() -> None:
    process, port = start_reference("--loop-probe")
    conn, poll = Connection("127.0.0.1", port), Connection("127.0.0.1", port)
    try:
        await conn.open()
        started = await conn.call("GET", "/debug/stats?reset=1&callbacks=1")
        assert started["callback_timing"] is True and started["lateness_timing"] is True
        await hellos(conn, TIMED_REQUESTS)
        timed = await conn.call("GET", "/debug/stats?callbacks=0&lateness=0")
        assert timed["callback_max_ms"] > 0 and timed["callback_wall_max_ms"] > 0 and timed["callback_slowest"]
        assert timed["loop_ticks"] > 0  # the lateness timer ran until this request stopped it
        # Stopped and zeroed: more requests are no longer timed, and no tick runs.
        await conn.call("GET", "/debug/stats?reset=1")
        await hellos(conn, TIMED_REQUESTS)
        stopped = await conn.call("GET", "/debug/stats")
        assert stopped["callback_max_ms"] == 0 and stopped["loop_ticks"] == 0 and stopped["lateness_timing"] is False
        # ?waiters=N still waits until N are parked.
        (await poll.open()).send("POST", "/wait?key=k")
        parked = await conn.call("GET", "/debug/stats?waiters=1&timeout=10&frozen=1")
        assert parked["reached"] is True and parked["waiters"] == 1 and "callback_max_ms" in parked
        assert parked["gc_frozen"] == 0  # CPython's own collector, unless asked (--collector)
    finally:
        conn.close()
        poll.close()
        process.stop()


async def test_the_reference_without_loop_probe_runs_no_probe() -> None:
    process, port = start_reference()
    conn = Connection("127.0.0.1", port)
    try:
        await conn.open()
        asked = await conn.call("GET", "/debug/stats?reset=1&callbacks=1&lateness=1")
        await hellos(conn, TIMED_REQUESTS)
        read = await conn.call("GET", "/debug/stats")
        assert asked.keys() == read.keys() == UNPROBED_STATS  # the flags ignored: nothing timed, no timer
    finally:
        conn.close()
        process.stop()


async def test_the_reference_with_collector_runs_the_services_collector_policy() -> None:
    process, port = start_reference("--loop-probe", "--collector")
    conn = Connection("127.0.0.1", port)
    try:
        await conn.open()
        assert "gc_frozen" not in await conn.call("GET", "/debug/stats")  # counting them walks them: when asked
        stats = await conn.call("GET", "/debug/stats?frozen=1")
        assert stats["gc_frozen"] > 0  # start-up's objects frozen, as the service's collector policy does
    finally:
        conn.close()
        process.stop()


def test_clock_jumps_times_a_fixed_workload_and_describes_its_slowest_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.clock_jumps", "0.3"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["runs"] > 100  # ~0.05 ms a run: thousands in 0.3 s
    assert 0 < figures["median_ms"] <= figures["p999_ms"] <= figures["max_ms"]
    for run in figures["slowest"]:  # only runs over 2 ms of thread CPU are described
        assert run["cpu_ms"] > 2 and run["cpu_ms"] <= figures["max_ms"]
        assert {"wall_ms", "page_faults", "preempted"} <= run.keys()
