"""Running the service as several worker processes on the same listening sockets.

The sockets are bound before forking, so the kernel spreads connections over
the workers; each worker then builds its own event loop, Redis clients,
listener and waiter registry (nothing of that may cross a fork).  A confirm
served by one worker wakes a long-poll parked in another through Redis pub/sub,
exactly as between machines.

This follows ``tornado.process.fork_processes`` (workers that crash are
restarted with the same id), with differences that matter in production:

- the supervising parent forwards SIGTERM and SIGINT to its workers and waits
  for them to finish, instead of dying and orphaning them.  Only then does it
  return, so whoever called it can stop what it started (the embedded Redis);
- workers stop when the supervisor dies, even by SIGKILL: each holds the read
  end of a pipe whose write end only the supervisor keeps, and a thread sees
  it close (the kernel closes it on any death).  On Linux the kernel also
  sends SIGTERM at once (``PR_SET_PDEATHSIG``).  Either way the worker stops
  gracefully, and exits anyway ``ORPHAN_STOP_MARGIN`` after its stop deadline;
- a worker that keeps failing at start-up (Redis refusing it, a bad file) is
  not restarted forever: after ``MAX_QUICK_FAILURES`` quick failures in a row
  the supervisor stops the others and raises ``WorkersFailing``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("qrlogin.workers")

#: a worker that exits within this many seconds of being forked failed to start: longer than the
#: slowest start-up that can still succeed (the change listener waits up to 10 s to subscribe)
QUICK_EXIT = 30.0
#: quick failures in a row of one worker after which the supervisor gives up: a passing fault
#: (Redis restarting) gets retried, a standing one (Redis refusing us) ends within ~a minute
MAX_QUICK_FAILURES = 3
#: the service's stop deadline when the caller names none (--stop-timeout's default)
DEFAULT_STOP_TIMEOUT = 20.0
#: how much longer than that deadline a stopping worker gets before it is ended (killed by the
#: supervisor giving up, or by itself when orphaned): its own deadline should end it first
ORPHAN_STOP_MARGIN = 10.0
#: exit status of an orphaned worker whose stop outlived that (sysexits' EX_SOFTWARE)
ORPHAN_EXIT_STATUS = 70
#: the signals the supervisor passes on to its workers
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: prctl option: the signal a process gets when the thread that forked it dies
PR_SET_PDEATHSIG = 1


class WorkersFailing(Exception):
    """A worker failed at start again and again; the message is the one line for the operator."""


def worker_count(requested: int) -> int:
    """``requested`` workers; 0 or less: one per core."""
    if requested > 0:
        return requested
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe_exit(status: int) -> str:
    """A wait status in words: "exit status 1", "killed by SIGKILL"."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class Supervisor:
    """Forks the workers, restarts crashed ones, passes stop signals on; workers die with it."""

    def __init__(
        self, count: int, on_exit: Callable[[int], None] | None = None, stop_timeout: float = DEFAULT_STOP_TIMEOUT
    ) -> None:
        self.count = count
        #: how long a stopping worker may take before it is ended (by us, or by itself if orphaned)
        self.stop_deadline = stop_timeout + ORPHAN_STOP_MARGIN
        #: called with each worker's pid once it has exited (e.g. to drop its live metrics)
        self._on_exit = on_exit
        self._children: dict[int, int] = {}
        self._started: dict[int, float] = {}  # worker id -> when it was last forked
        self._quick_failures: dict[int, int] = {}  # worker id -> quick failures in a row
        self._stopping = False
        self._previous: dict[int, signal.Handlers | int | None] = {}
        # Closes when the supervisor dies: the workers' sign to stop. Only the
        # supervisor keeps the write end (workers close theirs), and both ends
        # are close-on-exec, so nothing it runs (redis-server) keeps it open.
        self._lifeline: tuple[int, int] | None = None

    def run(self) -> int | None:
        """In a worker: returns its id (0 .. count-1), at once.

        In the supervisor: returns None once every worker has exited (after a
        stop signal, or by itself with status 0); raises WorkersFailing when a
        worker failed at start MAX_QUICK_FAILURES times in a row (the other
        workers are stopped first).
        """
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.getsignal(signum)  # type: ignore[assignment]
            signal.signal(signum, self._forward)
        self._lifeline = os.pipe()
        log.info("starting %d worker processes", self.count)
        for worker_id in range(self.count):
            if self._fork(worker_id):
                return worker_id
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
            failure = self._count_failure(worker_id, status)
            if failure is not None:
                self._give_up()
                raise WorkersFailing(failure)
            log.warning("worker %d (pid %d) died (%s); restarting", worker_id, pid, describe_exit(status))
            if self._fork(worker_id):
                return worker_id
        self._finish()
        return None

    def _count_failure(self, worker_id: int, status: int) -> str | None:
        """Records a worker's crash; the reason to give up, if it is one quick failure too many."""
        quick = time.monotonic() - self._started[worker_id] < QUICK_EXIT
        failures = self._quick_failures.get(worker_id, 0) + 1 if quick else 0
        self._quick_failures[worker_id] = failures
        if failures < MAX_QUICK_FAILURES:
            return None
        return (
            f"worker {worker_id} failed {failures} times in a row within {QUICK_EXIT:.0f}s of starting"
            f" (last: {describe_exit(status)}); giving up (its log is above)"
        )

    def _give_up(self) -> None:
        """Stops the other workers and waits for them, killing those still running after ``stop_deadline``."""
        self._stopping = True
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = threading.Timer(self.stop_deadline, self._kill_children)
        deadline.daemon = True
        deadline.start()
        try:
            while self._children:
                try:
                    pid, _ = os.wait()
                except ChildProcessError:
                    break
                if self._children.pop(pid, None) is not None and self._on_exit is not None:
                    self._on_exit(pid)
        finally:
            deadline.cancel()
            self._finish()

    def _kill_children(self) -> None:
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _finish(self) -> None:
        self._restore_signals()
        if self._lifeline is not None:
            for fd in self._lifeline:
                os.close(fd)
            self._lifeline = None

    def _fork(self, worker_id: int) -> bool:
        """Starts one worker; True in the worker itself."""
        assert self._lifeline is not None
        parent = os.getpid()
        # PR_SET_PDEATHSIG fires when the *thread* that forked dies, not the
        # process: only the main thread lives exactly as long as we do.
        from_main_thread = threading.current_thread() is threading.main_thread()
        # Signals wait until the new pid is recorded (in the supervisor) or the
        # default handlers are back (in the worker), so none is lost or misrouted.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._children.clear()
                self._restore_signals()
                random.seed()  # as fork_processes does: workers must not share a random sequence
                watch_the_supervisor(parent, self._lifeline, death_signal=from_main_thread, deadline=self.stop_deadline)
                return True
            self._children[pid] = worker_id
            self._started[worker_id] = time.monotonic()
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


def watch_the_supervisor(parent: int, lifeline: tuple[int, int], *, death_signal: bool, deadline: float) -> None:
    """In a new worker: stop (SIGTERM, as a service manager would) when the supervisor ``parent`` dies.

    A worker still running ``deadline`` seconds after that exits at once.
    """
    read_end, write_end = lifeline
    os.close(write_end)  # else this worker alone would keep the pipe open
    signalled = death_signal and _arm_death_signal(parent)
    threading.Thread(
        target=_stop_when_closed,
        args=(parent, read_end, signalled, deadline),
        name="qrlogin-supervisor-watch",
        daemon=True,
    ).start()


def _arm_death_signal(parent: int) -> bool:
    """Linux: have the kernel send SIGTERM when the supervisor dies; True if it will."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    # It may have died between our fork and the prctl: then nobody sends the signal.
    return os.getppid() == parent


def _stop_when_closed(parent: int, read_end: int, signalled: bool, deadline: float) -> None:
    while os.read(read_end, 1):
        pass  # nothing is ever written: only the end of the pipe counts
    log.warning("the supervisor (pid %d) is gone: stopping", parent)
    if not signalled:  # one SIGTERM only: a second one may mean "stop at once"
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(deadline)  # this thread's only job left; the process normally exits long before
    log.error("still stopping %.0fs after the supervisor died: exiting now", deadline)
    logging.shutdown()
    os._exit(ORPHAN_EXIT_STATUS)
