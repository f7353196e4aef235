"""The WebSocket reference: a bare ``tornado.websocket`` server doing no work, no Redis.

``python -m bench.ws_reference`` logs ``ws-reference listening on http://127.0.0.1:<port>``
on stderr and serves:

- ``GET /ws`` (WebSocket): the first message ``{"key": K}`` parks the socket on a
  plain per-key Future; once woken it is sent one message and closed;
- ``POST /wake?key=K``: wakes it;
- ``GET /debug/stats?waiters=N&timeout=S``: once N sockets are parked.

It pings as the service does (``websocket_ping_interval``/``_timeout``, the
service's defaults, or ``--ping-interval`` as the service's), so the two hold
the same per-connection heartbeat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

from tornado.log import enable_pretty_logging
from tornado.web import Application
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from bench.reference import Parked, StatsHandler, WakeHandler, listen_until_stopped
from handlers.push import PING_INTERVAL, PING_TIMEOUT
from runtime.process import event_loop_factory, raise_fd_limit

log = logging.getLogger("bench.ws_reference")


class SocketHandler(WebSocketHandler):
    def initialize(self, parked: Parked) -> None:
        self.parked = parked
        self.key = ""
        self.task: asyncio.Task[None] | None = None

    def on_message(self, message: str | bytes) -> None:
        self.key = json.loads(message)["key"]
        self.task = asyncio.ensure_future(self._park())

    async def _park(self) -> None:
        future = self.parked.futures[self.key] = asyncio.get_running_loop().create_future()
        self.parked.changed.notify_all()
        try:
            await future
        except asyncio.CancelledError:
            return
        try:
            await self.write_message('{"woken":1}')
        except WebSocketClosedError:
            return
        self.close(1000, "woken")

    def on_close(self) -> None:
        future = self.parked.futures.pop(self.key, None)
        if future is not None:
            future.cancel()


async def serve(port: int, ping_interval: float) -> None:
    parked = Parked()
    app = Application(
        [
            (r"/ws", SocketHandler, dict(parked=parked)),
            (r"/wake", WakeHandler, dict(parked=parked)),
            (r"/debug/stats", StatsHandler, dict(parked=parked)),
        ],
        websocket_ping_interval=ping_interval,
        websocket_ping_timeout=min(PING_TIMEOUT, ping_interval),
    )
    await listen_until_stopped(app, port, "ws-reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ping-interval", type=float, default=PING_INTERVAL, help="seconds, as the service's")
    parser.add_argument("--event-loop", default="uvloop", help="uvloop or asyncio, as the service's --event-loop")
    args = parser.parse_args()
    enable_pretty_logging()
    raise_fd_limit()
    with asyncio.Runner(loop_factory=event_loop_factory(args.event_loop)) as runner:
        runner.run(serve(args.port, args.ping_interval))


if __name__ == "__main__":
    main()
