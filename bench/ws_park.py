"""The WebSocket bench's parked sockets: N parked on one server, then woken one at a time, with its RSS per socket,
the wakes' latency and the heartbeat's CPU (``park_and_wake``)."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.client_tools import APP_AUTH, gather_bounded, summary
from bench.http import Connection, HTTPError
from bench.park import scanned_sessions
from bench.procs import cpu_seconds, rss_bytes
from bench.ws_client import HOST, Socket, connect

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


def progress(message: str) -> None:
    print(f"[bench.ws] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Windows:
    """Seconds of CPU measurement at a size: with nothing connected, then with the sockets parked (0: none)."""

    idle: float = 0.0
    heartbeat: float = 0.0


async def sessions_to_park(port: int, n: int) -> list[tuple[str, str]]:
    """``n`` (cursor, uuid) of sessions already scanned, made over connections of their own."""
    conns = [await Connection(HOST, port).open() for _ in range(CREATE_CONCURRENCY)]
    try:
        return await scanned_sessions(conns, n)
    finally:
        for conn in conns:
            conn.close()


async def wake(kind: str, waker: Connection, socket: Socket, key: str) -> float:
    """Wakes one parked socket; milliseconds from the wake leaving to its message arriving."""
    began = time.perf_counter()
    if kind == "service":
        waker.send("POST", "/confirm", json.dumps({"uuid": key}).encode(), APP_AUTH)
    else:
        waker.send("POST", f"/wake?key={key}")
    message = await asyncio.wait_for(socket.message(), WAKE_TIMEOUT)
    took = (time.perf_counter() - began) * 1000
    if kind == "service" and json.loads(message)["status"] != 2:
        raise HTTPError(f"unexpected push {message[:200]!r}")
    status, body = await waker.answer()
    if status != 200:
        raise HTTPError(f"wake answered {status}: {body[:200]!r}")
    return took


async def cpu_ms_per_s(pid: int, seconds: float) -> float:
    """The CPU process ``pid`` uses over ``seconds`` of wall clock, in ms per s."""
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)  # a measured window, not a synchronisation
    return (cpu_seconds(pid) - before) * 1000 / seconds


async def park(kind: str, port: int, firsts: list[dict[str, Any]]) -> tuple[list[Socket], float, int]:
    """Sockets sent these first messages, once the server counts them all parked; the seconds that took,
    and how many the server counts."""
    started = time.perf_counter()
    sockets = await gather_bounded(CONNECT_CONCURRENCY, (functools.partial(connect, port, f) for f in firsts))
    control = await Connection(HOST, port).open()
    stats = await control.call("GET", f"/debug/stats?waiters={len(firsts)}&timeout={PARK_TIMEOUT:.0f}")
    control.close()
    if not stats["reached"]:
        raise HTTPError(f"{kind}: only {stats['waiters']} of {len(firsts)} sockets parked")
    return sockets, time.perf_counter() - started, stats["waiters"]


async def park_and_wake(kind: str, port: int, pid: int, n: int, wakes: int, windows: Windows) -> dict[str, Any]:
    warm = max(1, min(WARMUP, n // 10))
    # Fewer sockets than wakes: park and wake all N again, until a small N's p99 rests on as many samples.
    rounds = -(-wakes // n)
    if kind == "service":
        keys = await sessions_to_park(port, n * rounds + warm)
        firsts = [{"cursor": cursor, "status": SCANNED} for cursor, _ in keys]
    else:
        keys = [(str(i), str(i)) for i in range(n * rounds + warm)]
        firsts = [{"key": key} for key, _ in keys]
    # Warm both servers up alike: a few sockets parked and woken before anything is measured.
    waker = await Connection(HOST, port).open()
    for index in range(n * rounds, n * rounds + warm):
        (socket,), _, _ = await park(kind, port, [firsts[index]])
        await wake(kind, waker, socket, keys[index][1])
        socket.close()
    waker.close()

    result: dict[str, Any] = {"n": n}
    if windows.idle > 0:  # what the server spends with nothing connected: its own timers
        result["idle_cpu_ms_per_s"] = await cpu_ms_per_s(pid, windows.idle)
    result["rss_before"] = rss_bytes(pid)
    sockets, result["park_seconds"], result["parked"] = await park(kind, port, firsts[:n])
    result["rss_parked"] = rss_bytes(pid)
    result["rss_per_socket"] = (result["rss_parked"] - result["rss_before"]) / n
    progress(f"{kind} N={n}: parked in {result['park_seconds']:.1f} s, {result['rss_per_socket'] / 1024:.2f} KiB each")
    if windows.heartbeat > 0:
        # The sockets left parked, through a few ping intervals: the heartbeat's cost (and the loop's idle ticks).
        result["heartbeat_cpu_ms_per_s"] = await cpu_ms_per_s(pid, windows.heartbeat)
        progress(f"{kind} N={n}: {result['heartbeat_cpu_ms_per_s']:.1f} ms of CPU a second while parked")

    # Opened now: the service closes HTTP connections idle for 15 s.
    control, waker = [await Connection(HOST, port).open() for _ in range(2)]
    # The service's probe: its figures are the wakes' (on asyncio's own loop, every callback timed too).
    await control.call("GET", "/debug/stats?reset=1&callbacks=1")
    latencies: list[float] = []
    for round_ in range(rounds):
        if round_:
            for socket in sockets:  # all woken, and closed by the server
                socket.close()
            sockets, _, _ = await park(kind, port, firsts[n * round_ : n * (round_ + 1)])
        for index in range(0, n, max(1, n // wakes))[: wakes - len(latencies)]:
            latencies.append(await wake(kind, waker, sockets[index], keys[n * round_ + index][1]))
    result["wake"] = summary(latencies)
    # Read before the sockets left parked are closed: N connections dropping at once are not the wakes'.
    probe = await control.call("GET", "/debug/stats")
    if "gc_max_ms" in probe:  # was a wake's tail a garbage collection, or the loop late?
        result.update({name: probe[name] for name in ("gc_max_ms", "gc_count", "loop_lag_max_ms", "loop_busy_max_ms")})
        if probe["callback_timing"]:  # and which callback held it
            result.update(callback_max_ms=probe["callback_max_ms"], callback_slowest=probe["callback_slowest"])
    for socket in sockets:
        socket.close()
    waker.close()
    control.close()
    progress(f"{kind} N={n}: wake p99 {result['wake']['p99_ms']:.2f} ms")
    return result
