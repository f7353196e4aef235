"""What every client job uses: the loopback host, the app's credential, progress lines on stderr, bounded
concurrency and latency summaries."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

HOST = "127.0.0.1"
#: the app's credential; the benchmark's auth server knows it
APP_AUTH = {"Authorization": "Bearer alice-token"}
#: seconds between progress lines
PROGRESS_EVERY = 2.0


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of ``values`` (0 < q <= 100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(millis: list[float]) -> dict[str, float]:
    return {
        "count": len(millis),
        "p50_ms": percentile(millis, 50),
        "p99_ms": percentile(millis, 99),
        "max_ms": max(millis, default=math.nan),
    }


async def gather_bounded(limit: int, jobs: Iterator[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the jobs with at most ``limit`` at a time; their results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


@contextmanager
def every(seconds: float, report: Callable[[], str]) -> Iterator[None]:
    """Print ``report()`` every ``seconds`` while the block runs."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            progress(report())

    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        task.cancel()
