"""Running the service as several worker processes on the same listening sockets.

The sockets are bound before forking, so the kernel spreads connections over
the workers; each worker then builds its own event loop, Redis clients,
listener and waiter registry (nothing of that may cross a fork).  A confirm
served by one worker wakes a long-poll parked in another through Redis pub/sub,
exactly as between machines.

This follows ``tornado.process.fork_processes`` (workers that crash are
restarted with the same id), with one difference that matters in production:
the supervising parent forwards SIGTERM and SIGINT to its workers and waits
for them to finish, instead of dying and orphaning them.  Only then does it
return, so whoever called it can stop what it started (the embedded Redis).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("qrlogin.workers")

#: how many worker crashes in all are restarted before the supervisor gives up
MAX_RESTARTS = 100
#: the signals the supervisor passes on to its workers
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def worker_count(requested: int) -> int:
    """``requested`` workers; 0 or less: one per core."""
    if requested > 0:
        return requested
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Supervisor:
    """Forks the workers, restarts crashed ones, passes stop signals on."""

    def __init__(self, count: int, on_exit: Callable[[int], None] | None = None) -> None:
        self.count = count
        #: called with each worker's pid once it has exited (e.g. to drop its live metrics)
        self._on_exit = on_exit
        self._children: dict[int, int] = {}
        self._stopping = False
        self._previous: dict[int, signal.Handlers | int | None] = {}

    def run(self) -> int | None:
        """In a worker: returns its id (0 .. count-1), at once.

        In the supervisor: returns None once every worker has exited (after a
        stop signal, or by itself with status 0).
        """
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.getsignal(signum)  # type: ignore[assignment]
            signal.signal(signum, self._forward)
        log.info("starting %d worker processes", self.count)
        for worker_id in range(self.count):
            if self._fork(worker_id):
                return worker_id
        restarts = 0
        while self._children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            worker_id = self._children.pop(pid, -1)
            if worker_id < 0:
                continue  # another child of ours (an embedded Redis), not a worker
            if self._on_exit is not None:
                self._on_exit(pid)
            if self._stopping or os.waitstatus_to_exitcode(status) == 0:
                log.info("worker %d (pid %d) exited", worker_id, pid)
                continue
            log.warning("worker %d (pid %d) died (%d); restarting", worker_id, pid, os.waitstatus_to_exitcode(status))
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise RuntimeError("too many worker restarts, giving up")
            if self._fork(worker_id):
                return worker_id
        self._restore_signals()
        return None

    def _fork(self, worker_id: int) -> bool:
        """Starts one worker; True in the worker itself."""
        # Signals wait until the new pid is recorded (in the supervisor) or the
        # default handlers are back (in the worker), so none is lost or misrouted.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._children.clear()
                self._restore_signals()
                random.seed()  # as fork_processes does: workers must not share a random sequence
                return True
            self._children[pid] = worker_id
            return False
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("stopping %d workers", len(self._children))
        self._stopping = True
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):  # already gone; os.wait() will tell
                os.kill(pid, signum)

    def _restore_signals(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
