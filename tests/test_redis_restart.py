"""A real AOF-enabled redis-server killed and restarted mid-flow: 503s while down, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from diagnostics.parked import parked_waiters
from tests.conftest import MakeInstance
from tests.procs import RedisServer
from tests.service import Answer, Instance

#: logins in flight across the restart
LOGINS = 30
#: how many of them confirm before Redis is killed
BEFORE_KILL = 12
#: most attempts one step may need (503s while Redis is down, then success)
MAX_ATTEMPTS = 50


class Outage:
    """Lets clients hold their retries until the test says Redis is back."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.up.set()
        self.unavailable = 0
        self.confirmed = 0
        #: set once BEFORE_KILL confirms have been answered
        self.halfway = asyncio.Event()

    async def call(self, request: Callable[[], Awaitable[Answer]]) -> Answer:
        """``request`` until it is not a 503; a 503 waits for Redis to be back, then retries (a retry is safe)."""
        for _ in range(MAX_ATTEMPTS):
            answer = await request()
            if answer.code != 503:
                return answer
            assert answer.error in ("storage_unavailable", "outcome_unknown"), answer.body
            self.unavailable += 1
            await self.up.wait()
        raise AssertionError(f"still 503 after {MAX_ATTEMPTS} attempts")


async def login(pc: Instance, phone: Instance, outage: Outage) -> int:
    """One login riding out the outage; returns how many tokens it obtained."""
    created = await outage.call(lambda: pc.post("/uuid"))
    cursor, uuid = created.body["cursor"], created.body["uuid"]
    known = 0
    code = None
    scanned = await outage.call(lambda: phone.post("/scan", {"uuid": uuid}, user="alice-token"))
    assert scanned.code == 200, scanned.body
    answer = await outage.call(lambda: phone.post("/confirm", {"uuid": uuid}, user="alice-token"))
    # A confirm whose answer was cut off may have happened: its retry answers as the first would have.
    assert answer.code == 200, answer.body
    outage.confirmed += 1
    if outage.confirmed == BEFORE_KILL:
        outage.halfway.set()
    while code is None:
        waited = await outage.call(lambda: pc.wait(cursor, known))  # noqa: B023 (awaited at once)
        assert waited.body["status"] in (1, 2), waited.body  # never lost, never expired
        known = waited.body["status"]
        code = waited.body.get("code")
    tokens = 0
    token = await outage.call(lambda: pc.post("/token", {"cursor": cursor, "code": code}))
    tokens += token.code == 200
    again = await outage.call(lambda: phone.post("/token", {"cursor": cursor, "code": code}))
    assert again.code == 200 and again.body["token"] == token.body["token"]  # the one login, not a second
    return tokens


async def test_redis_killed_and_restarted_mid_flow_loses_no_login_and_doubles_none(
    aof_redis: RedisServer, make_instance: MakeInstance
) -> None:
    # One IP and one user for every login: far past the abuse limits, which are not under test.
    pc = await make_instance(redis_url=aof_redis.url, wait_timeout=30, rate_limits=None)
    phone = await make_instance(redis_url=aof_redis.url, wait_timeout=30, rate_limits=None)
    outage = Outage()

    # A PC parked before the outage, on a session the outage must not disturb.
    parked_session = await pc.new_session()
    parked = asyncio.ensure_future(pc.wait(parked_session["cursor"]))
    assert await parked_waiters(pc.registry).until(lambda r: r.waiters == 1, timeout=5)

    logins = asyncio.gather(*(login(pc, phone, outage) for _ in range(LOGINS)))
    await asyncio.wait_for(outage.halfway.wait(), timeout=30)
    outage.up.clear()
    aof_redis.kill()  # SIGKILL, mid-flow: the other logins are somewhere between /uuid and /token

    # While Redis is down: a quick, clear 503, and the parked PC stays parked.
    started = time.monotonic()
    down = await pc.post("/uuid")
    assert down.code == 503 and down.error == "storage_unavailable"
    assert time.monotonic() - started < 5
    assert not parked.done(), parked.result()

    aof_redis.start()  # same port, same directory: the AOF brings every session back
    outage.up.set()

    tokens = await asyncio.wait_for(logins, timeout=90)
    assert tokens == [1] * LOGINS  # every login got exactly one token
    assert outage.unavailable > 0  # the outage really hit requests in flight

    # The PC parked across the outage is woken by a scan after it: the listener resubscribed.
    scan = await phone.post("/scan", {"uuid": parked_session["uuid"]}, user="alice-token")
    assert scan.code == 200
    answer = await asyncio.wait_for(parked, timeout=15)
    assert answer.body["status"] == 1
    assert pc.listener.subscriptions >= 2
