"""The audit stream: every outcome once, expiry included; read back with ``python main.py audit``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from redis_map import connect
from redis_map.audit import AuditEntry
from tests.conftest import MakeInstance
from tests.process import ROOT
from tests.service import Instance


async def entries(service: Instance) -> list[AuditEntry]:
    return await service.audit.tail(1000)


async def login(service: Instance, user: str = "alice-token") -> dict[str, str]:
    session = await service.new_session()
    await service.approve(session["uuid"], user)
    code = (await service.wait(session["cursor"])).body["code"]
    assert (await service.post("/token", {"cursor": session["cursor"], "code": code})).code == 200
    return session


async def test_confirmed_and_exchanged_are_recorded_without_secrets(service: Instance) -> None:
    session = await login(service)
    recorded = await entries(service)
    assert [e.outcome for e in recorded] == ["confirmed", "exchanged"]
    for entry in recorded:
        assert entry.fields == {"uuid": session["uuid"], "user": "alice", "ip": "127.0.0.1"}
    assert session["cursor"].partition(".")[2] not in json.dumps([e.fields for e in recorded])
    # Exchanged sessions are never reported as expired later.
    assert await service.audit.sweep(now=time.time() + 3600) == []


async def test_denied_is_recorded_and_never_expires_later(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/cancel", {"uuid": session["uuid"]}, user="bob-token")
    assert [(e.outcome, e.fields["user"]) for e in await entries(service)] == [("denied", "bob")]
    assert await service.audit.sweep(now=time.time() + 3600) == []


async def test_expiry_is_recorded_once_however_many_processes_sweep(make_instance: MakeInstance) -> None:
    first = await make_instance(session_ttl=0.3)
    second = await make_instance(session_ttl=0.3)
    session = await first.new_session()
    assert (await first.wait(session["cursor"])).body["status"] == -1  # it expired
    swept = await asyncio.gather(first.audit.sweep(), second.audit.sweep(), first.audit.sweep())
    assert sorted(uuid for found in swept for uuid in found) == [session["uuid"]]
    assert [(e.outcome, e.fields["uuid"]) for e in await entries(first)] == [("expired", session["uuid"])]


async def test_a_live_session_is_not_expired_early(make_instance: MakeInstance) -> None:
    service = await make_instance(code_ttl=60)
    session = await service.new_session()
    await service.approve(session["uuid"], "alice-token")
    # Past its first deadline (the session TTL) but alive on its code TTL: looked at again later.
    assert await service.audit.sweep(now=time.time() + 121) == []
    assert [e.outcome for e in await entries(service)] == ["confirmed"]


async def test_audit_keys_expire_and_the_stream_is_capped(service: Instance, redis_url: str) -> None:
    await login(service)
    client = connect(redis_url)
    try:
        assert await client.ttl(service.audit.stream) > 0
        assert await client.ttl(service.audit.deadlines) > 0 or not await client.exists(service.audit.deadlines)
    finally:
        await client.aclose()


async def test_audit_command_tails_the_stream(service: Instance, redis_url: str, namespace: str) -> None:
    session = await login(service)
    command = [sys.executable, "main.py", "audit", "--tail", "5", f"--redis-url={redis_url}"]
    done = await asyncio.to_thread(
        subprocess.run, [*command, f"--namespace={namespace}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert "confirmed" in lines[0] and "exchanged" in lines[1]
    assert f"uuid={session['uuid']}" in lines[1] and "user=alice" in lines[1]

    as_json = await asyncio.to_thread(
        subprocess.run,
        [*command, f"--namespace={namespace}", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert [json.loads(line)["outcome"] for line in as_json.stdout.splitlines()] == ["confirmed", "exchanged"]


def test_audit_command_needs_a_redis_url() -> None:
    done = subprocess.run(
        [sys.executable, "main.py", "audit", "--tail"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "--redis-url" in done.stderr
