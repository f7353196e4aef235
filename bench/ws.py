"""WebSocket scenarios: N sockets parked on the service's ``/ws`` against a bare ``tornado.websocket``.

``python -m bench.ws`` (``--quick``: N = 100 only, seconds) starts Redis (embedded
unless ``--redis-url``), the benchmark's auth server, and for each N a fresh
service (``main.py``) and a fresh reference (``bench.ws_reference``), one after
the other, and measures for each:

- RSS per socket: the server's RSS with N sockets parked (first message sent,
  waiting on their session), less its RSS before they connected, over N;
- wake latency: a sample of the sockets woken one at a time (the service: a
  ``/confirm`` of the scanned session the socket follows; the reference:
  ``/wake``), from the wake's request leaving to the pushed message arriving;
- the heartbeat's CPU (largest N, ``--heartbeat-seconds``): the server's CPU
  while N sockets sit parked through a few ping intervals (both ping alike),
  beside its CPU with nothing connected (``--idle-seconds``: its own timers);

then full logins in a closed loop (``--logins-seconds``, ``bench.ws_login``),
the PC following its session over ``/ws`` against the long-poll login, each
on a fresh service: logins/s, server CPU and requests per login.

The clients run in this process (``bench.ws_client``, a lean asyncio
WebSocket client; ``bench.http``), so the servers' figures are not the
clients'; the parked sockets' scenario is ``bench.ws_park``.  Figures go to ``bench/results-ws.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import ROOT, Server
from bench.report import publish
from bench.run import LOGIN_ENV, forget_namespace
from bench.ws_login import compare
from bench.ws_park import Windows, park_and_wake, progress
from bench.ws_report import KINDS, evaluate, table
from handlers.push import PING_INTERVAL, PING_TIMEOUT
from redis_map import EmbeddedRedis
from runtime.process import raise_fd_limit

#: where the figures go (gitignored)
DEFAULT_OUT = ROOT / "bench" / "results-ws.json"
#: seconds of CPU measured with nothing connected, before the largest N parks
IDLE_SECONDS = 10.0
#: seconds of each full-login loop in --quick
QUICK_LOGINS = 3.0
#: the service's options: nothing expires or times out during a run
SERVICE_OPTIONS = ["--wait-timeout=600", "--session-ttl=900"]
#: the parked sockets come from one client address: no abuse limits (the full logins run with them, LOGIN_ENV)
NO_LIMITS = ["--rate-limit=off", "--max-connections-per-ip=0"]


@dataclass(frozen=True)
class Options:
    """How both servers run."""

    event_loop: str
    ping_interval: float


def server(
    kind: str, log_dir: Path, redis_url: str, auth_url: str, namespace: str, options: Options, logins: bool = False
) -> Server:
    loop, ping = f"--event-loop={options.event_loop}", f"--ping-interval={options.ping_interval:g}"
    if kind == "reference":
        return Server("ws-reference", ["-m", "bench.ws_reference", loop, ping], log_dir)
    return Server(
        "service",
        [
            "main.py",
            "--port=0",
            "--address=127.0.0.1",
            f"--redis-url={redis_url}",
            f"--auth-url={auth_url}",
            f"--namespace={namespace}",
            "--loop-probe",
            loop,
            ping,
            f"--ping-timeout={min(PING_TIMEOUT, options.ping_interval):g}",
            *SERVICE_OPTIONS,
            *([] if logins else NO_LIMITS),
        ],
        log_dir,
        LOGIN_ENV if logins else None,
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ws", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--redis-url", default="", help="the Redis to use; none: an embedded one")
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated numbers of sockets ('': none)")
    parser.add_argument("--wakes", type=int, default=1000, help="sockets woken, one at a time, per size")
    parser.add_argument(
        "--heartbeat-seconds", type=float, default=2 * PING_INTERVAL, help="CPU window at the largest N (0: skip)"
    )
    parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS, help="CPU window before parking it")
    parser.add_argument("--ping-interval", type=float, default=PING_INTERVAL, help="both servers' (the service's)")
    parser.add_argument("--logins-seconds", type=float, default=10.0, help="each full-login loop (0: skip)")
    parser.add_argument("--concurrency", type=int, default=16, help="PCs logging in at once")
    parser.add_argument("--quick", action="store_true", help="N=100, 20 wakes, no CPU windows, 3 s of logins each")
    parser.add_argument("--event-loop", default="uvloop")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.sizes = [100] if args.quick else [int(size) for size in args.sizes.split(",") if size]
    if args.quick:
        args.wakes, args.heartbeat_seconds, args.idle_seconds, args.logins_seconds = 20, 0.0, 0.0, QUICK_LOGINS
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    options = Options(args.event_loop, args.ping_interval)
    raise_fd_limit()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]},
        "ping_interval": args.ping_interval,
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qrlogin-bench-ws-") as tmp, ExitStack() as stack:
        log_dir = Path(tmp)
        redis_url = args.redis_url or stack.enter_context(EmbeddedRedis()).url
        auth = stack.enter_context(Server("auth", ["-m", "bench.authserver"], log_dir))
        auth_url = f"http://127.0.0.1:{auth.port}/userinfo"
        namespace = f"bench-ws-{secrets.token_hex(4)}"

        def running(kind: str, logins: bool = False) -> Server:
            return server(kind, log_dir, redis_url, auth_url, namespace, options, logins)

        parked = []
        for n in args.sizes:
            entry: dict[str, Any] = {"n": n}
            largest = n == args.sizes[-1]
            windows = Windows(args.idle_seconds, args.heartbeat_seconds) if largest else Windows()
            for kind in KINDS:
                with running(kind) as process:
                    entry[kind] = asyncio.run(park_and_wake(kind, process.port, process.pid, n, args.wakes, windows))
            parked.append(entry)
        if parked:
            results["parked"] = parked
        if args.logins_seconds > 0:
            logins: dict[str, Any] = {"concurrency": args.concurrency}
            for block, transport in enumerate(("long-poll", "websocket"), start=1):
                with running("service", logins=True) as process:
                    run = compare(process.port, process.pid, transport, args.concurrency, args.logins_seconds, block)
                    logins[transport] = asyncio.run(run)
                logins[transport]["requests_per_login"] = logins[transport]["requests"] / logins[transport]["logins"]
                progress(f"logins over {transport}: {logins[transport]['logins_per_s']:.1f}/s")
            results["logins"] = logins
        forget_namespace(redis_url, namespace)
    targets = evaluate(results)
    results["targets"] = [dict(zip(("name", "value", "op", "limit", "met"), t, strict=True)) for t in targets]
    results["seconds"] = time.monotonic() - started
    results["machine"]["load_average_after"] = os.getloadavg()[0]
    publish(args.out, results, table(results, targets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
