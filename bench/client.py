"""The load client: a separate process driving one job over real sockets.

``python -m bench.client`` reads one job as JSON on stdin, reports progress on
stderr and prints its figures as one JSON object on stdout.  Jobs:

- ``park``: park N long-polls on a server, measure its RSS per parked waiter,
  then wake a sample of them one at a time, timing wake-sent -> answer;
- ``hello``: closed-loop ``POST /hello`` on the reference, requests per second;
- ``logins``: closed-loop whole logins on the service, with C concurrent PCs;
- ``oidc_logins``: the same for a site's login through the OpenID provider
  (``/authorize`` to ``/userinfo``), as a registered client.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import gc
import hashlib
import itertools
import json
import math
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.http import Connection, HTTPError
from bench.procs import cpu_seconds, rss_bytes
from runtime.process import raise_fd_limit

HOST = "127.0.0.1"
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
#: the app's credential; the benchmark's auth server knows it
APP_AUTH = {"Authorization": "Bearer alice-token"}
#: the credential of a phone's user of its own, numbered (the benchmark's auth server knows every ``user-<n>``)
NUMBERED_USER_AUTH = "Bearer user-{}-{}"
#: addresses one spread job may use: 127.<block>.y.z, z neither 0 nor 255
ADDRESSES_PER_BLOCK = 256 * 254
#: the stall measurement's run of full logins, as a share of the throughput run's
STALL_SHARE = 0.5
#: seconds between progress lines
PROGRESS_EVERY = 2.0


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of ``values`` (0 < q <= 100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(millis: list[float]) -> dict[str, float]:
    return {
        "count": len(millis),
        "p50_ms": percentile(millis, 50),
        "p99_ms": percentile(millis, 99),
        "max_ms": max(millis, default=math.nan),
    }


async def gather_bounded(limit: int, jobs: Iterator[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the jobs with at most ``limit`` at a time; their results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


@contextmanager
def every(seconds: float, report: Callable[[], str]) -> Iterator[None]:
    """Print ``report()`` every ``seconds`` while the block runs."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            progress(report())

    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        task.cancel()


# -- parked long-polls -----------------------------------------------------------


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
        created: list[tuple[str, str]] = []

        async def worker(conn: Connection, count: int) -> None:
            for _ in range(count):
                session = await conn.call("POST", "/uuid")
                await conn.call("POST", "/scan", {"uuid": session["uuid"]}, APP_AUTH)
                created.append((session["cursor"], session["uuid"]))

        share, extra = divmod(n, len(conns))
        await asyncio.gather(*(worker(conn, share + (i < extra)) for i, conn in enumerate(conns)))
        return created

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
    With ``time_callbacks`` (a service on asyncio's loop), the server times
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
        # The service's probe from here on: its figures are the parking's and the waking's.
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
        if "allocated_blocks" in stats:  # the service's heap: what its collector policy allows per connection
            result["blocks_per_waiter"] = (stats["allocated_blocks"] - before["allocated_blocks"]) / n
        if pid is not None:
            # As ever, read once all are counted parked (the tail of their reads still to come).
            result["rss_parked"] = rss_bytes(pid)
            result["rss_per_waiter"] = (result["rss_parked"] - result["rss_before"]) / n
            result["settle_seconds"] = await settled(pid)
        if time_callbacks:
            burst = await control.call("GET", "/debug/stats?callbacks=0")
            timed = ("callback_max_ms", "callback_wall_max_ms", "callback_slowest")
            result.update({name: burst[name] for name in timed})
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
        if "gc_max_ms" in after:  # the service's probe: was a wake-up's tail a garbage collection?
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


# -- closed loops ------------------------------------------------------------------


async def closed_loop(job: dict[str, Any], one: Callable[[int, list[float]], Awaitable[int]]) -> dict[str, Any]:
    """Run ``one(worker, latencies)`` repeatedly in the job's concurrent workers for its duration.

    Also measures the server's CPU time per request: unlike requests per
    second, it hardly depends on what else the machine runs.
    """
    concurrency, duration, label = job["concurrency"], job["duration"], job["label"]
    latencies: list[float] = []
    done = [0]
    cpu = cpu_seconds(job["pid"])
    started = time.perf_counter()
    deadline = started + duration

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            count = await one(index, latencies)
            done[0] += count  # not `+= await`: that reads done[0] before the await

    with every(PROGRESS_EVERY, lambda: f"{label}: {done[0]} requests, {time.perf_counter() - started:.0f}s"):
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    seconds = time.perf_counter() - started
    cpu_ms = (cpu_seconds(job["pid"]) - cpu) * 1000
    return {
        "requests": done[0],
        "seconds": seconds,
        "rps": done[0] / seconds,
        "latency": summary(latencies),
        "server_cpu_ms_per_request": cpu_ms / max(1, done[0]),
    }


#: one login's requests on each of its connections, in order: the PC's (/uuid, the QR, /token), its
#: long-poll's (two /wait) and the phone's (/scan, /confirm), interleaved as a login sends them
LOGIN_SHAPE = ("pc", "pc", "poll", "phone", "poll", "phone", "pc")


async def hello_job(job: dict[str, Any]) -> dict[str, Any]:
    """Closed-loop ``POST /hello`` with C workers: on C kept-alive connections, or, with an ``address_block``,
    shaped as the full logins are (each round 7 requests over 3 fresh connections from 2 fresh addresses)."""
    block = job.get("address_block")
    if block:
        return await hello_like_logins(job, Addresses(block))
    conns = [await Connection(HOST, job["port"]).open() for _ in range(job["concurrency"])]

    async def one(worker: int, latencies: list[float]) -> int:
        await hello(conns[worker], latencies)
        return 1

    try:
        return await closed_loop(job, one)
    finally:
        for conn in conns:
            conn.close()


async def hello(conn: Connection, latencies: list[float]) -> None:
    began = time.perf_counter()
    status, _ = await conn.request("POST", "/hello")
    latencies.append((time.perf_counter() - began) * 1000)
    if status != 200:
        raise HTTPError(f"/hello answered {status}")


async def hello_like_logins(job: dict[str, Any], addresses: Addresses) -> dict[str, Any]:
    """The reference's traffic in the full logins' shape: each round a login's 7 requests (LOGIN_SHAPE) over the
    connections a login opens (``fresh_connections``), so its CPU per request includes the same connection set-up."""

    async def one(worker: int, latencies: list[float]) -> int:
        conns = fresh_connections(job["port"], addresses)
        try:
            pc, poll, phone = [await conn.open() for conn in conns]
            by_role = {"pc": pc, "poll": poll, "phone": phone}
            for role in LOGIN_SHAPE:
                await hello(by_role[role], latencies)
        finally:
            for conn in conns:
                conn.close()
        return len(LOGIN_SHAPE)

    await asyncio.gather(*(one(worker, []) for worker in range(job["concurrency"])))  # as the logins warm up
    result = await closed_loop(job, one)
    result["source_addresses"] = addresses.used
    return result


class Addresses:
    """Fresh loopback source addresses, 127.<block>.y.z, one after the other: each login's PC and phone their own.

    The service's abuse limits count per client IP (and per user), as for real
    PCs and phones, each of which logs in once; so the benchmark's load, spread
    over fresh addresses and users, stays under every limit with the limits on.
    """

    def __init__(self, block: int) -> None:
        if not 1 <= block <= 255:
            raise ValueError(f"an address block is 1..255, not {block}")
        self.block = block
        self.used = 0

    def next(self) -> str:
        if self.used >= ADDRESSES_PER_BLOCK:
            raise HTTPError(f"the {ADDRESSES_PER_BLOCK} addresses of 127.{self.block}.0.0/16 are used up")
        high, low = divmod(self.used, 254)
        self.used += 1
        return f"127.{self.block}.{high}.{low + 1}"


def refuse_rate_limited(status: int, what: str) -> None:
    """A 429 fails the run: the benchmark's clients are spread so that no abuse limit is reached."""
    if status == 429:
        raise HTTPError(f"{what} was refused by an abuse limit (429): the load must stay under every limit")


@dataclasses.dataclass
class LoginSteps:
    """One PC's connections during one login, and how its requests are counted and timed."""

    pc: Connection
    poll: Connection
    phone: Connection
    #: awaits a request, timing it and counting it
    timed: Callable[[Awaitable[Any]], Awaitable[Any]]
    #: counts a request timed apart (a long-poll)
    counted: Callable[[], None]
    #: the long-polls' wait answers, in milliseconds
    wakes: list[float]
    #: the phone app's credential
    app_auth: dict[str, str] = dataclasses.field(default_factory=lambda: APP_AUTH)

    async def qr(self, session: dict[str, Any]) -> None:
        status, image = await self.timed(self.pc.request("GET", session["qr_svg"]))
        refuse_rate_limited(status, "the QR image")
        if status != 200 or not image.startswith(b"<svg"):
            raise HTTPError(f"QR image answered {status}")

    async def scan_and_confirm(self, session: dict[str, Any]) -> dict[str, Any]:
        """The app scans, then confirms, each waking the PC's long-poll; the confirmed answer (with the code)."""
        known = 0
        answer: dict[str, Any] = {}
        for action in ("/scan", "/confirm"):
            began = time.perf_counter()
            self.poll.send("POST", "/wait", json.dumps({"cursor": session["cursor"], "status": known}).encode())
            await self.timed(self.phone.call("POST", action, {"uuid": session["uuid"]}, self.app_auth))
            status, body = await self.poll.answer()
            refuse_rate_limited(status, "/wait")
            self.counted()  # the long-poll: timed apart, as the wait answer
            self.wakes.append((time.perf_counter() - began) * 1000)
            answer = json.loads(body)
            known = answer["status"]
        if known != 2:
            raise HTTPError(f"the login ended in status {known}")
        return answer


async def first_party_login(job: dict[str, Any], steps: LoginSteps) -> None:
    """/uuid, the QR, /wait, /scan, /wait, /confirm, /token: 7 requests."""
    session = await steps.timed(steps.pc.call("POST", "/uuid"))
    await steps.qr(session)
    answer = await steps.scan_and_confirm(session)
    await steps.timed(steps.pc.call("POST", "/token", {"cursor": session["cursor"], "code": answer["code"]}))


#: the OpenID login's PKCE verifier (one for the whole run: its cost is the server's S256, not the client's)
OIDC_VERIFIER = secrets.token_urlsafe(48)
#: whose turn it is among the job's sites (clients): each in turn, so none passes its per-client limit
SITE_TURNS = itertools.count()
#: where the provider's login page carries its authorization request's id
REQUEST_ID = re.compile(rb'data-authorize="([^"]+)"')


async def oidc_login(job: dict[str, Any], steps: LoginSteps) -> None:
    """A site's login through the provider: /authorize, its QR session, the QR, /wait, /scan, /wait, /confirm,
    /authorize/complete, /oauth/token (the code, PKCE, client secret), /userinfo: 10 requests."""
    client = job["clients"][next(SITE_TURNS) % len(job["clients"])]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(OIDC_VERIFIER.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code", "client_id": client["client_id"], "redirect_uri": client["redirect_uri"],
            "scope": "openid profile", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
    )  # fmt: skip
    status, page = await steps.timed(steps.pc.request("GET", f"/authorize?{query}"))
    found = REQUEST_ID.search(page)
    if status != 200 or found is None:
        raise HTTPError(f"/authorize answered {status}")
    session = await steps.timed(steps.pc.call("POST", "/authorize/session", {"request": found.group(1).decode()}))
    await steps.qr(session)
    answer = await steps.scan_and_confirm(session)
    back = await steps.timed(
        steps.pc.call("POST", "/authorize/complete", {"cursor": session["cursor"], "code": answer["code"]})
    )
    code = parse_qs(urlsplit(back["redirect_to"]).query)["code"][0]
    form = urlencode(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client["redirect_uri"],
         "code_verifier": OIDC_VERIFIER}
    ).encode()  # fmt: skip
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
    status, body = await steps.timed(steps.pc.request("POST", "/oauth/token", form, headers))
    if status != 200:
        raise HTTPError(f"/oauth/token answered {status}: {body[:200]!r}")
    access = json.loads(body)["access_token"]
    await steps.timed(steps.pc.call("GET", "/userinfo", None, {"Authorization": f"Bearer {access}"}))


async def logins_job(job: dict[str, Any]) -> dict[str, Any]:
    """Whole first-party logins: uuid, QR image, wait, scan, wait again, confirm, token."""
    return await login_loop(job, first_party_login)


async def oidc_logins_job(job: dict[str, Any]) -> dict[str, Any]:
    """Whole logins of a site through the OpenID provider, from /authorize to UserInfo."""
    return await login_loop(job, oidc_login)


def fresh_connections(port: int, addresses: Addresses) -> list[Connection]:
    """A new PC's and phone's connections, not yet open: the PC's two (its requests, its long-poll) from a fresh
    address, the phone's from another."""
    pc_address, phone_address = addresses.next(), addresses.next()
    return [Connection(HOST, port, address) for address in (pc_address, pc_address, phone_address)]


async def fresh_login(
    job: dict[str, Any],
    login: Callable[[dict[str, Any], LoginSteps], Awaitable[None]],
    addresses: Addresses,
    steps: Callable[[Connection, Connection, Connection, dict[str, str]], LoginSteps],
) -> None:
    """One ``login`` by a new PC and phone: the PC's two connections from a fresh address, the phone's from
    another, the phone's user a new one; ``steps`` makes the login's steps of those connections and credential."""
    fresh = fresh_connections(job["port"], addresses)
    try:
        pc, poll, phone = [await conn.open() for conn in fresh]
        auth = {"Authorization": NUMBERED_USER_AUTH.format(addresses.block, addresses.used)}
        await login(job, steps(pc, poll, phone, auth))
    finally:
        for conn in fresh:
            conn.close()


async def login_loop(
    job: dict[str, Any], login: Callable[[dict[str, Any], LoginSteps], Awaitable[None]]
) -> dict[str, Any]:
    """Closed-loop ``login``s with C concurrent PCs: throughput, then (on asyncio's loop) the longest callback.

    With an ``address_block`` in the job, every login is a new PC and phone, as
    in life: the PC's two connections from a fresh address, the phone's from
    another, its user a new one; else each of the C PCs keeps its connections
    (from 127.0.0.1) and the one app user for the whole run.
    """
    port = job["port"]
    concurrency = job["concurrency"]
    block = job.get("address_block")
    addresses = Addresses(block) if block else None
    kept: list[tuple[Connection, Connection, Connection]] = []
    if addresses is None:
        for _ in range(concurrency):
            kept.append(
                (
                    await Connection(HOST, port).open(),
                    await Connection(HOST, port).open(),
                    await Connection(HOST, port).open(),
                )
            )
    control = await Connection(HOST, port).open()
    wakes: list[float] = []
    logins = [0]

    async def one(worker: int, latencies: list[float]) -> int:
        """One whole login; the number of requests it made, counted as they are answered."""
        answered = 0

        async def timed(call: Awaitable[Any]) -> Any:
            nonlocal answered
            began = time.perf_counter()
            answer = await call
            latencies.append((time.perf_counter() - began) * 1000)
            answered += 1
            return answer

        def counted() -> None:
            nonlocal answered
            answered += 1

        if addresses is None:
            pc, poll, phone = kept[worker]
            await login(job, LoginSteps(pc, poll, phone, timed, counted, wakes))
        else:
            await fresh_login(
                job,
                login,
                addresses,
                lambda pc, poll, phone, auth: LoginSteps(pc, poll, phone, timed, counted, wakes, auth),
            )
        logins[0] += 1
        return answered

    try:
        # One login per PC first: first-use costs (lazy imports, new pool
        # connections) are start-up, not the steady state measured here.
        await asyncio.gather(*(one(worker, []) for worker in range(concurrency)))
        wakes.clear()
        logins[0] = 0
        # Throughput first, without timing every callback (it costs CPU), and
        # without the lateness timer when the job measures CPU against bare
        # Tornado, which runs no probe: its ticks wake an idle loop...
        lateness = job.get("lateness", True)
        await control.call("GET", f"/debug/stats?reset=1&lateness={int(lateness)}")
        result = await closed_loop(job, one)
        probe = await control.call("GET", "/debug/stats?reset=1&callbacks=1&lateness=1")
        result.update(
            logins=logins[0],
            logins_per_s=logins[0] / result["seconds"],
            server_cpu_ms_per_login=result["server_cpu_ms_per_request"] * result["requests"] / max(1, logins[0]),
            wait=summary(wakes),
            gc_max_ms=probe["gc_max_ms"],
            gc_count=probe["gc_count"],
            loop_ticks=probe["loop_ticks"],
        )
        if lateness:
            result.update({name: probe[name] for name in ("loop_lag_max_ms", "loop_busy_max_ms", "loop_stalls")})
        if addresses is not None:
            result["source_addresses"] = addresses.used
        if not job.get("time_callbacks"):
            return result
        # ...then the same load again for the longest callback.
        progress(f"{job['label']}: timing every callback")
        await closed_loop(dict(job, duration=job["duration"] * STALL_SHARE), one)
        probe = await control.call("GET", "/debug/stats?callbacks=0")
        result.update(
            callback_max_ms=probe["callback_max_ms"],
            callback_slowest=probe["callback_slowest"],
            callback_wall_max_ms=probe["callback_wall_max_ms"],
        )
        return result
    finally:
        for conns in kept:
            for conn in conns:
                conn.close()
        control.close()


JOBS: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "park": park_job,
    "hello": hello_job,
    "logins": logins_job,
    "oidc_logins": oidc_logins_job,
}


def main() -> None:
    raise_fd_limit()
    job = json.loads(sys.stdin.read())
    result = asyncio.run(JOBS[job["job"]](job))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
