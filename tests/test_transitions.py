"""Every status transition the app can ask for, allowed or refused, by scenario."""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest

from login.models import Identity, Status
from tests.service import Instance


class Scenario(NamedTuple):
    setup: list[tuple[str, str]]  # (action, user) done first, each must succeed
    action: str
    user: str
    code: int
    error: str | None
    status_after: int  # what the PC's /wait then reports


ALICE_CONFIRMED = [("scan", "alice-token"), ("confirm", "alice-token")]

SCENARIOS: dict[str, Scenario] = {
    # allowed
    "scan-waiting": Scenario([], "scan", "alice-token", 200, None, 1),
    "rescan-by-same-user": Scenario([("scan", "alice-token")], "scan", "alice-token", 200, None, 1),
    "confirm-waiting-unscanned": Scenario([], "confirm", "alice-token", 409, "not_scanned", 0),
    "confirm-scanned": Scenario([("scan", "alice-token")], "confirm", "alice-token", 200, None, 2),
    "cancel-waiting": Scenario([], "cancel", "alice-token", 200, None, 3),
    "cancel-scanned": Scenario([("scan", "alice-token")], "cancel", "alice-token", 200, None, 3),
    # refused: another user than the one who scanned
    "scan-scanned-by-other": Scenario([("scan", "alice-token")], "scan", "bob-token", 409, "user_mismatch", 1),
    "confirm-scanned-by-other": Scenario([("scan", "alice-token")], "confirm", "bob-token", 409, "user_mismatch", 1),
    "cancel-scanned-by-other": Scenario([("scan", "alice-token")], "cancel", "bob-token", 409, "user_mismatch", 1),
    # refused: confirmed is final, and cannot be switched to another user
    # a retry by the user whose change it already is (its first answer lost): answered alike, nothing changes
    "confirm-confirmed-again": Scenario(ALICE_CONFIRMED, "confirm", "alice-token", 200, None, 2),
    "cancel-denied-again": Scenario([("cancel", "alice-token")], "cancel", "alice-token", 200, None, 3),
    "cancel-scanned-denied-again": Scenario(
        [("scan", "alice-token"), ("cancel", "alice-token")], "cancel", "alice-token", 200, None, 3
    ),
    "confirm-confirmed-by-other": Scenario(ALICE_CONFIRMED, "confirm", "bob-token", 409, "invalid_state", 2),
    "scan-confirmed": Scenario(ALICE_CONFIRMED, "scan", "alice-token", 409, "invalid_state", 2),
    "cancel-confirmed": Scenario(ALICE_CONFIRMED, "cancel", "alice-token", 409, "invalid_state", 2),
    # refused: denied is final, nothing revives it
    "confirm-denied": Scenario([("cancel", "alice-token")], "confirm", "alice-token", 409, "invalid_state", 3),
    "scan-denied": Scenario([("cancel", "alice-token")], "scan", "alice-token", 409, "invalid_state", 3),
    "cancel-denied-by-other": Scenario([("cancel", "alice-token")], "cancel", "bob-token", 409, "invalid_state", 3),
    "confirm-denied-by-other": Scenario([("cancel", "alice-token")], "confirm", "bob-token", 409, "invalid_state", 3),
}


@pytest.mark.parametrize("name", SCENARIOS)
async def test_transition(service: Instance, name: str) -> None:
    scenario = SCENARIOS[name]
    session = await service.new_session()
    for action, user in scenario.setup:
        done = await service.post(f"/{action}", {"uuid": session["uuid"]}, user=user)
        assert done.code == 200, done.body

    answer = await service.post(f"/{scenario.action}", {"uuid": session["uuid"]}, user=scenario.user)

    assert answer.code == scenario.code, answer.body
    assert answer.error == scenario.error
    if scenario.error:
        assert answer.body["status"] == scenario.code
        assert answer.body["message"]
    state = await service.wait(session["cursor"], status=-1)
    assert state.body["status"] == scenario.status_after


@pytest.mark.parametrize("action", ["scan", "confirm", "cancel"])
async def test_action_on_unknown_session_is_404(service: Instance, action: str) -> None:
    answer = await service.post(f"/{action}", {"uuid": "0123456789abcdef" * 2}, user="alice-token")
    assert answer.code == 404 and answer.error == "session_not_found"


async def test_confirmed_session_keeps_its_user(service: Instance) -> None:
    session = await service.new_session()
    assert (await service.approve(session["uuid"], "alice-token")).code == 200
    await service.post("/confirm", {"uuid": session["uuid"]}, user="bob-token")
    await service.post("/scan", {"uuid": session["uuid"]}, user="bob-token")
    answer = await service.wait(session["cursor"])
    assert answer.body["user"]["sub"] == "alice"


async def test_a_scan_hands_back_the_session_in_the_same_round_trip(service: Instance) -> None:
    if os.environ.get("REDIS_URL"):
        pytest.skip("counts the Redis's commands: needs the test run's own Redis, not a shared one")
    session = await service.new_session()
    before = (await service.redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
    view = await service.store.scan(session["uuid"], Identity(sub="alice", name="Alice", picture=""))
    after = (await service.redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
    assert after - before == 1  # the transition script alone: no read after it
    assert view.status is Status.SCANNED and view.user == Identity(sub="alice", name="Alice", picture="")
    assert view.requester is not None and view.requester.ip == "127.0.0.1"
    assert 0 < view.expires_in <= service.store.session_ttl
