"""The reference: a bare Tornado server doing no work, no Redis.

``python -m bench.reference --port 0`` logs ``reference listening on
http://127.0.0.1:<port>`` on stderr and serves:

- ``POST /hello``: a tiny constant answer (the requests-per-second baseline);
- ``POST /wait?key=K``: parks on a plain per-key Future until ``POST /wake?key=K``;
- ``GET /debug/stats?waiters=N&timeout=S``: like the service's, once N are parked.

With ``--loop-probe`` it runs the service's loop-lag probe (``diagnostics.plugin.start_probe``) and its
``/debug/stats`` answers the probe's figures and honours the service's flags (``reset=1``, ``callbacks=1/0``,
``lateness=0/1``): on asyncio's loop, bare Tornado's longest callback under the same load, timed alike.  Without
it, no probe: its CPU per request, the denominator of the benchmark's CPU ratios, pays no probe's timer.
With ``--collector`` it runs the service's garbage-collector policy (``runtime/collector.py``: survivors frozen),
so that its longest callback is not CPython's full collection of a heap of parked requests, which the service
does not run (``/debug/stats?frozen=1`` gives ``gc_frozen``, the objects frozen).

The benchmark's figures for the service are ratios to this one's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.locks import Condition
from tornado.log import enable_pretty_logging
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from diagnostics.loopprobe import LoopLagProbe
from diagnostics.plugin import probe_stats, start_probe
from runtime.collector import Collector
from runtime.process import LISTEN_BACKLOG, event_loop_factory, raise_fd_limit

log = logging.getLogger("bench.reference")


class Parked:
    """The per-key futures of the parked requests, and a condition on their count."""

    def __init__(self) -> None:
        self.futures: dict[str, asyncio.Future[None]] = {}
        self.changed = Condition()


class HelloHandler(RequestHandler):
    def post(self) -> None:
        self.finish(b'{"ok":1}')


class WaitHandler(RequestHandler):
    def initialize(self, parked: Parked) -> None:
        self.parked = parked
        self.key = ""

    async def post(self) -> None:
        self.key = self.get_query_argument("key")
        future = self.parked.futures[self.key] = asyncio.get_running_loop().create_future()
        self.parked.changed.notify_all()
        try:
            await future
        except asyncio.CancelledError:
            return
        self.finish(b'{"woken":1}')

    def on_connection_close(self) -> None:
        future = self.parked.futures.pop(self.key, None)
        if future is not None:
            future.cancel()


class WakeHandler(RequestHandler):
    def initialize(self, parked: Parked) -> None:
        self.parked = parked

    def post(self) -> None:
        future = self.parked.futures.pop(self.get_query_argument("key"), None)
        if future is not None and not future.done():
            future.set_result(None)
        self.finish(b'{"ok":1}')


class StatsHandler(RequestHandler):
    """The parked count (once ``waiters`` are parked, bounded by ``timeout``), and the probe's figures if it runs."""

    def initialize(self, parked: Parked, probe: LoopLagProbe | None = None) -> None:
        self.parked = parked
        self.probe = probe

    async def get(self) -> None:
        wanted = int(self.get_query_argument("waiters", "0"))
        deadline = IOLoop.current().time() + float(self.get_query_argument("timeout", "10"))
        while len(self.parked.futures) < wanted:
            if not await self.parked.changed.wait(timeout=deadline):
                break
        stats: dict[str, float | int | bool | str] = {
            "waiters": len(self.parked.futures),
            "reached": len(self.parked.futures) >= wanted,
        }
        if self.probe is not None:
            stats.update(probe_stats(self.probe, lambda name: self.get_query_argument(name, None)))
        if self.get_query_argument("frozen", "0") == "1":  # a walk of every frozen object: not in a timed run
            stats["gc_frozen"] = gc.get_freeze_count()
        self.finish(stats)


async def listen_until_stopped(app: Application, port: int, name: str, collector: bool = False) -> None:
    """Serve ``app`` on loopback ``port`` until SIGINT or SIGTERM; with ``collector``, under the service's
    garbage-collector policy."""
    # The service's backlog: a burst of parking PCs reaches both servers alike.
    sockets = bind_sockets(port, "127.0.0.1", backlog=LISTEN_BACKLOG)
    server = HTTPServer(app)
    server.add_sockets(sockets)
    open_now = server._connections  # Tornado's set of open HTTP connections, as the service's serve() reads
    policy = Collector(lambda: len(open_now)) if collector else None
    if policy is not None:
        policy.install()
    log.info("%s listening on http://127.0.0.1:%d", name, sockets[0].getsockname()[1])
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await stopping.wait()
    server.stop()
    if policy is not None:
        policy.uninstall()


async def serve(port: int, loop_probe: bool = False, collector: bool = False) -> None:
    parked = Parked()
    probe = start_probe() if loop_probe else None
    app = Application(
        [
            (r"/hello", HelloHandler),
            (r"/wait", WaitHandler, dict(parked=parked)),
            (r"/wake", WakeHandler, dict(parked=parked)),
            (r"/debug/stats", StatsHandler, dict(parked=parked, probe=probe)),
        ]
    )
    try:
        await listen_until_stopped(app, port, "reference", collector)
    finally:
        if probe is not None:
            probe.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--event-loop", default="uvloop", help="uvloop or asyncio, as the service's --event-loop")
    parser.add_argument("--loop-probe", action="store_true", help="run the service's loop probe (see above)")
    parser.add_argument("--collector", action="store_true", help="run the service's garbage-collector policy")
    args = parser.parse_args()
    # Tornado's own logging, as main.py has: both servers log every request alike.
    enable_pretty_logging()
    raise_fd_limit()
    with asyncio.Runner(loop_factory=event_loop_factory(args.event_loop)) as runner:
        runner.run(serve(args.port, args.loop_probe, args.collector))


if __name__ == "__main__":
    main()
