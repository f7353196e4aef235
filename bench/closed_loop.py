"""The closed loop the throughput jobs run: concurrent workers repeating one round for a duration, timing its
requests and the server's CPU per request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.client_tools import PROGRESS_EVERY, every, summary
from bench.procs import cpu_seconds


async def closed_loop(job: dict[str, Any], one: Callable[[int, list[float]], Awaitable[int]]) -> dict[str, Any]:
    """Run ``one(worker, latencies)`` repeatedly in the job's concurrent workers for its duration.

    Also measures the server's CPU time per request: unlike requests per
    second, it hardly depends on what else the machine runs.
    """
    concurrency, duration, label = job["concurrency"], job["duration"], job["label"]
    latencies: list[float] = []
    done = [0]
    cpu = cpu_seconds(job["pid"])
    started = time.perf_counter()
    deadline = started + duration

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            count = await one(index, latencies)
            done[0] += count  # not `+= await`: that reads done[0] before the await

    with every(PROGRESS_EVERY, lambda: f"{label}: {done[0]} requests, {time.perf_counter() - started:.0f}s"):
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    seconds = time.perf_counter() - started
    cpu_ms = (cpu_seconds(job["pid"]) - cpu) * 1000
    return {
        "requests": done[0],
        "seconds": seconds,
        "rps": done[0] / seconds,
        "latency": summary(latencies),
        "server_cpu_ms_per_request": cpu_ms / max(1, done[0]),
    }
