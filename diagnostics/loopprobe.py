"""A loop-lag probe: how long the event loop was kept from its work.

Every parked long-poll shares one event loop, so anything that holds it (a
slow callback, a thread hogging the GIL) delays them all.  Benchmarks turn
the probe on with ``--loop-probe`` and read it at ``/debug/stats``.  It
records:

- ``callback``: the longest single callback, in the loop thread's CPU time
  (at most its wall-clock time: a jump of the thread's clock is not a callback's),
  like asyncio debug mode's slow-callback log but cheap enough to leave on
  under load: what blocks the loop by computing.  Also in wall-clock time,
  which adds any time blocked in a system call (our fault) and any time the
  OS ran other processes meanwhile (not ours): on an idle machine the two
  agree, and a gap on a busy one is the OS's;
- ``lag``: the lateness of a timer set every INTERVAL, what a waiter feels
  (on unless turned off: on an otherwise idle moment each tick wakes the
  loop, which costs CPU that bare Tornado does not spend, so benchmarks
  turn it off while they measure CPU).
  It adds up every callback run in one loop iteration (a saturated loop has
  many) and any time the OS ran other processes instead of this one;
- ``busy``: each lateness capped by the CPU time this process used
  meanwhile, i.e. without the time it was descheduled;
- ``gc``: the longest garbage collection, its generation, and how many
  ran: a longest of zero over zero collections means nothing was
  measured, not that collections were free;
- ``allocated_blocks``: the heap's pymalloc blocks when read (what the
  service's collector policy, ``runtime/collector.py``, watches).

The probe is a plug-in (see ``diagnostics.plugin``): the service's own
packages never import it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

#: seconds between probe timers: the resolution of the measurement
INTERVAL = 0.001
#: a lateness above this counts as a stall
STALL_THRESHOLD = 0.005


def describe(handle: asyncio.Handle) -> str:
    """What a callback was: for a task's step, its coroutine and where it then stopped, down the chain of
    coroutines it awaits (Tornado's ``_execute`` alone would not say which handler's code ran)."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if not isinstance(task, asyncio.Task):
        return repr(handle)
    coro: Any = task.get_coro()
    name = getattr(coro, "__qualname__", coro)
    stops = []
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        stops.append(f"{coro.cr_frame.f_code.co_qualname}:{coro.cr_frame.f_lineno}")
        coro = getattr(coro, "cr_await", None)
    return f"task {name}" + (f", then at {' > '.join(stops)}" if stops else "")


class LoopLagProbe:
    """Records the largest lateness of a periodic timer since the last reset()."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.reset()
        self._unpatched: Callable[[asyncio.Handle], None] | None = None
        self._gc_started = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._cpu = 0.0
        #: whether single callbacks can be timed: on asyncio's own loop, not on uvloop's
        self.can_time_callbacks = False
        #: whether the lateness timer runs (``time_lateness``)
        self.times_lateness = True

    def start(self) -> None:
        """Start probing the running loop."""
        self._loop = asyncio.get_running_loop()
        # uvloop runs its callbacks in C, past asyncio.Handle._run.
        self.can_time_callbacks = isinstance(self._loop, asyncio.BaseEventLoop)
        gc.callbacks.append(self._on_gc)
        if self.times_lateness:
            self._schedule()

    def time_callbacks(self, on: bool) -> None:
        """Start or stop timing every callback: two clock reads each, one a system
        call, which costs a busy service several percent of its CPU.  A no-op
        unless ``can_time_callbacks``."""
        if on and self._unpatched is None and self.can_time_callbacks:
            self._patch()
        elif not on and self._unpatched is not None:
            asyncio.Handle._run = self._unpatched  # type: ignore[method-assign,assignment]
            self._unpatched = None

    def time_lateness(self, on: bool) -> None:
        """Start or stop the lateness timer: a tick every INTERVAL, which wakes an
        otherwise idle loop a thousand times a second.  Collections are measured
        either way."""
        self.times_lateness = on
        if on and self._handle is None and self._loop is not None:
            self._schedule()
        elif not on:
            self._cancel_timer()

    def stop(self) -> None:
        self.time_callbacks(False)
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def reset(self) -> None:
        """Forget what was measured so far, e.g. before a benchmark's run."""
        #: the largest lateness seen, in seconds
        self.max_lag = 0.0
        #: the largest lateness during which this process was busy, in seconds
        self.max_busy = 0.0
        #: the longest garbage collection, in seconds
        self.max_gc = 0.0
        #: the generation of the longest garbage collection
        self.max_gc_generation = 0
        #: garbage collections finished since the last reset
        self.gc_count = 0
        #: the longest single callback in CPU seconds, and what it was
        self.max_callback = 0.0
        self.slowest = ""
        #: the longest single callback in wall-clock seconds
        self.max_callback_wall = 0.0
        #: timers run since the last reset
        self.ticks = 0
        #: timers that ran more than STALL_THRESHOLD late, the process busy, since the last reset
        self.stalls = 0

    def as_json(self) -> dict[str, float | int | str]:
        return {
            "loop_lag_max_ms": self.max_lag * 1000,
            "loop_busy_max_ms": self.max_busy * 1000,
            "gc_max_ms": self.max_gc * 1000,
            "gc_max_generation": self.max_gc_generation,
            "gc_count": self.gc_count,
            "allocated_blocks": sys.getallocatedblocks(),
            "callback_timing": self.can_time_callbacks,
            "callback_max_ms": self.max_callback * 1000,
            "callback_slowest": self.slowest,
            "callback_wall_max_ms": self.max_callback_wall * 1000,
            "lateness_timing": self.times_lateness,
            "loop_ticks": self.ticks,
            "loop_stalls": self.stalls,
        }

    def _schedule(self, now: float | None = None, cpu: float | None = None) -> None:
        """The next timer, ``interval`` from ``now`` (perf_counter) with the process's CPU time ``cpu``;
        both read here unless given (a tick passes its own reads: process_time is a system call)."""
        assert self._loop is not None
        # Lateness on perf_counter: uvloop's loop clock counts whole milliseconds.
        self._due = (time.perf_counter() if now is None else now) + self.interval
        self._cpu = time.process_time() if cpu is None else cpu
        self._handle = self._loop.call_later(self.interval, self._tick)

    def _patch(self) -> None:
        # Every callback, task step and timer of asyncio runs through
        # Handle._run: time it there (two clock reads per callback).
        unpatched = self._unpatched = asyncio.Handle._run
        probe = self

        def timed_run(handle: asyncio.Handle) -> None:
            started, cpu = time.perf_counter(), time.thread_time()
            unpatched(handle)
            wall = time.perf_counter() - started
            # A thread cannot run longer than the time that passed; on some VMs its CPU clock jumps by
            # milliseconds between two reads (README, "Results"), a reading no callback caused.
            spent = min(time.thread_time() - cpu, wall)
            probe.max_callback_wall = max(probe.max_callback_wall, wall)
            if spent > probe.max_callback:
                probe.max_callback = spent
                probe.slowest = describe(handle)  # rare: only on a new maximum

        asyncio.Handle._run = timed_run  # type: ignore[method-assign,assignment]

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        elif self._gc_started:  # a stop without its start (added mid-collection) has no length
            self.gc_count += 1
            if now - self._gc_started > self.max_gc:
                self.max_gc = now - self._gc_started
                self.max_gc_generation = info["generation"]
            self._gc_started = 0.0

    def _tick(self) -> None:
        assert self._loop is not None
        now, cpu = time.perf_counter(), time.process_time()
        lag = max(0.0, now - self._due)
        busy = min(lag, cpu - self._cpu)
        self.ticks += 1
        if busy > STALL_THRESHOLD:
            self.stalls += 1
        self.max_lag = max(self.max_lag, lag)
        self.max_busy = max(self.max_busy, busy)
        self._schedule(now, cpu)
