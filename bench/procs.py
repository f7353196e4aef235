"""Child processes of the benchmark: started, waited on until they listen, stopped; a client job run to its end;
SIGTERM unwinding the benchmark, so that every child it started is stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis_map.connection.embedded import terminate

#: longest one client job may run
CLIENT_TIMEOUT = 900.0
#: how long a server may take to say it listens
START_TIMEOUT = 30.0
#: how long a server may take to exit on SIGTERM before it is killed
STOP_TIMEOUT = 15.0
#: the line every server of the benchmark logs once it accepts connections
LISTENING = re.compile(r"listening on http://\S+:(\d+)")
#: seconds between looks at a starting server's log
READY_POLL = 0.02
#: log lines shown to explain a failure
TAIL_LINES = 40
#: the repository root, the working directory of every child
ROOT = Path(__file__).resolve().parent.parent


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid``, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The pids of process ``pid``'s children, from /proc (each process's parent is in its stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.append(int(entry.name))
    return sorted(found)


def open_fds(pid: int) -> int:
    """How many files process ``pid`` has open, from /proc."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_limit(pid: int) -> int:
    """Process ``pid``'s open-files limit (its soft limit: the one it runs into), from /proc."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise RuntimeError(f"no open-files limit for process {pid}")


def kernel_counters() -> dict[str, int]:
    """The kernel's network counters, machine-wide: TCP's (``Tcp`` and ``TcpExt`` of /proc/net/snmp and
    /proc/net/netstat, e.g. ListenOverflows, TCPSynRetrans) and ``SoftnetDropped``, packets dropped
    because a CPU's input queue (loopback's too) was full (/proc/net/softnet_stat)."""
    counters: dict[str, int] = {}
    for table in ("/proc/net/snmp", "/proc/net/netstat"):
        lines = [line.split() for line in Path(table).read_text().splitlines()]
        for names, values in zip(lines[::2], lines[1::2], strict=False):
            if names and names[0] in ("Tcp:", "TcpExt:"):
                counters.update(zip(names[1:], map(int, values[1:]), strict=True))
    softnet = Path("/proc/net/softnet_stat").read_text().splitlines()
    counters["SoftnetDropped"] = sum(int(line.split()[1], 16) for line in softnet)
    return counters


class Server:
    """A server child process; ``start()`` returns its port once it logs that it listens.

    Its stderr goes to a log file, not a pipe: nothing in the benchmark has to
    keep reading it, and a busy server's log costs it no more than a file write.
    """

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_dir / f"{name}.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    def start(self) -> int:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, *self.argv], cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self._process.poll() is None:
            match = LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(1))
                return self.port
            time.sleep(READY_POLL)  # a child's log file has no event to wait on
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-TAIL_LINES:])

    def stop(self) -> None:
        if self._process is None:
            return
        terminate(self._process, STOP_TIMEOUT)
        self._process = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_client(job: dict[str, Any], module: str = "bench.client") -> dict[str, Any]:
    """One job in a fresh process running ``module`` (the load client, or the floor's timings); its figures."""
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        input=json.dumps(job),
        stdout=subprocess.PIPE,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"client job {job['label']} failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _terminated(signum: int, frame: object) -> None:
    # SIGTERM (e.g. a test's timeout): unwind, so every server started is stopped.
    raise SystemExit(128 + signum)


def stop_on_sigterm() -> None:
    """SIGTERM (e.g. a test's timeout) unwinds the benchmark, so every server it started is stopped."""
    signal.signal(signal.SIGTERM, _terminated)
