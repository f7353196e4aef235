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
  while N sockets sit parked through a few ping intervals (both ping alike).

The client is a lean asyncio WebSocket client in this process (handshake,
masked frames, pongs), so the servers' figures are not the client's.  Figures
go to ``bench/results-ws.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import secrets
import struct
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis

from bench.client import APP_AUTH, gather_bounded, summary
from bench.http import Connection, HTTPError
from bench.procs import ROOT, Server, cpu_seconds, rss_bytes
from handlers.push import PING_INTERVAL
from redis_map import EmbeddedRedis
from runtime.process import raise_fd_limit

HOST = "127.0.0.1"
#: where the figures go (gitignored)
DEFAULT_OUT = ROOT / "bench" / "results-ws.json"
#: handshakes in flight at once while parking
CONNECT_CONCURRENCY = 64
#: concurrent /uuid + /scan while creating the sessions to follow
CREATE_CONCURRENCY = 32
#: how long the server may take to report all sockets parked
PARK_TIMEOUT = 180.0
#: how long a woken socket may take to get its message
WAKE_TIMEOUT = 30.0
#: sockets parked and woken on each server before anything is measured (at most N/10)
WARMUP = 50
#: the status the sockets say they know: scanned, so the timed wake is the /confirm alone
SCANNED = 1
#: RSS per socket at most this many times the reference's; wake p99 under this, and growing at most this much
RSS_RATIO_LIMIT = 1.3
WAKE_P99_LIMIT_MS = 10.0
WAKE_GROWTH_LIMIT = 2.0
#: the service's options: nothing expires or times out during a run; no abuse limits (one client address)
SERVICE_OPTIONS = ["--wait-timeout=600", "--session-ttl=900", "--rate-limit=off", "--max-connections-per-ip=0"]


def progress(message: str) -> None:
    print(f"[bench.ws] {message}", file=sys.stderr, flush=True)


# -- a lean WebSocket client -----------------------------------------------------------


def frame(opcode: int, payload: bytes) -> bytes:
    """One masked frame (a client must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class Socket(asyncio.Protocol):
    """One client socket: the handshake, the first message, pongs; hands on the next text message."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buffer = b""
        self.open: asyncio.Future[None] = loop.create_future()
        self.message: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open.done():
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.open.set_exception(HTTPError(f"handshake refused: {head[:100]!r}"))
                return
            self.open.set_result(None)
            self.buffer = rest
        self._frames()

    def _frames(self) -> None:
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, start = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, start = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < start + length:
                return
            payload, self.buffer = self.buffer[start : start + length], self.buffer[start + length :]
            if opcode == 0x9 and self.transport is not None:  # ping: the heartbeat wants its pong
                self.transport.write(frame(0xA, payload))
            elif opcode == 0x1 and self.message is not None and not self.message.done():
                self.message.set_result(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(HTTPError("closed during the handshake"))
        if self.message is not None and not self.message.done():
            self.message.set_exception(HTTPError("closed before the message"))

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(frame(0x1, text.encode()))

    def expect(self) -> asyncio.Future[bytes]:
        """The next text message, from now on."""
        self.message = self.loop.create_future()
        return self.message

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(port: int, first: dict[str, Any]) -> Socket:
    loop = asyncio.get_running_loop()
    _, socket = await loop.create_connection(lambda: Socket(loop), HOST, port)
    await asyncio.wait_for(socket.open, 30)
    socket.send(json.dumps(first))
    return socket


# -- one scenario -----------------------------------------------------------------------


async def scanned_sessions(port: int, n: int) -> list[tuple[str, str]]:
    """``n`` (cursor, uuid) of sessions already scanned."""
    conns = [await Connection(HOST, port).open() for _ in range(CREATE_CONCURRENCY)]
    made: list[tuple[str, str]] = []

    async def worker(conn: Connection, count: int) -> None:
        for _ in range(count):
            session = await conn.call("POST", "/uuid")
            await conn.call("POST", "/scan", {"uuid": session["uuid"]}, APP_AUTH)
            made.append((session["cursor"], session["uuid"]))

    share, extra = divmod(n, len(conns))
    await asyncio.gather(*(worker(conn, share + (i < extra)) for i, conn in enumerate(conns)))
    for conn in conns:
        conn.close()
    return made


async def wake(kind: str, waker: Connection, socket: Socket, key: str) -> float:
    """Wakes one parked socket; milliseconds from the wake leaving to its message arriving."""
    arrived = socket.expect()
    began = time.perf_counter()
    if kind == "service":
        waker.send("POST", "/confirm", json.dumps({"uuid": key}).encode(), APP_AUTH)
    else:
        waker.send("POST", f"/wake?key={key}")
    message = await asyncio.wait_for(arrived, WAKE_TIMEOUT)
    took = (time.perf_counter() - began) * 1000
    if kind == "service" and json.loads(message)["status"] != 2:
        raise HTTPError(f"unexpected push {message[:200]!r}")
    status, body = await waker.answer()
    if status != 200:
        raise HTTPError(f"wake answered {status}: {body[:200]!r}")
    return took


async def park_and_wake(kind: str, port: int, pid: int, n: int, wakes: int, heartbeat: float) -> dict[str, Any]:
    warm = max(1, min(WARMUP, n // 10))
    if kind == "service":
        keys = await scanned_sessions(port, n + warm)
        firsts = [{"cursor": cursor, "status": SCANNED} for cursor, _ in keys]
    else:
        keys = [(str(i), str(i)) for i in range(n + warm)]
        firsts = [{"key": key} for key, _ in keys]
    # Warm both servers up alike: a few sockets parked and woken before anything is measured.
    waker = await Connection(HOST, port).open()
    for index in range(n, n + warm):
        socket = await connect(port, firsts[index])
        control = await Connection(HOST, port).open()
        await control.call("GET", "/debug/stats?waiters=1&timeout=30")
        control.close()
        await wake(kind, waker, socket, keys[index][1])
        socket.close()
    waker.close()

    result: dict[str, Any] = {"n": n, "rss_before": rss_bytes(pid)}
    started = time.perf_counter()
    parking = (functools.partial(connect, port, first) for first in firsts[:n])
    sockets = await gather_bounded(CONNECT_CONCURRENCY, parking)
    # Opened now: the service closes HTTP connections idle for 15 s.
    control = await Connection(HOST, port).open()
    stats = await control.call("GET", f"/debug/stats?waiters={n}&timeout={PARK_TIMEOUT:.0f}")
    if not stats["reached"]:
        raise HTTPError(f"{kind}: only {stats['waiters']} of {n} sockets parked")
    result["park_seconds"] = time.perf_counter() - started
    result["parked"] = stats["waiters"]
    control.close()
    result["rss_parked"] = rss_bytes(pid)
    result["rss_per_socket"] = (result["rss_parked"] - result["rss_before"]) / n
    progress(f"{kind} N={n}: parked in {result['park_seconds']:.1f} s, {result['rss_per_socket'] / 1024:.2f} KiB each")

    if heartbeat > 0:
        # The sockets left parked, through a few ping intervals: the heartbeat's cost (and the loop's idle ticks).
        before = cpu_seconds(pid)
        await asyncio.sleep(heartbeat)  # a measured window, not a synchronisation
        result["heartbeat_cpu_ms_per_s"] = (cpu_seconds(pid) - before) * 1000 / heartbeat

    waker = await Connection(HOST, port).open()
    step = max(1, n // wakes)
    latencies = [await wake(kind, waker, sockets[index], keys[index][1]) for index in range(0, n, step)[:wakes]]
    result["wake"] = summary(latencies)
    for socket in sockets:
        socket.close()
    waker.close()
    return result


# -- the run ----------------------------------------------------------------------------


def server(kind: str, log_dir: Path, redis_url: str, auth_url: str, namespace: str, event_loop: str) -> Server:
    if kind == "reference":
        return Server("ws-reference", ["-m", "bench.ws_reference", f"--event-loop={event_loop}"], log_dir)
    return Server(
        "service",
        [
            "main.py",
            "--port=0",
            "--address=127.0.0.1",
            f"--redis-url={redis_url}",
            f"--auth-url={auth_url}",
            f"--namespace={namespace}",
            f"--secret={secrets.token_urlsafe(32)}",
            "--loop-probe",
            f"--event-loop={event_loop}",
            *SERVICE_OPTIONS,
        ],
        log_dir,
    )


def evaluate(results: dict[str, Any]) -> list[tuple[str, float, str, float, bool]]:
    parked = results["parked"]
    for entry in parked:
        ours, bare = entry["service"], entry["reference"]
        entry["ratios"] = {
            "rss_per_socket": ours["rss_per_socket"] / bare["rss_per_socket"],
            "wake_p99": ours["wake"]["p99_ms"] / bare["wake"]["p99_ms"],
        }
    small, large = parked[0], parked[-1]
    growth = large["service"]["wake"]["p99_ms"] / small["service"]["wake"]["p99_ms"]
    n = large["n"]
    targets = [
        (f"RSS per socket / bare tornado.websocket (N={n})", large["ratios"]["rss_per_socket"], "<=", RSS_RATIO_LIMIT),
        (f"wake p99 at N={n} (ms)", large["service"]["wake"]["p99_ms"], "<", WAKE_P99_LIMIT_MS),
        (f"wake p99 N={n} / N={small['n']}", growth, "<=", WAKE_GROWTH_LIMIT),
    ]
    return [
        (name, value, op, limit, value <= limit if op == "<=" else value < limit) for name, value, op, limit in targets
    ]


def table(results: dict[str, Any], targets: list[tuple[str, float, str, float, bool]]) -> str:
    lines = ["| scenario | figure | qrlogin | bare tornado.websocket | ratio |", "|---|---|---:|---:|---:|"]
    for entry in results["parked"]:
        ours, bare = entry["service"], entry["reference"]
        lines.append(
            f"| sockets N={entry['n']:,} | RSS per socket (KiB) | {ours['rss_per_socket'] / 1024:.2f} | "
            f"{bare['rss_per_socket'] / 1024:.2f} | {entry['ratios']['rss_per_socket']:.2f}x |"
        )
        for q in ("p50", "p99"):
            line = f"|  | wake {q} (ms) | {ours['wake'][f'{q}_ms']:.2f} | {bare['wake'][f'{q}_ms']:.2f} |"
            lines.append(line + (f" {entry['ratios']['wake_p99']:.2f}x |" if q == "p99" else "  |"))
        lines.append(f"|  | wake max (ms) | {ours['wake']['max_ms']:.2f} | {bare['wake']['max_ms']:.2f} |  |")
        if "heartbeat_cpu_ms_per_s" in ours:
            lines.append(
                f"|  | CPU while parked, pinging every {PING_INTERVAL:g} s (ms per s) | "
                f"{ours['heartbeat_cpu_ms_per_s']:.1f} | {bare['heartbeat_cpu_ms_per_s']:.1f} |  |"
            )
    lines += ["", "| target | measured | limit | met |", "|---|---:|---|---|"]
    for name, value, op, limit, met in targets:
        lines.append(f"| {name} | {value:.2f} | {op} {limit:g} | {'yes' if met else '**NO**'} |")
    return "\n".join(lines)


def forget(redis_url: str, namespace: str) -> None:
    """Delete this run's keys (and only those) from the Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ws", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--redis-url", default="", help="the Redis to use; none: an embedded one")
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated numbers of sockets")
    parser.add_argument("--wakes", type=int, default=1000, help="sockets woken, one at a time, per size")
    parser.add_argument(
        "--heartbeat-seconds", type=float, default=2 * PING_INTERVAL, help="CPU window at the largest N (0: skip)"
    )
    parser.add_argument("--quick", action="store_true", help="N=100, 20 wakes, no heartbeat window")
    parser.add_argument("--event-loop", default="uvloop")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    sizes = [100] if args.quick else [int(size) for size in args.sizes.split(",")]
    wakes = 20 if args.quick else args.wakes
    heartbeat = 0.0 if args.quick else args.heartbeat_seconds
    raise_fd_limit()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qrlogin-bench-ws-") as tmp, ExitStack() as stack:
        log_dir = Path(tmp)
        redis_url = args.redis_url or stack.enter_context(EmbeddedRedis()).url
        auth = stack.enter_context(Server("auth", ["-m", "bench.authserver"], log_dir))
        auth_url = f"http://127.0.0.1:{auth.port}/userinfo"
        namespace = f"bench-ws-{secrets.token_hex(4)}"
        parked = []
        for n in sizes:
            entry: dict[str, Any] = {"n": n}
            window = heartbeat if n == sizes[-1] else 0.0
            for kind in ("reference", "service"):
                with server(kind, log_dir, redis_url, auth_url, namespace, args.event_loop) as running:
                    entry[kind] = asyncio.run(park_and_wake(kind, running.port, running.pid, n, wakes, window))
            parked.append(entry)
        results["parked"] = parked
        forget(redis_url, namespace)
    targets = evaluate(results)
    results["targets"] = [dict(zip(("name", "value", "op", "limit", "met"), t, strict=True)) for t in targets]
    results["seconds"] = time.monotonic() - started
    results["machine"]["load_average_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results, targets))
    print(f"\nfigures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
