"""``python main.py`` as ops run it: embedded Redis, demo auth, options from the environment."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.procs import run_main

ROOT = Path(__file__).resolve().parent.parent
#: how long the service may take to start or stop
PROCESS_TIMEOUT = 30.0


class Process:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def line_matching(self, pattern: str) -> re.Match[str]:
        """Read the service's log until a line matches; fails at EOF or timeout."""
        assert self.process.stderr is not None
        regex = re.compile(pattern)
        async with asyncio.timeout(PROCESS_TIMEOUT):
            while True:
                raw = await self.process.stderr.readline()
                if not raw:
                    raise AssertionError(f"no line matching {pattern!r} in:\n" + "".join(self.lines))
                line = raw.decode(errors="replace")
                self.lines.append(line)
                match = regex.search(line)
                if match:
                    return match


@pytest.fixture
async def service_process() -> AsyncIterator[Process]:
    env = {**os.environ, "QRLOGIN_SESSION_TTL": "45", "QRLOGIN_PORT": "0", "QRLOGIN_ADDRESS": "127.0.0.1"}
    env.pop("QRLOGIN_REDIS_URL", None)
    env.pop("QRLOGIN_AUTH_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "--wait-timeout=20", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    process = Process(proc)
    yield process
    if proc.returncode is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the service and anything it started
        await proc.wait()


def test_main_refuses_an_unknown_event_loop() -> None:
    process = run_main("--event-loop=tokio")
    assert process.wait() != 0
    process.stop()  # its output read to the end
    assert any("qrlogin: --event-loop: 'tokio' is not one of uvloop, asyncio" in line for line in process.lines)


async def call(port: int, path: str, body: dict[str, str] | None = None, user: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {user}"} if user else {}
    request = HTTPRequest(f"http://127.0.0.1:{port}{path}", method="POST", body=json.dumps(body or {}), headers=headers)
    response = await AsyncHTTPClient().fetch(request)
    answer: dict[str, object] = json.loads(response.body)
    return answer


async def test_main_runs_a_whole_demo_login_and_stops_cleanly(service_process: Process) -> None:
    embedded = await service_process.line_matching(r"embedded Redis at unix://(\S+)")
    socket_path = Path(embedded.group(1))
    port = int((await service_process.line_matching(r"listening on http://\S+:(\d+)")).group(1))
    await service_process.line_matching(r"event loop: uvloop\.")  # the default
    await service_process.line_matching(r"DEMO MODE")

    session = await call(port, "/uuid")
    assert session["expires_in"] == 45  # from QRLOGIN_SESSION_TTL
    uuid, cursor = str(session["uuid"]), str(session["cursor"])
    assert (await call(port, "/scan", {"uuid": uuid}, user="demo:dana"))["state"] == "scanned"
    assert (await call(port, "/confirm", {"uuid": uuid}, user="demo:dana"))["state"] == "confirmed"
    waited = await call(port, "/wait", {"cursor": cursor})
    assert waited["status"] == 2
    token = await call(port, "/token", {"cursor": cursor, "code": str(waited["code"])})
    assert token["user"] == {"sub": "demo:dana", "name": "dana", "picture": ""}

    service_process.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(PROCESS_TIMEOUT):
        assert await service_process.process.wait() == 0
    assert not socket_path.exists()  # noqa: ASYNC240 (the embedded Redis went with it)
