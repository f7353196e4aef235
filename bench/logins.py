"""The ``logins`` job: closed-loop whole first-party logins on the service with C concurrent PCs, and the login
steps and loop the other login jobs share."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.addresses import Addresses, fresh_connections
from bench.client_tools import APP_AUTH, HOST, progress, summary
from bench.closed_loop import closed_loop
from bench.http import Connection, HTTPError

#: the credential of a phone's user of its own, numbered (the benchmark's auth server knows every ``user-<n>``)
NUMBERED_USER_AUTH = "Bearer user-{}-{}"
#: the stall measurement's run of full logins, as a share of the throughput run's
STALL_SHARE = 0.5

#: the longest single callback, as the loop probe gives it: in the loop thread's CPU time, in wall-clock time,
#: and what it was
CALLBACK_FIGURES = ("callback_max_ms", "callback_wall_max_ms", "callback_slowest")

#: one login's requests on each of its connections, in order: the PC's (/uuid, the QR, /token), its
#: long-poll's (two /wait) and the phone's (/scan, /confirm), interleaved as a login sends them
LOGIN_SHAPE = ("pc", "pc", "poll", "phone", "poll", "phone", "pc")


async def probed_loop(
    job: dict[str, Any], control: Connection, one: Callable[[int, list[float]], Awaitable[int]]
) -> dict[str, Any]:
    """``closed_loop`` on a server running the loop probe, read over ``control``: the loop's figures and the
    probe's over it.  With the job's ``time_callbacks``, every callback is timed from its end on (``timed_rerun``)."""
    # Throughput without timing every callback (it costs CPU), and without
    # the lateness timer when the job measures CPU against bare Tornado
    # running no probe: its ticks wake an idle loop.
    lateness = job.get("lateness", True)
    await control.call("GET", f"/debug/stats?reset=1&lateness={int(lateness)}")
    result = await closed_loop(job, one)
    timing = int(bool(job.get("time_callbacks")))
    probe = await control.call("GET", f"/debug/stats?reset=1&callbacks={timing}&lateness=1")
    result.update({name: probe[name] for name in ("gc_max_ms", "gc_count", "loop_ticks")})
    if lateness:
        result.update({name: probe[name] for name in ("loop_lag_max_ms", "loop_busy_max_ms", "loop_stalls")})
    return result


async def timed_rerun(
    job: dict[str, Any], control: Connection, one: Callable[[int, list[float]], Awaitable[int]]
) -> dict[str, Any]:
    """After ``probed_loop`` with ``time_callbacks``: the same load again for STALL_SHARE of the duration, every
    callback timed (on asyncio's loop); the longest callback's figures (CALLBACK_FIGURES), timing then stopped."""
    progress(f"{job['label']}: timing every callback")
    await closed_loop(dict(job, duration=job["duration"] * STALL_SHARE), one)
    probe = await control.call("GET", "/debug/stats?callbacks=0")
    return {name: probe[name] for name in CALLBACK_FIGURES}


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


async def logins_job(job: dict[str, Any]) -> dict[str, Any]:
    """Whole first-party logins: uuid, QR image, wait, scan, wait again, confirm, token."""
    return await login_loop(job, first_party_login)


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
        result = await probed_loop(job, control, one)
        result.update(
            logins=logins[0],
            logins_per_s=logins[0] / result["seconds"],
            server_cpu_ms_per_login=result["server_cpu_ms_per_request"] * result["requests"] / max(1, logins[0]),
            wait=summary(wakes),
        )
        if addresses is not None:
            result["source_addresses"] = addresses.used
        if job.get("time_callbacks"):
            result.update(await timed_rerun(job, control, one))
        return result
    finally:
        for conns in kept:
            for conn in conns:
                conn.close()
        control.close()
