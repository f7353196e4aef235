"""One client process of the capacity scenario (``bench/capacity.py``): its share of the waiters, from its own address.

``python -m bench.capacity_client`` reads its job as one JSON line on stdin,
then commands, one JSON line each, and answers each with one JSON line on
stdout (progress goes to stderr); at the end of stdin it closes everything
and exits.  Every connection it opens is bound to the job's loopback source
address, so several clients together need not share one range of ports.

- ``prepare``: a few wake connections to every server process, its sessions
  (scanned), and a warm-up (some waiters parked and woken);
- ``park``: its waiters, each on a connection of its own whose first request,
  ``GET /debug/stats``, tells which process it reached (the service's
  ``pid``; for the reference, the port);
- ``parked``: waits until each server process counts the waiters given;
- ``timed``: wakes some of its waiters one at a time, timing each;
- ``wake_all``: wakes the rest, several at a time, checking every answer.

A wait parked in one worker of the service is always confirmed through a
connection to another worker, so every wake crosses processes (Redis pub/sub);
the reference has no such path, so its wake goes to the process holding the wait.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.client_tools import HOST, PROGRESS_EVERY, every, gather_bounded, progress
from bench.http import Connection, HTTPError
from bench.park import CONNECT_CONCURRENCY, CREATE_CONCURRENCY, PARK_TIMEOUT, WAKE_TIMEOUT, Protocol
from runtime.process import raise_fd_limit

#: wake connections per server process, and so confirms in flight per process during ``wake_all``
WAKERS = 8
#: connections tried to reach every server process with WAKERS each (the kernel picks the worker)
REACH_TRIES = 2_000
#: longest a connection may take to be answered while parking (a SYN dropped by a full backlog is retried in ~1 s)
CONNECT_TIMEOUT = 30.0
#: what a failed request raises: refused, reset, closed early, an unexpected answer, no answer in time
FAILURES = (OSError, EOFError, HTTPError, TimeoutError)


@dataclass
class Waiter:
    """One parked long-poll: its connection, the server process holding it, the key that wakes it."""

    conn: Connection
    server: str
    wake_key: str
    woken: bool = False


class Share:
    """This client's part of the scenario: its connections, its waiters, what went wrong."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.kind: str = job["kind"]
        self.protocol = Protocol(self.kind)
        self.ports: list[int] = job["ports"]
        self.source: str = job["source"]
        self.label: str = job["label"]
        self.n: int = job["n"]
        self.warmup: int = job["warmup"]
        self.wakers: dict[str, list[Connection]] = {}
        self.waiters: list[Waiter] = []
        self.keys: list[tuple[str, str]] = []
        self.slowest_connect_ms = 0.0
        #: the server processes, by the names ``reach`` gives them
        self.servers: list[str] = []

    async def reach(self, port: int) -> tuple[Connection, str]:
        """A new connection to ``port`` and the server process it reached."""
        conn = await Connection(HOST, port, self.source).open()
        try:
            stats = await conn.call("GET", "/debug/stats")
        except BaseException:
            conn.close()
            raise
        return conn, str(stats["pid"]) if self.kind == "service" else str(port)

    async def open_wakers(self) -> None:
        """WAKERS new connections to every server process.

        New for each command that wakes: the service closes a connection idle
        for its IDLE_TIMEOUT (15 s), as long as other steps may take.
        """
        for conn in (conn for conns in self.wakers.values() for conn in conns):
            conn.close()
        self.wakers = {}
        tries = 0
        while any(len(self.wakers.get(server, [])) < WAKERS for server in self.servers):
            tries += 1
            if tries > REACH_TRIES * len(self.ports):
                reached = {server: len(conns) for server, conns in self.wakers.items()}
                raise HTTPError(f"{self.label}: {tries} connections reached only {reached} of {self.servers}")
            conn, server = await self.reach(self.ports[tries % len(self.ports)])
            if len(self.wakers.setdefault(server, [])) < WAKERS:
                self.wakers[server].append(conn)
            else:
                conn.close()

    async def prepare(self, command: dict[str, Any]) -> dict[str, Any]:
        self.servers = command["servers"]
        if self.kind == "service":
            progress(f"{self.label}: creating {self.n + self.warmup} sessions")
        keys = await self.new_keys(self.n + self.warmup)
        self.keys, warm = keys[: self.n], keys[self.n :]
        errors: Counter[str] = Counter()
        await self.open_wakers()
        warmed = await self.park(warm, errors)
        await self.wake_all_of(warmed, errors)
        for waiter in warmed:
            waiter.conn.close()
        return {"sessions": len(self.keys), "warmed": len(warmed), "errors": errors}

    async def new_keys(self, n: int) -> list[tuple[str, str]]:
        """``n`` (wait key, wake key) pairs: scanned sessions (the service), names of this client's (the reference)."""
        if self.kind == "reference":
            return [(f"{self.source}-{i}", f"{self.source}-{i}") for i in range(n)]
        setup = [await Connection(HOST, self.ports[0], self.source).open() for _ in range(CREATE_CONCURRENCY)]
        try:
            return await self.protocol.keys(setup, n)
        finally:
            for conn in setup:
                conn.close()

    async def park(self, keys: list[tuple[str, str]], errors: Counter[str]) -> list[Waiter]:
        """A waiter for each key, each on a new connection; what failed is counted in ``errors``."""
        parked: list[Waiter] = []

        async def one(index: int, key: tuple[str, str]) -> float:
            began = time.perf_counter()
            try:
                conn, server = await asyncio.wait_for(self.reach(self.ports[index % len(self.ports)]), CONNECT_TIMEOUT)
            except FAILURES as exc:
                errors[f"parking: {type(exc).__name__}"] += 1
                return 0.0
            answered = (time.perf_counter() - began) * 1000
            self.protocol.send_wait(conn, key[0])
            parked.append(Waiter(conn, server, key[1]))
            return answered

        with every(PROGRESS_EVERY, lambda: f"{self.label}: parked {len(parked)}/{len(keys)}"):
            times = await gather_bounded(
                CONNECT_CONCURRENCY, (functools.partial(one, i, k) for i, k in enumerate(keys))
            )
        self.slowest_connect_ms = max(times, default=0.0)
        return parked

    async def park_all(self, command: dict[str, Any]) -> dict[str, Any]:
        errors: Counter[str] = Counter()
        started = time.perf_counter()
        self.waiters = await self.park(self.keys, errors)
        by_server = Counter(waiter.server for waiter in self.waiters)
        return {
            "by_server": by_server,
            "seconds": time.perf_counter() - started,
            "slowest_connect_ms": self.slowest_connect_ms,
            "errors": errors,
        }

    async def parked(self, command: dict[str, Any]) -> dict[str, Any]:
        """Once each server process counts the waiters given (or PARK_TIMEOUT passed): its stats."""
        stats = {}
        await self.open_wakers()
        for server, count in command["counts"].items():
            path = f"/debug/stats?waiters={count}&timeout={PARK_TIMEOUT:.0f}"
            stats[server] = await self.wakers[server][0].call("GET", path)
        return stats

    def target(self, waiter: Waiter, index: int) -> str:
        """The server process to wake ``waiter`` through: another one than its own on the service."""
        if self.kind == "reference":
            return waiter.server
        others = sorted(server for server in self.wakers if server != waiter.server)
        if not others:
            raise HTTPError(f"{self.label}: no wake connection to a process other than {waiter.server}")
        return others[index % len(others)]

    async def wake(self, waiter: Waiter, waker: Connection) -> float:
        """Wakes ``waiter`` through ``waker``: milliseconds from the wake sent to the wait's answer."""
        began = time.perf_counter()
        self.protocol.send_wake(waker, waiter.wake_key)

        async def woken() -> float:
            status, body = await waiter.conn.answer()
            arrived = time.perf_counter()
            self.protocol.check_woken(status, body)
            return (arrived - began) * 1000

        took, (status, body) = await asyncio.wait_for(asyncio.gather(woken(), waker.answer()), WAKE_TIMEOUT)
        if status != 200:
            raise HTTPError(f"the wake answered {status}: {body[:200]!r}")
        waiter.woken = True
        return took

    async def timed(self, command: dict[str, Any]) -> dict[str, Any]:
        """``count`` waiters spread over this client's, woken one at a time."""
        count, errors = command["count"], Counter[str]()
        await self.open_wakers()
        latencies: list[float] = []
        crossed = 0
        step = max(1, len(self.waiters) // max(1, count))
        for index in range(0, len(self.waiters), step)[:count]:
            waiter = self.waiters[index]
            server = self.target(waiter, index)
            if not self.wakers[server]:
                errors["timed wake: no wake connection left"] += 1
                continue
            try:
                latencies.append(await self.wake(waiter, self.wakers[server][0]))
            except FAILURES as exc:
                errors[f"timed wake: {type(exc).__name__}"] += 1
                self.replace_waker(server, self.wakers[server][0])
                continue
            crossed += server != waiter.server
        return {"wake": latencies, "crossed": crossed, "errors": errors}

    def replace_waker(self, server: str, broken: Connection) -> None:
        """Drops a wake connection left in an unknown state by a failed wake."""
        broken.close()
        self.wakers[server] = [conn for conn in self.wakers[server] if conn is not broken]

    async def wake_all(self, command: dict[str, Any]) -> dict[str, Any]:
        errors: Counter[str] = Counter()
        left = [waiter for waiter in self.waiters if not waiter.woken]
        started = time.perf_counter()
        await self.open_wakers()
        woken, crossed = await self.wake_all_of(left, errors)
        return {"woken": woken, "crossed": crossed, "seconds": time.perf_counter() - started, "errors": errors}

    async def wake_all_of(self, waiters: list[Waiter], errors: Counter[str]) -> tuple[int, int]:
        """Wakes ``waiters``, WAKERS at a time per server process; how many answered, how many across processes."""
        idle = {server: asyncio.Queue[Connection]() for server in self.wakers}
        for server, conns in self.wakers.items():
            for conn in conns:
                idle[server].put_nowait(conn)
        done = [0, 0]

        async def one(index: int, waiter: Waiter) -> None:
            server = self.target(waiter, index)
            try:
                waker = await asyncio.wait_for(idle[server].get(), WAKE_TIMEOUT)
            except TimeoutError:
                errors["waking: no wake connection left"] += 1
                return
            try:
                await self.wake(waiter, waker)
            except FAILURES as exc:
                errors[f"waking: {type(exc).__name__}"] += 1
                self.replace_waker(server, waker)
                return
            idle[server].put_nowait(waker)
            done[0] += 1
            done[1] += server != waiter.server

        with every(PROGRESS_EVERY, lambda: f"{self.label}: woke {done[0]}/{len(waiters)}"):
            jobs = (functools.partial(one, i, waiter) for i, waiter in enumerate(waiters))
            await gather_bounded(WAKERS * len(self.wakers), jobs)
        return done[0], done[1]

    def close(self) -> None:
        for waiter in self.waiters:
            waiter.conn.close()
        for conns in self.wakers.values():
            for conn in conns:
                conn.close()


async def serve() -> None:
    """Runs the commands read on stdin until its end."""
    loop = asyncio.get_running_loop()
    share = Share(json.loads(await loop.run_in_executor(None, sys.stdin.readline)))
    commands = {
        "prepare": share.prepare,
        "park": share.park_all,
        "parked": share.parked,
        "timed": share.timed,
        "wake_all": share.wake_all,
    }
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            answer = await commands[command["command"]](command)
            print(json.dumps(answer), flush=True)
    finally:
        share.close()


def main() -> None:
    raise_fd_limit()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
