"""The app's credential is checked with the auth server; every failure leaves the session as it was."""

from __future__ import annotations

import time
from typing import NamedTuple

import pytest

from auth import DemoAuthenticator, UserInfoClient
from diagnostics.userinfo_server import AuthServer
from tests.conftest import MakeInstance
from tests.service import Instance


class Failure(NamedTuple):
    token: str
    code: int
    error: str


FAILURES: dict[str, Failure] = {
    "unknown-token": Failure("nobody-token", 401, "invalid_token"),
    "forbidden": Failure("forbidden", 401, "invalid_token"),
    "server-error": Failure("broken", 502, "auth_unavailable"),
    "answer-not-json": Failure("not-json", 502, "auth_unavailable"),
    "answer-without-sub": Failure("no-sub", 502, "auth_unavailable"),
    "no-answer-in-time": Failure("slow", 504, "auth_timeout"),
    "answer-too-large": Failure("huge", 502, "auth_unavailable"),
}


@pytest.mark.parametrize("action", ["scan", "confirm", "cancel"])
@pytest.mark.parametrize("name", FAILURES)
async def test_failed_auth_check_changes_nothing(service: Instance, name: str, action: str) -> None:
    failure = FAILURES[name]
    session = await service.new_session()
    answer = await service.post(f"/{action}", {"uuid": session["uuid"]}, user=failure.token)
    assert answer.code == failure.code
    assert answer.error == failure.error
    assert answer.body["status"] == failure.code
    view = await service.store.read(session["uuid"])
    assert view.status == 0 and view.user is None


async def test_auth_server_sees_the_apps_credential(service: Instance, auth_server: AuthServer) -> None:
    session = await service.new_session()
    before = auth_server.calls
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    assert auth_server.calls == before + 2  # every action is checked, none cached


async def test_auth_checks_keep_one_connection_alive(auth_server: AuthServer) -> None:
    client = UserInfoClient(auth_server.url)
    before = auth_server.connections
    try:
        for _ in range(5):
            assert (await client.identify("Bearer alice-token")).sub == "alice"
    finally:
        client.close()
    assert auth_server.connections - before == 1


async def test_unreachable_auth_server_is_502(make_instance: MakeInstance, auth_server: AuthServer) -> None:
    await auth_server.stop()  # nothing listens on its port any more
    service = await make_instance(authenticator=UserInfoClient(auth_server.url, timeout=2))
    session = await service.new_session()
    started = time.monotonic()
    answer = await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    assert answer.code == 502 and answer.error == "auth_unavailable"
    assert time.monotonic() - started < 2
    assert (await service.store.read(session["uuid"])).status == 0


async def test_demo_mode_accepts_demo_names_only(make_instance: MakeInstance) -> None:
    service = await make_instance(authenticator=DemoAuthenticator())
    session = await service.new_session()
    refused = await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    assert refused.code == 401 and refused.error == "invalid_token"
    scan = await service.post("/scan", {"uuid": session["uuid"]}, user="demo:carol")
    assert scan.code == 200
    answer = await service.wait(session["cursor"])
    assert answer.body["user"] == {"sub": "demo:carol", "name": "carol", "picture": ""}


async def test_unsafe_picture_urls_are_dropped(service: Instance, auth_server: AuthServer) -> None:
    from auth.identity import identity_from_claims

    assert identity_from_claims({"sub": "x", "picture": "javascript:alert(1)"}).picture == ""  # type: ignore[union-attr]
    assert identity_from_claims({"sub": ""}) is None
    assert identity_from_claims(["sub"]) is None
