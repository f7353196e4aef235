"""The capacity scenario (``python -m bench.capacity``) in its tiny configuration, so it does not rot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.capacity import QUICK
from tests.test_bench import STOP_TIMEOUT, numbers, run_quick

ROOT = Path(__file__).resolve().parent.parent
#: longest the quick run may take, with room for a machine busy with other work
CAPACITY_TIMEOUT = 180


@pytest.mark.timeout(CAPACITY_TIMEOUT + STOP_TIMEOUT + 30)
def test_quick_capacity_parks_over_two_workers_and_wakes_each_through_the_other(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "capacity.json"
    stdout, stderr = run_quick("bench.capacity", redis_url, out, CAPACITY_TIMEOUT)
    assert "[bench] capacity service" in stderr  # it showed progress
    assert "| target |" in stdout

    results = json.loads(out.read_text())
    capacity = results["capacity"]
    n = QUICK.waiters
    for side in ("service", "reference"):
        figures = capacity[side]
        # Every waiter parked (as the servers count them), over two processes, and answered its wake.
        assert figures["parked"] == sum(figures["parked_by_process"]) == figures["woken"] == n
        assert figures["processes"] == len(figures["parked_by_process"]) == len(figures["open_fds"]) == 2
        assert figures["errors_parking"] == {} and figures["errors_waking"] == {}
        assert figures["rss_parked"] > figures["rss_before"] > 0
        assert figures["wake"]["count"] == QUICK.wakes and 0 < figures["wake"]["p50_ms"] <= figures["wake"]["p99_ms"]
        # The processes held the waiters' sockets: more files open than waiters in them.
        assert sum(figures["open_fds"]) > n
    ours = capacity["service"]
    # Each wake was a confirm sent to the worker not holding the wait (learnt from /debug/stats's pid).
    assert ours["woken_across"] == n and capacity["reference"]["woken_across"] == 0
    assert ours["server_cpu_ms_per_wake"] > 0
    assert {target["met"] for target in results["targets"]} <= {True, False} and len(results["targets"]) == 5
    not_finite = [path for path, value in numbers(results).items() if not math.isfinite(value)]
    assert not not_finite, not_finite
