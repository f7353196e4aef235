"""Abuse limits: kept in Redis across instances, 429 with Retry-After, never on a real person's pace."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from diagnostics.parked import parked_waiters
from diagnostics.userinfo_server import AuthServer
from redis_map import connect
from redis_map.limit_rules import Rate, RateLimits
from tests.conftest import MakeInstance
from tests.process import ROOT
from tests.service import Answer, Instance

#: times a test asks Redis whether the waits' slots are held before giving up
SLOT_CHECKS = 1000


def assert_limited(answer: Answer, most: int) -> None:
    assert answer.code == 429, answer.body
    assert answer.error == "rate_limited" and answer.body["status"] == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= most


async def limit_keys(instance: Instance, namespace: str) -> dict[str, int]:
    """Every rate-limit key of the namespace and its TTL in ms."""
    client = connect(instance.store_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:rl:*")]
        return {key: await client.pttl(key) for key in keys}
    finally:
        await client.aclose()


async def test_uuid_is_limited_per_ip_with_retry_after(make_instance: MakeInstance, namespace: str) -> None:
    service = await make_instance(rate_limits=RateLimits(uuid_ip=Rate(3, 60)))
    for _ in range(3):
        assert (await service.post("/uuid")).code == 200
    assert_limited(await service.post("/uuid"), 60)
    keys = await limit_keys(service, namespace)
    assert keys and all(0 < ttl <= 60_000 for ttl in keys.values()), keys


async def test_limits_hold_across_instances(make_instance: MakeInstance) -> None:
    limits = RateLimits(uuid_ip=Rate(3, 60))
    first, second = await make_instance(rate_limits=limits), await make_instance(rate_limits=limits)
    assert (await first.post("/uuid")).code == 200
    assert (await second.post("/uuid")).code == 200
    assert (await first.post("/uuid")).code == 200
    assert_limited(await second.post("/uuid"), 60)


async def test_actions_are_limited_per_ip_before_the_auth_check(
    make_instance: MakeInstance, auth_server: AuthServer
) -> None:
    service = await make_instance(rate_limits=RateLimits(action_ip=Rate(2, 60)))
    uuid = (await service.new_session())["uuid"]
    for _ in range(2):
        assert (await service.post("/scan", {"uuid": uuid}, user="wrong-token")).code == 401
    calls = auth_server.calls
    assert_limited(await service.post("/scan", {"uuid": uuid}, user="alice-token"), 60)
    assert auth_server.calls == calls  # refused before bothering the auth server


async def test_actions_are_limited_per_user_after_the_auth_check(make_instance: MakeInstance) -> None:
    service = await make_instance(rate_limits=RateLimits(action_user=Rate(2, 60)))
    sessions = [await service.new_session() for _ in range(3)]
    assert (await service.post("/scan", {"uuid": sessions[0]["uuid"]}, user="alice-token")).code == 200
    assert (await service.post("/scan", {"uuid": sessions[1]["uuid"]}, user="alice-token")).code == 200
    limited = await service.post("/confirm", {"uuid": sessions[1]["uuid"]}, user="alice-token")
    assert_limited(limited, 60)
    assert (await service.wait(sessions[1]["cursor"], status=-1)).body["status"] == 1  # unchanged
    # Another user from the same address is not held back by alice's count.
    assert (await service.post("/scan", {"uuid": sessions[2]["uuid"]}, user="bob-token")).code == 200


async def test_a_person_logging_in_is_never_limited_by_the_defaults(service: Instance) -> None:
    for _ in range(10):
        session = await service.new_session()
        assert (await service.approve(session["uuid"], "alice-token")).code == 200
        confirmed = await service.wait(session["cursor"])
        token = await service.post("/token", {"cursor": session["cursor"], "code": confirmed.body["code"]})
        assert token.code == 200


async def test_rate_limit_off_sets_no_limit_and_no_key(make_instance: MakeInstance, namespace: str) -> None:
    service = await make_instance(rate_limits=RateLimits.parse("off"))
    answers = await asyncio.gather(*(service.post("/uuid") for _ in range(150)))  # above the default 120/min
    assert {a.code for a in answers} == {200}
    assert await limit_keys(service, namespace) == {}


async def slots_held(instance: Instance, namespace: str, rule: str, count: int) -> bool:
    """Whether the waits' slots of ``rule`` reach ``count`` holders, asking Redis at most SLOT_CHECKS times.

    A wait is in the registry before its first read takes its slots (so a change during the read is not
    missed): the registry's count alone does not say the slots are held.
    """
    client = connect(instance.store_url)
    try:
        for _ in range(SLOT_CHECKS):
            keys = [key async for key in client.scan_iter(match=f"{namespace}:rl:{rule}:*")]
            if sum([await client.zcard(key) for key in keys]) >= count:
                return True
        return False
    finally:
        await client.aclose()


async def test_parked_waits_are_capped_per_session(make_instance: MakeInstance, namespace: str) -> None:
    service = await make_instance(rate_limits=RateLimits(wait_session=2), wait_timeout=30)
    session = await service.new_session()
    parked = [asyncio.ensure_future(service.wait(session["cursor"])) for _ in range(2)]
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 2, timeout=5)
    assert await slots_held(service, namespace, "wait_session", 2)
    assert_limited(await service.wait(session["cursor"]), 5)
    # Someone who only saw the QR (the uuid) cannot take the PC's slots: a wrong cursor parks nowhere.
    forged = await service.wait(session["uuid"] + "." + "A" * 43)
    assert forged.code == 200 and forged.body["status"] == -1

    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    assert [a.body["status"] for a in await asyncio.gather(*parked)] == [1, 1]
    again = asyncio.ensure_future(service.wait(session["cursor"], status=1))  # the slots were given back
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    await service.post("/cancel", {"uuid": session["uuid"]}, user="alice-token")
    assert (await again).body["status"] == 3
    slots = [key for key in await limit_keys(service, namespace) if ":rl:wait_" in key]
    assert slots == []  # every slot released, every emptied set gone


async def test_a_wait_refused_at_its_sessions_cap_holds_no_slot(make_instance: MakeInstance, namespace: str) -> None:
    """The first read takes the IP's and the session's slots in one script: refused at the session's cap, it gives
    the IP's back in the same step, so a refused wait never holds a slot until it lapses."""
    service = await make_instance(rate_limits=RateLimits(wait_session=1), wait_timeout=30)
    session = await service.new_session()
    parked = asyncio.ensure_future(service.wait(session["cursor"]))
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    assert await slots_held(service, namespace, "wait_session", 1)
    client = connect(service.store_url)
    try:
        ip_slots, session_slots = sorted(key for key in await limit_keys(service, namespace) if ":rl:wait_" in key)
        assert ":rl:wait_ip:" in ip_slots and ":rl:wait_session:" in session_slots
        held = (await client.zrange(ip_slots, 0, -1), await client.zrange(session_slots, 0, -1))
        for _ in range(3):
            assert_limited(await service.wait(session["cursor"]), 5)
        assert (await client.zrange(ip_slots, 0, -1), await client.zrange(session_slots, 0, -1)) == held
        # A wait answered at once (the session is past what it knows) takes the IP's slot only, and gives it back.
        assert (await service.wait(session["cursor"], status=-1)).body["status"] == 0
        assert (await client.zrange(ip_slots, 0, -1), await client.zrange(session_slots, 0, -1)) == held
    finally:
        await client.aclose()
    await service.post("/cancel", {"uuid": session["uuid"]}, user="alice-token")
    assert (await parked).body["status"] == 3


async def test_parked_waits_are_capped_per_ip(make_instance: MakeInstance, namespace: str) -> None:
    service = await make_instance(rate_limits=RateLimits(wait_ip=2), wait_timeout=30)
    sessions = [await service.new_session() for _ in range(3)]
    parked = [asyncio.ensure_future(service.wait(s["cursor"])) for s in sessions[:2]]
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 2, timeout=5)
    assert await slots_held(service, namespace, "wait_ip", 2)
    assert_limited(await service.wait(sessions[2]["cursor"]), 5)
    for s in sessions[:2]:
        await service.post("/cancel", {"uuid": s["uuid"]}, user="alice-token")
    await asyncio.gather(*parked)
    assert (await service.post("/cancel", {"uuid": sessions[2]["uuid"]}, user="alice-token")).code == 200
    assert (await service.wait(sessions[2]["cursor"])).body["status"] == 3


async def test_retry_after_is_only_sent_with_429(service: Instance) -> None:
    answer = await service.post("/scan", {"uuid": "0" * 32}, user="alice-token")
    assert answer.code == 404 and "Retry-After" not in answer.headers


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("on", RateLimits()),
        ("", RateLimits()),
        ("off", None),
        ("uuid_ip=30/10, wait_ip=7", RateLimits(uuid_ip=Rate(30, 10), wait_ip=7)),
        ("action_user=5", RateLimits(action_user=Rate(5, 60))),
    ],
)
def test_rate_limit_option_parses(spec: str, expected: RateLimits | None) -> None:
    assert RateLimits.parse(spec) == expected


@pytest.mark.parametrize("spec", ["uuid=3", "uuid_ip=0", "uuid_ip=x", "wait_ip=0", "uuid_ip=3/0", "wait_ip"])
def test_bad_rate_limit_option_fails_loudly(spec: str) -> None:
    with pytest.raises(ValueError, match=r"rate|invalid literal"):
        RateLimits.parse(spec)


@pytest.mark.parametrize(
    ("option", "says"), [("--rate-limit=uuid=3", "unknown rate limit"), ("--cors-origins=*", "CORS origin")]
)
def test_main_refuses_a_bad_option_before_starting(option: str, says: str) -> None:
    done = subprocess.run([sys.executable, "main.py", option], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and says in done.stderr
