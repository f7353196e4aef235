"""Whatever the auth server answers, the app gets 401, 502 or 504 (or in), never a 500, and never its address."""

from __future__ import annotations

import logging

import pytest

from auth import UserInfoClient
from diagnostics.userinfo_server import AuthServer
from tests.conftest import MakeInstance
from tests.service import Instance

#: scenario token -> what a malformed answer ends in: the auth server failed, the session is unchanged
MALFORMED: dict[str, str] = {
    "deep-json": "auth_unavailable",  # nested past the JSON parser's recursion limit
    "surrogate-sub": "auth_unavailable",  # a user id no UTF-8 encoder (Redis) accepts
}

#: scenario token -> the user the app is shown: a broken display field is repaired or dropped, never fatal
REPAIRED: dict[str, dict[str, str]] = {
    "surrogate-name": {"sub": "carol", "name": "Car\ufffdol", "picture": ""},
    "surrogate-picture": {"sub": "carol", "name": "Carol", "picture": ""},
    "bad-picture-url": {"sub": "carol", "name": "Carol", "picture": ""},
}


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("action", ["scan", "confirm", "cancel"])
@pytest.mark.parametrize("token", MALFORMED)
async def test_a_malformed_answer_is_502_and_changes_nothing(
    service: Instance, token: str, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    session = await service.new_session()
    answer = await service.post(f"/{action}", {"uuid": session["uuid"]}, user=token)
    assert (answer.code, answer.error) == (502, MALFORMED[token]), answer.body
    view = await service.store.read(session["uuid"])
    assert view.status == 0 and view.user is None
    assert tracebacks(caplog) == []


@pytest.mark.parametrize("token", REPAIRED)
async def test_a_broken_display_field_does_not_stop_the_login(
    service: Instance, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    session = await service.new_session()
    scan = await service.post("/scan", {"uuid": session["uuid"]}, user=token)
    assert scan.code == 200, scan.body
    assert scan.body["user"] == REPAIRED[token]
    confirm = await service.post("/confirm", {"uuid": session["uuid"]}, user=token)
    assert confirm.code == 200, confirm.body
    waited = await service.wait(session["cursor"], status=1)
    assert waited.body["status"] == 2 and waited.body["user"] == REPAIRED[token]
    assert tracebacks(caplog) == []


async def test_an_unreachable_auth_server_is_not_named_to_the_client(
    make_instance: MakeInstance, auth_server: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    await auth_server.stop()  # nothing listens on its port any more
    service = await make_instance(authenticator=UserInfoClient(auth_server.url, timeout=2))
    session = await service.new_session()
    with caplog.at_level(logging.WARNING, logger="qrlogin.auth"):
        answer = await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    assert (answer.code, answer.error) == (502, "auth_unavailable")
    assert answer.body["message"] == "The auth server could not be reached."
    assert "127.0.0.1" not in answer.body["message"] and str(auth_server.port) not in answer.body["message"]
    # The operator learns where it failed, from the log.
    logged = [record.getMessage() for record in caplog.records if record.name == "qrlogin.auth"]
    assert len(logged) == 1 and str(auth_server.port) in logged[0], logged
