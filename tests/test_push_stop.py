"""SIGTERM to a real ``python main.py`` with sockets and streams open: each gets its state, then 1012 or the end."""

from __future__ import annotations

import signal
import time

from handlers.socket import CloseCode
from tests.process import ServiceProcess
from tests.push_clients import EventStream, closed_with, follow_socket, open_socket, pushed
from tests.service import TEST_SECRET

#: how long the whole stop may take: nothing is slow, so far less than SHUTDOWN_GRACE
EXIT_BOUND = 15.0


async def test_stop_pushes_each_socket_its_state_then_closes_1012_and_ends_each_stream(
    redis_url: str, namespace: str
) -> None:
    service = ServiceProcess(
        f"--redis-url={redis_url}",
        f"--namespace={namespace}",
        f"--secret={TEST_SECRET}",
        "--wait-timeout=60",
        "--loop-probe",  # /debug/stats?waiters=N: wait until they are parked in the process
    )
    await service.start()
    sockets = []
    stream: EventStream | None = None
    try:
        waiting, scanned, streamed = [await service.new_session() for _ in range(3)]
        assert (await service.post("/scan", {"uuid": scanned["uuid"]}, user="demo:alice")).code == 200
        sockets = [
            await follow_socket(service.base_url, waiting["cursor"], 0),
            await follow_socket(service.base_url, scanned["cursor"], 1),
        ]
        silent = await open_socket(service.base_url)  # opened, its first message not sent yet
        stream = EventStream(service.base_url, {"cursor": streamed["cursor"], "status": 0})
        parked = await service.request("GET", "/debug/stats?waiters=3&timeout=10")
        assert parked.body["waiters"] == 3

        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        # Each socket: the session as it is now (even if the PC knew it), then "reconnect".
        first, second = [await pushed(socket) for socket in sockets]
        assert first is not None and first == {"status": 0, "state": "waiting", "expires_in": first["expires_in"]}
        assert second is not None and second["status"] == 1 and second["user"]["sub"] == "demo:alice"
        for socket in (*sockets, silent):
            assert await closed_with(socket) == (CloseCode.RESTART, "service restart")
        # The stream: its state, then the end (the client reopens it elsewhere with the status it knows).
        event = await stream.next()
        assert event is not None and event.json()["state"] == "waiting"
        await stream.ended()
        assert time.monotonic() - signalled < 5

        assert await service.exit_code(EXIT_BOUND) == 0
    finally:
        if stream is not None:
            stream.close()
        await service.stop()
        print("\n".join(service.lines))

    assert service.lines[-1].endswith("stopped")
    assert not [line for line in service.lines if "Traceback" in line or "still open" in line]
