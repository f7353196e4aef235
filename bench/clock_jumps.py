"""How far this machine's thread CPU clock jumps: a fixed pure-Python workload, repeated, each run timed.

``python -m bench.clock_jumps [SECONDS]`` prints one JSON object.  The loop
probe times a callback with ``time.thread_time()``; on some VMs (a kernel
that does not account interrupt time apart, a host stealing time it does not
report) that clock sometimes advances by milliseconds while the thread does a
few microseconds of its own work.  The longest run of a workload that never
varies says how long a "callback" can read here with no code to blame.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

#: the workload: a sum over this many integers (~0.04-0.05 ms of CPU here)
WORKLOAD_SIZE = 2_000
#: runs longer than this (seconds of thread CPU) are described one by one
DESCRIBED_OVER = 0.002
#: how many of them are described
DESCRIBED = 5


def workload(numbers: list[int]) -> int:
    total = 0
    for number in numbers:
        total += number * number
    return total


def measure(seconds: float) -> dict[str, Any]:
    """Repeat the workload for ``seconds``; its runs' thread CPU (median, p99.9, longest, in ms) and the slowest
    runs' thread CPU, wall clock, minor page faults and involuntary context switches."""
    numbers = list(range(WORKLOAD_SIZE))
    runs: list[float] = []
    slowest: list[dict[str, float]] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        before = resource.getrusage(resource.RUSAGE_THREAD)
        cpu, wall = time.thread_time(), time.perf_counter()
        workload(numbers)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        runs.append(cpu)
        if cpu > DESCRIBED_OVER:
            after = resource.getrusage(resource.RUSAGE_THREAD)
            slowest.append(
                {
                    "cpu_ms": cpu * 1000,
                    "wall_ms": wall * 1000,
                    "page_faults": after.ru_minflt - before.ru_minflt,
                    "preempted": after.ru_nivcsw - before.ru_nivcsw,
                }
            )
    runs.sort()
    return {
        "runs": len(runs),
        "median_ms": runs[len(runs) // 2] * 1000,
        "p999_ms": runs[int(len(runs) * 0.999)] * 1000,
        "max_ms": runs[-1] * 1000,
        "slowest": sorted(slowest, key=lambda run: -run["cpu_ms"])[:DESCRIBED],
    }


def main() -> None:
    print(json.dumps(measure(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)))


if __name__ == "__main__":
    main()
