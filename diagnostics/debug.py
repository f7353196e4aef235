"""``GET /debug/stats``: the loop-lag probe and the parked waiters, for benchmarks.

Routed only when the service runs with ``--loop-probe``.
"""

from __future__ import annotations

import os
import sys

from diagnostics.loopprobe import LoopLagProbe
from diagnostics.parked import ParkedWaiters, parked_waiters
from diagnostics.plugin import probe_stats
from handlers.base import BaseHandler
from login.errors import InvalidRequest
from login.waiters import WaiterRegistry
from runtime.collector import collect_everything

#: longest a caller may wait for the parked count to be reached
MAX_STATS_WAIT = 120.0


class DebugStatsHandler(BaseHandler):
    """``?waiters=N&timeout=S`` first waits until N waiters are parked (bounded);
    ``?reset=1`` zeroes the probe after reading it; ``?callbacks=1`` (``0``)
    starts (stops) timing every callback; ``?lateness=0`` (``1``) stops
    (starts) the lateness timer, whose ticks cost CPU; ``?collect=1`` then runs a full
    collection of everything, frozen or not (what the collector policy's
    backstop does): how much frozen cyclic garbage had piled up, and what
    such a collection costs with this heap.  The answer's ``pid`` names the
    process: behind a listening socket shared by workers (``--processes``),
    which worker a keep-alive connection reached."""

    def initialize(self, registry: WaiterRegistry, probe: LoopLagProbe) -> None:
        self.registry = registry
        self.probe = probe
        # Attached to the registry by the first of these requests, then shared.
        self.parked: ParkedWaiters = parked_waiters(registry)

    async def get(self) -> None:
        waiters = self._number("waiters", 0)
        timeout = min(self._number("timeout", 10), MAX_STATS_WAIT)
        reached = await self.parked.until(lambda r: r.waiters >= waiters, timeout=timeout)
        stats: dict[str, float | int | bool | str] = {
            "waiters": self.registry.waiters,
            "sessions": self.registry.sessions,
            "reached": reached,
            "pid": os.getpid(),
        }
        stats.update(probe_stats(self.probe, lambda name: self.get_query_argument(name, None)))
        if self.get_query_argument("collect", "0") == "1":
            blocks = sys.getallocatedblocks()
            unreachable, seconds = collect_everything()
            stats.update(
                collected=unreachable, collect_ms=seconds * 1000, blocks_freed=blocks - sys.getallocatedblocks()
            )
        self.write_json(stats)

    def _number(self, name: str, default: int) -> int:
        value = self.get_query_argument(name, str(default))
        if not (value.isascii() and value.isdigit()):  # not isdigit() alone: int('²') raises
            raise InvalidRequest(f"'{name}' must be a non-negative integer.")
        return int(value)
