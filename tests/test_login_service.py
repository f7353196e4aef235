"""The login flow's rules at the domain level: LoginService against a real Redis, no HTTP in sight."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import NamedTuple

import pytest

from auth import DemoAuthenticator, TokenIssuer
from login.errors import (
    CredentialRejected,
    InvalidGrant,
    InvalidTransition,
    LoginError,
    NotScanned,
    RateLimited,
    SessionNotFound,
    UserMismatch,
)
from login.models import Cursor, Requester, Status
from login.service import LoginService
from redis_map.limit_rules import Rate, RateLimits
from runtime.composition import Service, open_service
from runtime.settings import Settings
from tests.redis_stats import command_calls

ALICE, BOB = "Bearer demo:alice", "Bearer demo:bob"
IP = "192.0.2.10"


@pytest.fixture
async def service(redis_url: str, namespace: str) -> AsyncIterator[Service]:
    settings = Settings(namespace=namespace, rate_limits=None)
    tokens = TokenIssuer(ttl=300)
    async with open_service(
        settings, redis_url, tokens=tokens, authenticator=DemoAuthenticator(), listen=False
    ) as built:
        yield built


@pytest.fixture
def login(service: Service) -> LoginService:
    return service.login


def requester() -> Requester:
    return Requester(ip=IP, user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", created_at=time.time())


class Step(NamedTuple):
    action: str  # scan | confirm | cancel
    who: str


class Refusal(NamedTuple):
    done: list[Step]
    action: str
    who: str
    error: type[LoginError]


REFUSALS: dict[str, Refusal] = {
    "confirm-unscanned": Refusal([], "confirm", ALICE, NotScanned),
    "scan-by-other": Refusal([Step("scan", ALICE)], "scan", BOB, UserMismatch),
    "confirm-by-other": Refusal([Step("scan", ALICE)], "confirm", BOB, UserMismatch),
    "cancel-by-other": Refusal([Step("scan", ALICE)], "cancel", BOB, UserMismatch),
    "scan-confirmed": Refusal([Step("scan", ALICE), Step("confirm", ALICE)], "scan", ALICE, InvalidTransition),
    "cancel-confirmed": Refusal([Step("scan", ALICE), Step("confirm", ALICE)], "cancel", ALICE, InvalidTransition),
    "confirm-denied": Refusal([Step("cancel", ALICE)], "confirm", ALICE, InvalidTransition),
    "cancel-denied-by-other": Refusal([Step("cancel", ALICE)], "cancel", BOB, InvalidTransition),
    "bad-credential": Refusal([], "scan", "Bearer nobody", CredentialRejected),
}


def outcomes(service: Service, outcome: str) -> float:
    """How many sessions the service's metrics counted with ``outcome``."""
    return service.metrics.registry.get_sample_value("qrlogin_sessions_total", {"outcome": outcome}) or 0.0


async def act(login: LoginService, step: Step | Refusal, uuid: str) -> Status:
    if step.action == "scan":
        return (await login.scan(uuid, step.who, IP)).view.status
    method = login.confirm if step.action == "confirm" else login.cancel
    return await method(uuid, step.who, IP)


@pytest.mark.parametrize("name", REFUSALS)
async def test_refusals_leave_the_session_as_it_was(login: LoginService, service: Service, name: str) -> None:
    refusal = REFUSALS[name]
    session = await login.create(requester())
    for step in refusal.done:
        await act(login, step, session.uuid)
    before = await service.store.read(session.uuid)
    with pytest.raises(refusal.error):
        await act(login, refusal, session.uuid)
    after = await service.store.read(session.uuid)
    assert (after.status, after.user, after.code) == (before.status, before.user, before.code)


async def test_a_whole_login_and_what_each_step_answers(login: LoginService, service: Service) -> None:
    session = await login.create(requester())
    assert (await service.store.read_for_cursor(session.cursor)).status is Status.WAITING

    scanned = await login.scan(session.uuid, ALICE, IP)
    assert scanned.view.status is Status.SCANNED and scanned.user.sub == "demo:alice"
    assert scanned.view.requester is not None and scanned.view.requester.ip == IP

    assert await login.confirm(session.uuid, ALICE, IP) is Status.CONFIRMED
    code = (await service.store.read_for_cursor(session.cursor)).code
    assert code is not None

    logged_in = await login.exchange(session.cursor, code, IP)
    assert logged_in.user.sub == "demo:alice" and 295 <= logged_in.expires_in <= 300
    assert login.tokens.issue(logged_in.user) != logged_in.token  # each signing differs: the retry below is a copy
    again = await login.exchange(session.cursor, code, IP)
    assert again.token == logged_in.token  # a retry: the same login
    assert (await service.store.read_for_cursor(session.cursor)).status is Status.EXPIRED


async def test_an_exchange_is_one_round_trip_and_redis_never_holds_the_token(
    login: LoginService, service: Service
) -> None:
    if os.environ.get("REDIS_URL"):
        pytest.skip("counts the Redis's commands: needs the test run's own Redis, not a shared one")

    async def confirmed() -> tuple[Cursor, str]:
        session = await login.create(requester())
        await login.scan(session.uuid, ALICE, IP)
        await login.confirm(session.uuid, ALICE, IP)
        code = (await service.store.read_for_cursor(session.cursor)).code
        assert code is not None
        return session.cursor, code

    async def scripts_run() -> tuple[int, int]:
        return (await command_calls(service.redis, "evalsha"), await command_calls(service.redis, "eval"))

    await login.exchange(*await confirmed(), IP)  # the script loaded
    cursor, code = await confirmed()
    before = await scripts_run()
    logged_in = await login.exchange(cursor, code, IP)
    after = await scripts_run()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 0)  # one script call: no read before it
    claims = login.tokens.verify(logged_in.token)
    kept = await service.redis.hget(service.store.key(cursor.uuid), "login")
    # What a retry re-signs from (when, and which token), never the bearer token itself.
    assert kept == f"{claims['iat']} {claims['jti']}" and logged_in.token not in kept
    again = await login.exchange(cursor, code, IP)
    assert again.token == logged_in.token and again.user == logged_in.user


async def test_a_retry_across_an_upgrade_gets_the_token_the_older_version_kept(
    login: LoginService, service: Service
) -> None:
    session = await login.create(requester())
    await login.scan(session.uuid, ALICE, IP)
    await login.confirm(session.uuid, ALICE, IP)
    code = (await service.store.read_for_cursor(session.cursor)).code
    assert code is not None
    first = await login.exchange(session.cursor, code, IP)
    # As the version before kept it: the signed token itself, after when it expires.
    older = login.tokens.issue(first.user)
    expires_at = int(time.time()) + 100
    await service.redis.hset(service.store.key(session.uuid), "login", f"{expires_at} {older}")
    again = await login.exchange(session.cursor, code, IP)
    assert again.token == older and 98 <= again.expires_in <= 100


async def test_same_user_retries_change_nothing_and_are_recorded_once(login: LoginService, service: Service) -> None:
    session = await login.create(requester())
    await login.scan(session.uuid, ALICE, IP)
    assert await login.confirm(session.uuid, ALICE, IP) is Status.CONFIRMED
    code = (await service.store.read(session.uuid)).code
    assert await login.confirm(session.uuid, ALICE, IP) is Status.CONFIRMED
    assert (await service.store.read(session.uuid)).code == code  # not replaced by the retry
    assert outcomes(service, "confirmed") == 1

    denied = await login.create(requester())
    assert await login.cancel(denied.uuid, BOB, IP) is Status.DENIED
    assert await login.cancel(denied.uuid, BOB, IP) is Status.DENIED
    assert outcomes(service, "denied") == 1


@pytest.mark.parametrize("code", ["", "x", "A" * 22, "A" * 23, "not a code at all"])
async def test_exchange_refuses_any_other_code(login: LoginService, service: Service, code: str) -> None:
    session = await login.create(requester())
    await login.scan(session.uuid, ALICE, IP)
    await login.confirm(session.uuid, ALICE, IP)
    with pytest.raises(InvalidGrant):
        await login.exchange(session.cursor, code, IP)
    assert (await service.store.read(session.uuid)).status is Status.CONFIRMED  # the real code still works


async def test_exchange_needs_the_cursor(login: LoginService, service: Service) -> None:
    session = await login.create(requester())
    await login.scan(session.uuid, ALICE, IP)
    await login.confirm(session.uuid, ALICE, IP)
    code = (await service.store.read(session.uuid)).code
    assert code is not None
    with pytest.raises(InvalidGrant):
        await login.exchange(Cursor(session.uuid, "B" * 43), code, IP)


async def test_actions_on_an_unknown_session(login: LoginService) -> None:
    for action in ("scan", "confirm", "cancel"):
        with pytest.raises(SessionNotFound):
            await act(login, Step(action, ALICE), "0123456789abcdef" * 2)


async def test_limits_are_the_services(redis_url: str, namespace: str) -> None:
    settings = Settings(namespace=namespace, rate_limits=RateLimits(uuid_ip=Rate(2, 60)))
    tokens = TokenIssuer(ttl=300)
    async with open_service(settings, redis_url, tokens=tokens, authenticator=DemoAuthenticator(), listen=False) as svc:
        await svc.login.create(requester())
        await svc.login.create(requester())
        with pytest.raises(RateLimited):
            await svc.login.create(requester())


async def test_a_session_refused_by_its_limit_is_never_created(redis_url: str, namespace: str) -> None:
    """/uuid counts, creates and watches for expiry in one script: a refused request leaves nothing behind."""
    settings = Settings(namespace=namespace, rate_limits=RateLimits(uuid_ip=Rate(2, 60)))
    async with open_service(
        settings, redis_url, tokens=TokenIssuer(ttl=300), authenticator=DemoAuthenticator(), listen=False
    ) as svc:
        created = [await svc.login.create(requester()) for _ in range(2)]
        for _ in range(3):
            with pytest.raises(RateLimited) as refused:
                await svc.login.create(requester())
            assert 0 < refused.value.retry_after <= 60
        redis = svc.store._redis
        sessions = [key async for key in redis.scan_iter(match=f"{namespace}:session:*")]
        assert sorted(sessions) == sorted(svc.store.key(session.uuid) for session in created)
        watched = await redis.zrange(svc.store.keys.audit_deadlines, 0, -1, withscores=True)
        assert sorted(uuid for uuid, _ in watched) == sorted(session.uuid for session in created)
        ttl = svc.store.session_ttl * 1000
        assert all(time.time() * 1000 < deadline <= time.time() * 1000 + ttl for _, deadline in watched)
        assert outcomes(svc, "created") == 2


async def test_outcomes_are_audited_once_by_the_scripts_that_make_them(login: LoginService, service: Service) -> None:
    """Confirm, cancel and exchange write their audit entry in their own script: once, retries writing nothing."""
    session = await login.create(requester())
    await login.scan(session.uuid, ALICE, IP)
    for _ in range(2):
        assert await login.confirm(session.uuid, ALICE, IP) is Status.CONFIRMED
    deadlines = service.store.keys.audit_deadlines
    watched = await service.store._redis.zscore(deadlines, session.uuid)
    assert watched is not None and watched > (time.time() + service.store.code_ttl - 5) * 1000  # its new expiry
    code = (await service.store.read(session.uuid)).code
    assert code is not None
    for _ in range(2):
        await login.exchange(session.cursor, code, "198.51.100.7")
    denied = await login.create(requester())
    for _ in range(2):
        assert await login.cancel(denied.uuid, BOB, IP) is Status.DENIED
    recorded = [(e.outcome, e.fields) for e in await service.audit.tail(10)]
    assert recorded == [
        ("confirmed", {"uuid": session.uuid, "user": "demo:alice", "ip": IP}),
        ("exchanged", {"uuid": session.uuid, "user": "demo:alice", "ip": "198.51.100.7"}),
        ("denied", {"uuid": denied.uuid, "user": "demo:bob", "ip": IP}),
    ]
    assert await service.store._redis.zrange(deadlines, 0, -1) == []  # final: no longer watched for expiry
    assert (outcomes(service, "confirmed"), outcomes(service, "exchanged"), outcomes(service, "denied")) == (1, 1, 1)


async def test_a_step_past_its_users_limit_changes_and_records_nothing(redis_url: str, namespace: str) -> None:
    """The per-user count runs in the transition's script, first: at the limit the step is refused, whole."""
    settings = Settings(namespace=namespace, rate_limits=RateLimits(action_user=Rate(2, 60)))
    async with open_service(
        settings, redis_url, tokens=TokenIssuer(ttl=300), authenticator=DemoAuthenticator(), listen=False
    ) as svc:
        session = await svc.login.create(requester())
        await svc.login.scan(session.uuid, ALICE, IP)
        await svc.login.scan(session.uuid, ALICE, IP)  # a retry: counted too
        with pytest.raises(RateLimited):
            await svc.login.confirm(session.uuid, ALICE, IP)
        with pytest.raises(RateLimited):
            await svc.login.cancel(session.uuid, ALICE, IP)
        assert (await svc.store.read(session.uuid)).status is Status.SCANNED
        assert await svc.audit.tail(10) == []
        with pytest.raises(UserMismatch):  # another user is not held back by alice's count
            await svc.login.cancel(session.uuid, BOB, IP)
