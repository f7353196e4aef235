"""The WebSocket benchmark in its tiny configuration (``python -m bench.ws --quick``), so it does not rot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.test_bench import BENCH_TIMEOUT, REQUESTS_PER_LOGIN, STOP_TIMEOUT, WAKE, numbers, run_quick

ROOT = Path(__file__).resolve().parent.parent
#: a login over /ws: /uuid, the QR, the upgrade, /scan, /confirm, /token
REQUESTS_PER_WS_LOGIN = 6
#: its WebSocket messages: the PC's first, then the scan's and the confirm's pushes
SENT_PER_WS_LOGIN, PUSHED_PER_WS_LOGIN = 1, 2
PARKED_SIDE = ("n", "parked", "park_seconds", "rss_before", "rss_parked", "rss_per_socket", "wake")


@pytest.mark.timeout(BENCH_TIMEOUT + STOP_TIMEOUT + 30)
def test_quick_ws_benchmark_writes_every_figure(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results-ws.json"
    stdout, stderr = run_quick("bench.ws", redis_url, out, BENCH_TIMEOUT)
    assert "[bench.ws]" in stderr  # it showed progress
    assert "| target |" in stdout and "| full logins |" in stdout  # and printed its tables

    results = json.loads(out.read_text())
    (parked,) = results["parked"]
    for side in ("service", "reference"):
        assert set(PARKED_SIDE) <= parked[side].keys()
        assert set(WAKE) <= parked[side]["wake"].keys()
        assert parked[side]["parked"] == parked["n"] == 100
        assert parked[side]["wake"]["count"] == 20
        assert parked[side]["rss_parked"] > 0
    assert parked["service"]["gc_count"] >= 0 and parked["service"]["loop_lag_max_ms"] > 0  # the probe was read
    assert set(parked["ratios"]) == {"rss_per_socket", "wake_p99"}

    logins = results["logins"]
    ws, poll = logins["websocket"], logins["long-poll"]
    assert ws["logins"] > 0 and poll["logins"] > 0
    # Counted as they were made, not assumed: the upgrade is one request, the long-polls two.
    assert ws["requests"] == REQUESTS_PER_WS_LOGIN * ws["logins"]
    assert poll["requests"] == REQUESTS_PER_LOGIN * poll["logins"]
    assert ws["messages_sent_per_login"] == SENT_PER_WS_LOGIN
    assert ws["messages_pushed_per_login"] == PUSHED_PER_WS_LOGIN
    assert ws["wait"]["count"] == 2 * ws["logins"]  # every push timed
    for run in (ws, poll):  # the server's CPU was read from /proc: a login costs some, and not seconds
        assert 0 < run["server_cpu_ms_per_login"] < 1000
    assert logins["ratios"]["server_cpu_ms_per_login"] > 0
    assert len(results["targets"]) == 3 and all(isinstance(t["met"], bool) for t in results["targets"])

    not_finite = [path for path, value in numbers(results).items() if not math.isfinite(value)]
    assert not not_finite, not_finite
