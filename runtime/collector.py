"""The garbage collector's policy for a long-running server: what survives the young generations is frozen.

CPython's collector traverses its oldest generation whenever that has grown
by a quarter, and with thousands of parked requests (each ~100 tracked
objects) that full traversal stalls the loop for hundreds of milliseconds.
Here every object that survives a collection, of any generation, is moved to
the permanent generation with ``gc.freeze()``, a constant-time list splice:
automatic collections then traverse only what was allocated since the last
one (at most ~700 objects and what they refer to), whatever the heap holds.
Freezing after the youngest generation's collections, not only after the
middle one's, matters: with 15,000 requests parked a generation-1 collection
still took 4-6 ms, a generation-0 one under 1 ms.

A frozen object is still freed by reference counting when its last reference
goes; only frozen *cyclic* garbage stays.  A finished request leaves none of
ours (``tests/test_collector.py``), but libraries may (redis-py leaves a few
objects per new connection), so a backstop collects everything, frozen or
not, once the heap holds more blocks than its live connections explain:
more than ``BACKSTOP_GROWTH`` (or ``BACKSTOP_SHARE`` of the figure) above
what the last full collection left, after allowing ``BLOCKS_PER_CONNECTION``
for each connection open now beyond those then.  That one collection
traverses the whole heap (a pause of a full collection, as before); it runs
only once such growth has piled up, not on a schedule.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("qrlogin.gc")

#: pymalloc blocks a live connection may hold before its heap counts as unexplained growth: a parked
#: long-poll (its connection, handler, request, wait) holds well under this
BLOCKS_PER_CONNECTION = 600
#: unexplained growth (in pymalloc blocks, ~40-100 bytes each) that calls for a full collection...
BACKSTOP_GROWTH = 250_000
#: ...or this share of the blocks the last full collection left, if larger
BACKSTOP_SHARE = 0.5
#: young collections between two looks at the heap (sys.getallocatedblocks walks the allocator's pools)
CHECK_EVERY = 10


def collect_everything() -> tuple[int, float]:
    """A full collection of every object, frozen or not, then all frozen again: the objects found
    unreachable, and the seconds it took (the loop runs nothing meanwhile)."""
    started = time.perf_counter()
    gc.unfreeze()
    try:
        collected = gc.collect()
    finally:
        gc.freeze()
    return collected, time.perf_counter() - started


class Collector:
    """Freezes the survivors of the young generations; runs the backstop when the heap outgrows ``live()``.

    ``live()`` is the number of connections open now (it is called from the
    garbage collector's callback, so it must be cheap and allocate little).
    """

    def __init__(
        self,
        live: Callable[[], int],
        *,
        per_connection: int = BLOCKS_PER_CONNECTION,
        growth: int = BACKSTOP_GROWTH,
        share: float = BACKSTOP_SHARE,
    ) -> None:
        self.live = live
        self.per_connection = per_connection
        self.growth = growth
        self.share = share
        #: full collections the backstop ran, and the longest of them (seconds)
        self.backstops = 0
        self.longest_backstop = 0.0
        #: objects the last backstop found unreachable (frozen cyclic garbage, mostly)
        self.last_collected = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limit = 0
        self._young = 0
        self._scheduled = False

    def install(self) -> None:
        """Freeze what start-up made and take over from the collector's own full collections."""
        self._loop = asyncio.get_running_loop()
        gc.collect()
        gc.freeze()
        self._rebase()
        gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def unexplained(self) -> int:
        """The heap's pymalloc blocks beyond the allowance of the connections open now."""
        return sys.getallocatedblocks() - self.per_connection * self.live()

    @property
    def limit(self) -> int:
        """Past this many unexplained blocks the backstop runs."""
        return self._limit

    def collect_all(self) -> int:
        """The backstop: a full collection of everything, frozen or not; the objects found unreachable."""
        collected, spent = collect_everything()
        self.backstops += 1
        self.longest_backstop = max(self.longest_backstop, spent)
        self.last_collected = collected
        self._rebase()
        log.info("full garbage collection: %d unreachable objects freed in %.0f ms", collected, spent * 1000)
        return collected

    def _rebase(self) -> None:
        left = self.unexplained()
        self._limit = left + max(self.growth, int(self.share * max(left, 0)))

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # What survived this collection is now in an older generation: freeze every generation (a
        # list splice each).  Later collections, young or full, then find only what is newer.
        if phase != "stop":
            return
        gc.freeze()
        self._young += 1
        if self._young < CHECK_EVERY or self._scheduled:
            return
        self._young = 0
        loop = self._loop
        if loop is not None and not loop.is_closed() and self.unexplained() > self._limit:
            # Not from inside a collection (gc.collect() would do nothing there), nor from another thread.
            self._scheduled = True
            loop.call_soon_threadsafe(self._backstop)

    def _backstop(self) -> None:
        self._scheduled = False
        self.collect_all()
