"""The whole login, as the PC and the app see it."""

from __future__ import annotations

import asyncio

from diagnostics.userinfo_server import USERS
from tests.service import Instance


async def test_whole_login_from_qr_to_token(service: Instance) -> None:
    session = await service.new_session()
    assert session["status"] == 0 and session["state"] == "waiting"
    assert session["expires_in"] == 120
    assert session["qr_content"] == f"{service.base_url}/s/{session['uuid']}"
    assert session["cursor"] not in session["qr_content"]

    parked = asyncio.ensure_future(service.wait(session["cursor"]))
    scan = await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    assert scan.code == 200
    assert scan.body["status"] == 1 and scan.body["state"] == "scanned"
    assert scan.body["requester"]["ip"] == "127.0.0.1"
    assert scan.body["requester"]["user_agent"] == "TestBrowser/1.0 (X11; Linux x86_64)"
    assert scan.body["requester"]["created_at"].endswith("Z")

    scanned = await parked
    assert scanned.code == 200
    assert scanned.body["status"] == 1
    assert scanned.body["user"] == {"sub": "alice", "name": "Alice", "picture": USERS["alice-token"]["picture"]}
    assert "code" not in scanned.body

    parked = asyncio.ensure_future(service.wait(session["cursor"], status=1))
    confirm = await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    assert confirm.code == 200 and confirm.body == {"status": 200, "state": "confirmed"}

    confirmed = await parked
    assert confirmed.body["status"] == 2 and confirmed.body["state"] == "confirmed"
    code = confirmed.body["code"]

    token = await service.post("/token", {"cursor": session["cursor"], "code": code})
    assert token.code == 200
    assert token.body["user"]["sub"] == "alice"
    assert token.body["token_type"] == "Bearer"
    claims = service.tokens.verify(token.body["token"])
    # The token lives 300 s; expires_in is what is left of it as the answer leaves, a second boundary may fall between.
    assert claims["exp"] - claims["iat"] == 300 and token.body["expires_in"] in (299, 300)
    assert claims["sub"] == "alice" and claims["name"] == "Alice"

    me = await service.request("GET", "/me", headers={"Authorization": f"Bearer {token.body['token']}"})
    assert me.code == 200 and me.body["user"]["sub"] == "alice"

    # The code is spent: a retry (its first answer lost) gets the same login, not a second one;
    # the PC's next wait says expired.
    again = await service.post("/token", {"cursor": session["cursor"], "code": code})
    assert again.code == 200 and again.body["token"] == token.body["token"]
    assert 0 < again.body["expires_in"] <= 300
    assert await service.metric("qrlogin_sessions_total", outcome="exchanged") == 1
    gone = await service.wait(session["cursor"], status=2)
    assert gone.body["status"] == -1 and gone.body["state"] == "expired"


async def test_confirm_without_scan_is_refused(service: Instance) -> None:
    """The app must have been shown who asks (/scan) before it may confirm."""
    session = await service.new_session()
    blind = await service.post("/confirm", {"uuid": session["uuid"]}, user="bob-token")
    assert blind.code == 409 and blind.error == "not_scanned"
    assert (await service.wait(session["cursor"], status=-1)).body["status"] == 0
    confirm = await service.approve(session["uuid"], "bob-token")
    assert confirm.code == 200
    answer = await service.wait(session["cursor"])
    assert answer.body["status"] == 2
    assert answer.body["user"]["name"] == "Bob"  # UserInfo had no `name`, only `email`
    assert answer.body["expires_in"] <= 60  # the code TTL now bounds the session


async def test_cancel_tells_the_pc_it_was_denied(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    parked = asyncio.ensure_future(service.wait(session["cursor"], status=1))
    cancel = await service.post("/cancel", {"uuid": session["uuid"]}, user="alice-token")
    assert cancel.code == 200 and cancel.body == {"status": 3, "state": "denied"}
    denied = await parked
    assert denied.body["status"] == 3 and denied.body["state"] == "denied"
    assert "code" not in denied.body


async def test_credential_in_the_body_is_accepted(service: Instance) -> None:
    session = await service.new_session()
    scan = await service.post("/scan", {"uuid": session["uuid"], "authorization": "Bearer alice-token"})
    assert scan.code == 200 and scan.body["status"] == 1


async def test_qr_images_are_served_for_a_live_session(service: Instance) -> None:
    session = await service.new_session()
    svg = await service.request("GET", session["qr_svg"])
    assert svg.code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    assert svg.body.startswith(b"<svg") and b"<path" in svg.body
    png = await service.request("GET", session["qr_png"])
    assert png.code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.body.startswith(b"\x89PNG\r\n\x1a\n")
    missing = await service.request("GET", "/qr/" + "0" * 32 + ".svg")
    assert missing.code == 404 and missing.error == "session_not_found"


async def test_public_url_option_sets_the_qr_content(make_instance: object) -> None:
    instance = await make_instance(public_url="https://login.example.com/")  # type: ignore[operator]
    session = await instance.new_session()
    assert session["qr_content"] == f"https://login.example.com/s/{session['uuid']}"


async def test_login_token_is_refused_when_tampered_or_expired(service: Instance) -> None:
    from auth import TokenIssuer
    from login.models import Identity
    from oidc.keys import KeyRing
    from redis_map.keys import KeySpace
    from redis_map.signing_keys import SigningKeyStore

    good = service.tokens.issue(Identity(sub="alice", name="Alice"))
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    expired = TokenIssuer(service.tokens.keys, ttl=-10).issue(Identity(sub="alice"))
    other_keys = KeyRing(SigningKeyStore(service.redis, KeySpace(f"{service.settings.namespace}:other")), lifetime=300)
    await other_keys.ensure_signer()
    foreign = TokenIssuer(other_keys, ttl=300).issue(Identity(sub="alice"))
    for token in (tampered, expired, foreign, "garbage"):
        answer = await service.request("GET", "/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.code == 401, token
        assert answer.error == "invalid_token"
    assert (await service.request("GET", "/me")).code == 401
