"""The login an authorization request starts: its sessions, the hand-back with a code bound to the request,
once, in one Redis round trip; the page's calls and the phone's page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from auth import DemoAuthenticator
from login.errors import InvalidGrant
from login.models import Cursor, NewSession, Requester, SessionView, Status
from oidc.authorization import RequestGone
from oidc.grant import Grant, new_grant_id, parse_token, token_hash
from tests.conftest import MakeInstance
from tests.oidc.conftest import (
    BOB,
    ISSUER,
    REDIRECT_URI,
    as_parameters,
    authorize,
    good_request,
    parts,
    query_of,
    register,
)
from tests.service import Instance


async def confirmed_by_bob(service: Instance, session: NewSession) -> SessionView:
    """``session`` scanned and confirmed by Bob's phone; its state as its PC reads it (with the code)."""
    login = service.services.login
    await login.scan(session.uuid, BOB, "192.0.2.2")
    await login.confirm(session.uuid, BOB, "192.0.2.2")
    view = await login.store.read_for_cursor(session.cursor)
    assert view.code is not None and view.user is not None
    return view


async def test_a_whole_authorization_at_the_domain_level(provider: Instance) -> None:
    """start, the page's QR, scan and confirm, the hand-back: a code bound to everything, once; then the denial."""
    client, _ = await register(provider)
    flow = parts(provider).authorizations
    login = provider.services.login
    request_id, request = await flow.start(as_parameters(good_request(client.client_id)))
    requester = Requester(ip="192.0.2.1", user_agent="Test", created_at=0.0, reached_at=provider.base_url)

    session = await flow.new_login(request_id, requester)
    assert (await flow.asked_by(session.uuid)) == request
    view = await confirmed_by_bob(provider, session)
    assert view.code is not None

    back = await flow.complete(session.cursor, view.code, "192.0.2.1", ISSUER)
    answer = query_of(back)
    assert back.startswith(REDIRECT_URI + "?") and answer["state"] == "st-123" and answer["iss"] == ISSUER
    code = answer["code"]
    grant_id = parse_token(code)
    assert grant_id is not None
    stored = await provider.redis.hgetall(provider.store.keys.grant(grant_id))
    assert stored["status"] == "code" and stored["code_hash"] == token_hash(code) and code not in stored.values()
    assert stored["client_id"] == client.client_id and stored["redirect_uri"] == REDIRECT_URI
    assert stored["sub"] == "demo:bob" and stored["nonce"] == "n-456" and stored["scope"] == "openid profile"
    assert stored["code_challenge"] == request.code_challenge
    assert 0 < await provider.redis.pttl(provider.store.keys.grant(grant_id)) <= 60_000

    # The tab's retry (its answer lost) goes back with the same code; nothing new is made.
    assert await flow.complete(session.cursor, view.code, "192.0.2.1", ISSUER) == back

    # Another session of the same page, denied on the phone.
    denied = await flow.new_login(request_id, requester)
    await login.cancel(denied.uuid, BOB, "192.0.2.2")
    refused = query_of(await flow.complete(denied.cursor, None, "192.0.2.1", ISSUER))
    assert refused["error"] == "access_denied" and refused["state"] == "st-123" and refused["iss"] == ISSUER


def count_trips(service: Instance, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The round trips the service's Redis client makes from now on: its pool's check-outs, one per command or
    pipeline (a script Redis did not know yet takes three: EVALSHA, SCRIPT LOAD, EVALSHA)."""
    pool = service.redis.connection_pool
    checkout = pool.get_connection
    trips: list[str] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        trips.append("trip")
        return await checkout(*args, **kwargs)

    monkeypatch.setattr(pool, "get_connection", counted)
    return trips


async def test_the_pages_call_for_a_qr_is_one_round_trip_and_a_gone_request_makes_nothing(
    provider: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The creation script reads the request and writes its copy beside the session; an expired request: refused,
    no session made, nothing counted against the PC's IP."""
    client, _ = await register(provider)
    flow = parts(provider).authorizations
    keys = provider.store.keys
    request_id, request = await flow.start(as_parameters(good_request(client.client_id)))
    requester = Requester(ip="192.0.2.9", user_agent="Test", created_at=0.0, reached_at=provider.base_url)

    await flow.new_login(request_id, requester)  # the page's first QR: the scripts known to Redis from now on
    trips = count_trips(provider, monkeypatch)
    session = await flow.new_login(request_id, requester)
    assert len(trips) == 1, trips
    assert await flow.asked_by(session.uuid) == request
    settings = provider.settings
    ttl_ms = await provider.redis.pttl(keys.authorization_login(session.uuid))
    assert settings.session_ttl * 1000 < ttl_ms <= (settings.session_ttl + settings.code_ttl) * 1000
    assert (await provider.store.read(session.uuid)).status is Status.WAITING

    count = provider.services.login.limiter.session_request(requester.ip)
    assert count is not None
    counted = await provider.redis.get(count.key)
    assert counted == "2"
    sessions = len([key async for key in provider.redis.scan_iter(match=keys.session("*"))])
    await provider.redis.delete(keys.authorization_request(request_id))
    with pytest.raises(RequestGone):
        await flow.new_login(request_id, requester)
    assert await provider.redis.get(count.key) == counted
    assert len([key async for key in provider.redis.scan_iter(match=keys.session("*"))]) == sessions


async def test_the_process_that_bound_a_login_hands_it_back_without_reading_the_copy(
    provider: Instance, make_instance: MakeInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-back on the process that made the page's session: one script (the session's read, the exchange,
    the grant's code), no read of the request's copy; another process (sharing the Redis) reads the copy, and hands
    back alike."""
    client, _ = await register(provider)
    flow = parts(provider).authorizations
    request_id, request = await flow.start(as_parameters(good_request(client.client_id)))
    requester = Requester(ip="192.0.2.1", user_agent="Test", created_at=0.0, reached_at=provider.base_url)
    sessions = [await flow.new_login(request_id, requester) for _ in range(3)]
    codes = [(await confirmed_by_bob(provider, session)).code or "" for session in sessions]
    await flow.complete(sessions[0].cursor, codes[0], "192.0.2.1", ISSUER)  # the grant's script known to Redis

    trips = count_trips(provider, monkeypatch)
    back = await flow.complete(sessions[1].cursor, codes[1], "192.0.2.1", ISSUER)
    assert len(trips) == 1, trips
    assert query_of(back)["state"] == "st-123" and back.startswith(REDIRECT_URI + "?")

    other = parts(await make_instance(authenticator=DemoAuthenticator(), demo=True, issuer=ISSUER)).authorizations
    assert await other.asked_by(sessions[2].uuid) == request
    back = await other.complete(sessions[2].cursor, codes[2], "192.0.2.1", ISSUER)
    assert query_of(back)["state"] == "st-123" and query_of(back)["code"]


async def test_the_exchange_writes_the_grant_as_issue_code_would_and_a_refused_one_writes_none(
    provider: Instance,
) -> None:
    """On one server the grant's code is written by the hand-back's exchange: the same hash as ``issue_code``'s,
    its user the session's, audited once with it; a wrong cursor or a retry writes no grant."""
    client, _ = await register(provider)
    flow = parts(provider).authorizations
    request_id, _ = await flow.start(as_parameters(good_request(client.client_id)))
    requester = Requester(ip="192.0.2.1", user_agent="Test", created_at=0.0, reached_at=provider.base_url)
    session = await flow.new_login(request_id, requester)
    view = await confirmed_by_bob(provider, session)
    assert view.code is not None
    grants = provider.store.keys.grant("*")
    forged = Cursor(session.uuid, "B" * 43)
    with pytest.raises(InvalidGrant):
        await flow.complete(forged, view.code, "192.0.2.1", ISSUER)
    assert [key async for key in provider.redis.scan_iter(grants)] == []

    back = await flow.complete(session.cursor, view.code, "192.0.2.1", ISSUER)
    assert await flow.complete(session.cursor, view.code, "192.0.2.1", ISSUER) == back
    assert len([key async for key in provider.redis.scan_iter(grants)]) == 1
    code = query_of(back)["code"]
    grant_id = parse_token(code)
    assert grant_id is not None
    written = await provider.redis.hgetall(provider.store.keys.grant(grant_id))
    grant = Grant.from_fields(grant_id, written)
    assert grant.user == view.user
    other = new_grant_id()
    expires_ms = int(written["code_expires_ms"])
    await parts(provider).token_endpoint.context.grants.issue_code(
        replace(grant, grant_id=other), token_hash(code), expires_ms, 60_000, "192.0.2.1"
    )
    assert await provider.redis.hgetall(provider.store.keys.grant(other)) == written
    issued = [e.fields for e in await provider.audit.tail(50) if e.outcome == "code_issued"]
    assert [e for e in issued if e.get("grant") == grant_id] == [
        {"grant": grant_id, "client": client.client_id, "user": "demo:bob", "ip": "192.0.2.1"}
    ]


async def test_only_the_tab_with_the_cursor_completes(provider: Instance) -> None:
    client, _ = await register(provider)
    answer = await authorize(provider, good_request(client.client_id))
    request_id = answer.body.decode().split('data-authorize="')[1].split('"')[0]
    created = await provider.post("/authorize/session", {"request": request_id})
    assert created.code == 200 and created.body["status"] == 0
    uuid = created.body["uuid"]
    await provider.approve(uuid, "demo:bob")
    code = (await provider.wait(created.body["cursor"], status=1)).body["code"]

    wrong = str(Cursor(uuid, "A" * 43))
    for body in ({"cursor": wrong, "code": code}, {"cursor": "nonsense", "code": code}, {"cursor": wrong}):
        refused = await provider.post("/authorize/complete", body)
        assert refused.code == 400, body
    first_party = await provider.new_session()  # a login no authorization asked for
    refused = await provider.post("/authorize/complete", {"cursor": first_party["cursor"], "code": code})
    assert refused.code == 400 and "expired" in refused.body["message"]

    done = await provider.post("/authorize/complete", {"cursor": created.body["cursor"], "code": code})
    assert done.code == 200 and query_of(done.body["redirect_to"])["code"]


async def test_the_page_calls_refuse_bad_input(provider: Instance) -> None:
    for body, error in (
        ({"request": "gone"}, "invalid_request"),
        ({"request": 5}, "invalid_request"),
        ({}, "invalid_request"),
        ({"request": "x" * 100}, "invalid_request"),
    ):
        answer = await provider.post("/authorize/session", body)
        assert answer.code == 400 and answer.error == error, body
    assert (await provider.post("/authorize/session", raw=b"[1")).error == "invalid_json"
    assert (await provider.post("/authorize/complete", {"cursor": 1})).error == "invalid_request"
    assert (await provider.post("/authorize/complete", raw=b"x" * 20_000)).code == 413


async def test_the_phone_page_names_the_site_and_where_it_sends_the_computer(provider: Instance) -> None:
    client, _ = await register(provider, name="Acme <Shop>")
    answer = await authorize(provider, good_request(client.client_id))
    request_id = answer.body.decode().split('data-authorize="')[1].split('"')[0]
    created = await provider.post("/authorize/session", {"request": request_id})
    phone = await provider.request("GET", f"/s/{created.body['uuid']}")
    assert phone.code == 200
    page = phone.body.decode()
    assert "For Acme &lt;Shop&gt;" in page and "sent back to rp.example" in page
    first_party = await provider.new_session()
    plain = (await provider.request("GET", f"/s/{first_party['uuid']}")).body.decode()
    assert "For " not in plain and "sent back" not in plain
