"""A bounded soak of a real ``python main.py`` on loopback: logins, bad requests, disconnects, expiries.

Short form by default (CI); the long form is the same test with more
iterations: ``QRLOGIN_SOAK_ITERATIONS=50000 python -m pytest tests/test_soak.py``.
At the end: every completed login handed out exactly once, no waiter or
pub/sub subscription left, memory back near its level after warm-up, and
every warning or error in the service's log accounted for.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter
from typing import Any

import psutil
import pytest

from redis_map import connect
from redis_map.audit import AuditLog
from redis_map.keys import KeySpace
from tests.process import ServiceProcess
from tests.service import Answer

#: how many scenarios run in all (each a login, a denial, bad requests, a disconnect or an expiry)
ITERATIONS = int(os.environ.get("QRLOGIN_SOAK_ITERATIONS", "1500"))
#: scenarios running at once
CONCURRENCY = 40
#: the share of iterations that warms up before the memory baseline is taken
WARM_UP = 0.2
#: how much the service's RSS may grow after warm-up
RSS_SLACK = 32 * 1024 * 1024
#: service log lines that are expected and not an error
EXPECTED_LOG = re.compile(r"DEMO MODE|={10}|Never expose|no --secret|shutting down")
ACCESS = re.compile(r"accesslog:\d+\] (\{.*\})$")


class Soak:
    """Drives the scenarios and keeps the client's own account of what happened."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.statuses: Counter[int] = Counter()
        self.created: set[str] = set()
        self.exchanged: list[str] = []
        self.denied: set[str] = set()

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        answer = await self.service.request(method, path, body, **kwargs)
        self.statuses[answer.code] += 1
        return answer

    async def post(self, path: str, body: Any = None, user: str | None = None, **kwargs: Any) -> Answer:
        headers = {"Authorization": f"Bearer demo:{user}"} if user else None
        return await self.call("POST", path, body, headers=headers, **kwargs)

    async def new(self) -> dict[str, Any]:
        answer = await self.post("/uuid")
        assert answer.code == 200, answer.body
        self.created.add(answer.body["uuid"])
        return dict(answer.body)

    async def run(self, index: int) -> None:
        kind = index % 10
        if kind < 6:
            await self.login(f"user{index % 97}", race=kind == 0)
        elif kind == 6:
            await self.bad_requests()
        elif kind == 7:
            await self.disconnect_mid_wait()
        elif kind == 8:
            await self.new()  # left to expire
        else:
            session = await self.new()
            assert (await self.post("/scan", {"uuid": session["uuid"]}, "mallory")).code == 200
            assert (await self.post("/cancel", {"uuid": session["uuid"]}, "mallory")).code == 200
            self.denied.add(session["uuid"])

    async def login(self, user: str, race: bool) -> None:
        session = await self.new()
        uuid, cursor = session["uuid"], session["cursor"]
        parked = asyncio.ensure_future(self.post("/wait", {"cursor": cursor, "status": 0}))
        assert (await self.post("/scan", {"uuid": uuid}, user)).code == 200
        assert (await parked).body["status"] == 1
        parked = asyncio.ensure_future(self.post("/wait", {"cursor": cursor, "status": 1}))
        assert (await self.post("/confirm", {"uuid": uuid}, user)).code == 200
        confirmed = await parked
        assert confirmed.body["status"] == 2 and confirmed.body["user"]["name"] == user
        grant = {"cursor": cursor, "code": confirmed.body["code"]}
        tries = 2 if race else 1
        answers = await asyncio.gather(*(self.post("/token", grant) for _ in range(tries)))
        assert [a.code for a in answers] == [200] * tries and answers[0].body["user"]["name"] == user
        assert len({a.body["token"] for a in answers}) == 1  # racing copies: one login
        self.exchanged.append(uuid)
        again = await self.post("/token", grant)
        assert again.code == 200 and again.body["token"] == answers[0].body["token"]

    async def bad_requests(self) -> None:
        session = await self.new()
        assert (await self.post("/wait", raw=b"{not json")).code == 400
        assert (await self.post("/scan", {"uuid": session["uuid"]})).code == 401
        assert (await self.post("/confirm", {"uuid": session["uuid"]}, "eve")).code == 409
        assert (await self.post("/scan", {"uuid": "0" * 32}, "eve")).code == 404
        assert (await self.post("/token", {"cursor": session["cursor"], "code": "A" * 22})).code == 400
        assert (await self.call("GET", "/me", headers={"Authorization": "Bearer forged.token.x"})).code == 401
        assert (await self.call("GET", "/nowhere")).code == 404
        forged = await self.post("/wait", {"cursor": session["uuid"] + "." + "B" * 43})
        assert forged.body["status"] == -1

    async def disconnect_mid_wait(self) -> None:
        session = await self.new()
        body = json.dumps({"cursor": session["cursor"]}).encode()
        _reader, writer = await asyncio.open_connection("127.0.0.1", self.service.port)
        writer.write(b"POST /wait HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        await self.call("GET", "/healthz")  # the wait is (most likely) parked by now
        writer.transport.abort()


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


async def test_soak(redis_url: str, namespace: str) -> None:
    service = ServiceProcess(
        f"--redis-url={redis_url}",
        f"--namespace={namespace}",
        "--session-ttl=3",
        "--code-ttl=5",
        "--wait-timeout=3",
        "--rate-limit=uuid_ip=1000000/60,action_ip=1000000/60,action_user=1000000/60,wait_ip=100000",
    )
    await service.start()
    soak = Soak(service)
    started = time.monotonic()
    try:
        queue = iter(range(ITERATIONS))
        warm_rss = 0

        async def worker() -> None:
            nonlocal warm_rss
            for index in queue:
                await soak.run(index)
                if index == int(ITERATIONS * WARM_UP):
                    warm_rss = rss(service.pid)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        assert soak.statuses[200] > ITERATIONS

        # Every session that was neither collected nor denied is recorded as expired, once.
        expected_expired = soak.created - set(soak.exchanged) - soak.denied
        client = connect(redis_url)
        try:
            audit = AuditLog(client, KeySpace(namespace))
            outcomes = await read_audit(audit, until_expired=len(expected_expired), timeout=60)
            assert await client.pubsub_numsub(f"{namespace}:events") == [(f"{namespace}:events", 1)]
        finally:
            await client.aclose()
        assert sorted(outcomes["exchanged"]) == sorted(soak.exchanged)
        assert len(set(soak.exchanged)) == len(soak.exchanged)  # handed out exactly once
        assert set(outcomes["denied"]) == soak.denied
        assert sorted(outcomes["expired"]) == sorted(expected_expired)

        # No waiter, no subscription and no memory left behind.
        deadline = time.monotonic() + 30
        while await service.metric("qrlogin_waiters_parked") != 0:
            assert time.monotonic() < deadline, "waiters leaked"
        end_rss = rss(service.pid)
        assert end_rss < warm_rss + RSS_SLACK, (warm_rss, end_rss)

        service.signal()
        assert await service.exit_code(20) == 0
    finally:
        await service.stop()

    # Every warning or error the service logged is one the client saw (a 4xx it provoked), or expected.
    logged: Counter[int] = Counter()
    for line in service.lines:
        access = ACCESS.search(line)
        if access:
            logged[json.loads(access.group(1))["status"]] += 1
        elif not line.startswith("[I ") and not EXPECTED_LOG.search(line):
            pytest.fail(f"unaccounted log line: {line}")
    assert not [code for code in logged if code >= 500]
    assert {c: n for c, n in logged.items() if c >= 400} == {c: n for c, n in soak.statuses.items() if c >= 400}
    print(f"soak: {ITERATIONS} iterations, {sum(soak.statuses.values())} requests in {time.monotonic() - started:.0f}s")


async def read_audit(audit: AuditLog, until_expired: int, timeout: float) -> dict[str, list[str]]:
    """The audit stream's uuids by outcome, once ``until_expired`` expiries are in (the sweep runs every 5 s)."""
    outcomes: dict[str, list[str]] = {"confirmed": [], "exchanged": [], "denied": [], "expired": []}
    last = "0-0"
    deadline = time.monotonic() + timeout
    while len(outcomes["expired"]) < until_expired:
        assert time.monotonic() < deadline, f"{len(outcomes['expired'])} of {until_expired} expiries recorded"
        for entry in await audit.follow(last, block=2):
            outcomes[entry.outcome].append(entry.fields["uuid"])
            last = entry.id
    return outcomes
