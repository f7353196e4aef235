"""A real ``python main.py`` in a child process, for shutdown, metrics and soak tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from tests.service import Client

#: the repository root, where main.py is
ROOT = Path(__file__).resolve().parent.parent
#: how long the process may take to start listening
START_TIMEOUT = 30.0
LISTENING = re.compile(r"listening on http://\S+:(\d+)")


class ServiceProcess(Client):
    """Runs main.py with ``options``; every stderr line is kept in ``lines``."""

    def __init__(self, *options: str, env: dict[str, str] | None = None) -> None:
        self.options = options
        self.env = env
        self.lines: list[str] = []
        self.port = 0
        self.http = AsyncHTTPClient(force_instance=True, max_clients=1000)
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listening: asyncio.Future[int] | None = None

    async def start(self) -> ServiceProcess:
        self._listening = asyncio.get_running_loop().create_future()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "--port=0",
            "--address=127.0.0.1",
            *self.options,
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        self.port = await asyncio.wait_for(self._listening, START_TIMEOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def exit_code(self, timeout: float) -> int:
        """Wait for the process to exit on its own; its exit code."""
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    async def stop(self) -> None:
        """Make sure it is gone (the tests stop it properly themselves)."""
        self.http.close()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            match = LISTENING.search(line)
            if match and self._listening is not None and not self._listening.done():
                self._listening.set_result(int(match.group(1)))
        if self._listening is not None and not self._listening.done():
            self._listening.set_exception(RuntimeError("main.py exited:\n" + "\n".join(self.lines[-30:])))
