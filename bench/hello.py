"""The ``hello`` job: closed-loop ``POST /hello`` on the bare-Tornado reference, on kept connections or shaped as
the full logins are; with ``time_callbacks`` (the reference on asyncio's loop with ``--loop-probe``), then the same
load again with every callback timed, as the logins job does on the service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.addresses import Addresses, fresh_connections
from bench.client_tools import HOST
from bench.closed_loop import closed_loop
from bench.http import Connection, HTTPError
from bench.logins import LOGIN_SHAPE, probed_loop, timed_rerun


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
        return await measured(job, one)
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
    result = await measured(job, one)
    result["source_addresses"] = addresses.used
    return result


async def measured(job: dict[str, Any], one: Callable[[int, list[float]], Awaitable[int]]) -> dict[str, Any]:
    """The closed loop of ``one``; with ``time_callbacks``, the probe's figures over it, then the longest callback
    of the same load run again (``bench.logins``: ``probed_loop``, ``timed_rerun``, as for the logins)."""
    if not job.get("time_callbacks"):
        return await closed_loop(job, one)  # no probe: the reference's CPU per request as ever
    control = await Connection(HOST, job["port"]).open()
    try:
        result = await probed_loop(job, control, one)
        result.update(await timed_rerun(job, control, one))
        return result
    finally:
        control.close()
