"""The ``park`` job: park N long-polls on a server, measure its RSS per parked waiter, then wake a sample of
them one at a time, timing wake-sent -> answer."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import time
from typing import Any

from bench.client_tools import APP_AUTH, HOST, PROGRESS_EVERY, every, gather_bounded, progress, summary
from bench.http import Connection, HTTPError
from bench.logins import CALLBACK_FIGURES
from bench.procs import cpu_seconds, rss_bytes

#: connections opened at once while parking (the servers' listen backlog is 128)
CONNECT_CONCURRENCY = 64
#: concurrent POST /uuid while creating the sessions to park on
CREATE_CONCURRENCY = 32
#: how long the server may take to report all waiters parked
PARK_TIMEOUT = 120.0
#: a server whose CPU stays under this share of one core over SETTLE_WINDOW seconds is done parking
SETTLED_CPU = 0.1
SETTLE_WINDOW = 0.2
#: how long a woken waiter may take to answer before the run is called broken
WAKE_TIMEOUT = 30.0
#: the status of a scanned session, which the parked PCs say they know
SCANNED = 1


async def scanned_sessions(conns: list[Connection], n: int) -> list[tuple[str, str]]:
    """``n`` (cursor, uuid) of new sessions already scanned, made over ``conns`` in parallel."""
    created: list[tuple[str, str]] = []

    async def worker(conn: Connection, count: int) -> None:
        for _ in range(count):
            session = await conn.call("POST", "/uuid")
            await conn.call("POST", "/scan", {"uuid": session["uuid"]}, APP_AUTH)
            created.append((session["cursor"], session["uuid"]))

    share, extra = divmod(n, len(conns))
    await asyncio.gather(*(worker(conn, share + (i < extra)) for i, conn in enumerate(conns)))
    return created


class Protocol:
    """How to park on, and wake, one key of a server (the service's or the reference's)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def keys(self, conns: list[Connection], n: int) -> list[tuple[str, str]]:
        """``n`` (wait key, wake key) pairs: scanned sessions for the service, names for the reference.

        The sessions are scanned here, before anything is measured, so that the
        timed wake-up is the ``/confirm`` alone (a PC's wait wakes on the scan too).
        """
        if self.kind == "reference":
            return [(str(i), str(i)) for i in range(n)]
        return await scanned_sessions(conns, n)

    def send_wait(self, conn: Connection, key: str) -> None:
        if self.kind == "reference":
            conn.send("POST", f"/wait?key={key}")
        else:
            conn.send("POST", "/wait", json.dumps({"cursor": key, "status": SCANNED}).encode())

    def send_wake(self, conn: Connection, key: str) -> None:
        if self.kind == "reference":
            conn.send("POST", f"/wake?key={key}")
        else:
            conn.send("POST", "/confirm", json.dumps({"uuid": key}).encode(), APP_AUTH)

    def check_woken(self, status: int, body: bytes) -> None:
        if status != 200 or (self.kind == "service" and json.loads(body)["status"] != 2):
            raise HTTPError(f"unexpected wait answer {status}: {body[:200]!r}")


async def settled(pid: int) -> float:
    """Seconds until server ``pid`` has done its share of the parking: its CPU under SETTLED_CPU over
    SETTLE_WINDOW.  A waiter counts as parked from its first read on, and with thousands queued for
    Redis the reads go on after the last is counted: a wake timed meanwhile would time the burst."""
    started = time.perf_counter()
    while time.perf_counter() - started < PARK_TIMEOUT:
        cpu = cpu_seconds(pid)
        await asyncio.sleep(SETTLE_WINDOW)
        if cpu_seconds(pid) - cpu < SETTLED_CPU * SETTLE_WINDOW:
            break
    return time.perf_counter() - started


async def park_and_wake(
    protocol: Protocol,
    wait_port: int,
    wake_port: int,
    n: int,
    wakes: int,
    label: str,
    pid: int | None = None,
    time_callbacks: bool = False,
) -> dict[str, Any]:
    """Park ``n`` waiters on ``wait_port``, then wake ``wakes`` of them via ``wake_port``, one at a time.

    With ``pid`` (the waiting server's), its RSS is read once the sessions
    exist and again once all are parked: the difference is the parking's.
    With ``time_callbacks`` (a server on asyncio's loop with the loop probe:
    the service, or the reference with ``--loop-probe``), the server times
    every callback while the waiters park: the longest is the burst's.
    """
    setup = [await Connection(HOST, wait_port).open() for _ in range(CREATE_CONCURRENCY)]
    keys = await protocol.keys(setup, n)
    for conn in setup:
        conn.close()
    # Opened now, not before the sessions: making 15,000 takes longer than the server keeps an idle connection.
    control = await Connection(HOST, wait_port).open()
    waiters: list[Connection] = []
    result: dict[str, Any] = {"n": n}
    if pid is not None:
        result["rss_before"] = rss_bytes(pid)
    try:
        # The server's probe (if it runs one) from here on: its figures are the parking's and the waking's.
        before = await control.call("GET", "/debug/stats?reset=1" + ("&callbacks=1" if time_callbacks else ""))
        started = time.perf_counter()

        async def park(key: tuple[str, str]) -> Connection:
            conn = await Connection(HOST, wait_port).open()
            protocol.send_wait(conn, key[0])
            waiters.append(conn)
            return conn

        with every(PROGRESS_EVERY, lambda: f"{label}: parked {len(waiters)}/{n}"):
            parked = await gather_bounded(CONNECT_CONCURRENCY, (functools.partial(park, key) for key in keys))
            stats = await control.call("GET", f"/debug/stats?waiters={n}&timeout={PARK_TIMEOUT:.0f}")
        if not stats["reached"]:
            raise HTTPError(f"{label}: only {stats['waiters']} of {n} waiters parked")
        result["park_seconds"] = time.perf_counter() - started
        result["parked"] = stats["waiters"]
        if "allocated_blocks" in stats:  # a probe's heap count: what the collector policy allows per connection
            result["blocks_per_waiter"] = (stats["allocated_blocks"] - before["allocated_blocks"]) / n
        if pid is not None:
            # As ever, read once all are counted parked (the tail of their reads still to come).
            result["rss_parked"] = rss_bytes(pid)
            result["rss_per_waiter"] = (result["rss_parked"] - result["rss_before"]) / n
            result["settle_seconds"] = await settled(pid)
        if time_callbacks:
            burst = await control.call("GET", "/debug/stats?callbacks=0")
            result.update({name: burst[name] for name in CALLBACK_FIGURES})
            result["parking_gc_max_ms"] = burst["gc_max_ms"]

        # The client's own heap now holds N connections: a full collection of it would take as
        # long as the server's did and land in a timed wake.  Frozen, its collections stay short.
        gc.collect()
        gc.freeze()
        waker = await Connection(HOST, wake_port).open()
        latencies: list[float] = []
        step = max(1, n // wakes) if wakes else n + 1
        for index in range(0, n, step)[:wakes]:
            began = time.perf_counter()
            protocol.send_wake(waker, keys[index][1])
            try:
                status, body = await asyncio.wait_for(parked[index].answer(), WAKE_TIMEOUT)
            except TimeoutError:
                wake_status, wake_body = await waker.answer()
                raise HTTPError(f"no wake-up; the wake answered {wake_status}: {wake_body[:200]!r}") from None
            latencies.append((time.perf_counter() - began) * 1000)
            protocol.check_woken(status, body)
            wake_status, wake_body = await waker.answer()
            if wake_status != 200:
                raise HTTPError(f"wake answered {wake_status}: {wake_body[:200]!r}")
        waker.close()
        result["wake"] = latencies
        after = await control.call("GET", "/debug/stats")
        if "gc_max_ms" in after:  # a probe's figures: was a wake-up's tail a garbage collection?
            result["gc_max_ms"] = after["gc_max_ms"]
            result["gc_count"] = after["gc_count"]
            result["gc_max_generation"] = after.get("gc_max_generation")
            # A wake's tail that was no collection: the loop busy (ours), or the process kept off the CPU.
            result["loop_busy_max_ms"] = after["loop_busy_max_ms"]
            result["loop_lag_max_ms"] = after["loop_lag_max_ms"]
            # Then a full collection of everything, frozen or not, as the collector's backstop would run
            # it: the frozen cyclic garbage the parking and waking left, and its cost with this heap.
            full = await control.call("GET", "/debug/stats?collect=1")
            if "collected" in full:
                result["full_collection"] = {name: full[name] for name in ("collected", "collect_ms", "blocks_freed")}
        return result
    finally:
        gc.unfreeze()
        for conn in waiters:
            conn.close()
        control.close()


async def park_job(job: dict[str, Any]) -> dict[str, Any]:
    protocol = Protocol(job["kind"])
    label = job["label"]
    if job.get("warmup"):
        progress(f"{label}: warming up with {job['warmup']} parked waiters")
        await park_and_wake(protocol, job["port"], job["wake_port"], job["warmup"], job["warmup"], label)
    n, wakes = job["n"], job["wakes"]
    progress(f"{label}: parking {n} waiters")
    result = await park_and_wake(
        protocol, job["port"], job["wake_port"], n, wakes, label, job.get("pid"), job.get("time_callbacks", False)
    )
    latencies = result["wake"]
    # Fewer waiters than wakes wanted: park and wake them again, so a small N's
    # p99 rests on as many samples as a large one's.
    while len(latencies) < wakes:
        more = await park_and_wake(protocol, job["port"], job["wake_port"], n, n, label)
        latencies += more["wake"]
    if wakes:
        result["wake"] = summary(latencies[:wakes])
    else:
        del result["wake"]  # a parking burst alone
    return result
