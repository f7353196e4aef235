"""Nothing lost, nothing twice for a client that only sees a timeout: every change is safe to retry.

A loopback proxy between the service and Redis lets the change through to
Redis and holds back its reply past the client's read timeout: the service
cannot know whether the change was made, and says so (``outcome_unknown``);
the client's retry then answers as the first call would have.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from redis_map.connection.connect import SOCKET_TIMEOUT
from redis_map.session_scripts import script_sha
from tests.conftest import MakeInstance
from tests.procs import RedisServer
from tests.service import Instance
from tests.tcpproxy import HoldingProxy


@pytest.fixture
async def proxy(aof_redis: RedisServer) -> AsyncIterator[HoldingProxy]:
    proxy = await HoldingProxy(aof_redis.port).start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def stalled(make_instance: MakeInstance, proxy: HoldingProxy) -> Instance:
    """A service whose Redis is reached through the proxy; its pub/sub too, which the hold never touches."""
    return await make_instance(redis_url=proxy.url, wait_timeout=SOCKET_TIMEOUT * 3)


async def lost_reply(
    service: Instance, proxy: HoldingProxy, script: str, path: str, body: dict[str, str], user: str = ""
) -> None:
    """Send a change whose script's reply Redis gives but the proxy holds: the service says the outcome is unknown."""
    proxy.hold_reply_to(script_sha(script).encode())
    answer = await service.post(path, body, user=user or None)
    assert proxy.held.is_set()  # the change reached Redis
    assert answer.code == 503 and answer.error == "outcome_unknown", answer.body
    assert "retry" in answer.body["message"].lower()
    proxy.release()


async def test_a_confirm_whose_answer_was_lost_is_confirmed_by_its_retry(
    stalled: Instance, proxy: HoldingProxy
) -> None:
    session = await stalled.new_session()
    assert (await stalled.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200

    await lost_reply(stalled, proxy, "transition.lua", "/confirm", {"uuid": session["uuid"]}, "alice-token")

    retry = await stalled.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    assert retry.code == 200 and retry.body == {"status": 200, "state": "confirmed"}
    assert await stalled.metric("qrlogin_sessions_total", outcome="confirmed") == 0  # the lost one went unrecorded
    waited = await stalled.wait(session["cursor"], status=1)
    assert waited.body["status"] == 2 and waited.body["code"]


async def test_a_token_whose_answer_was_lost_is_handed_out_by_its_retry(stalled: Instance, proxy: HoldingProxy) -> None:
    session = await stalled.new_session()
    await stalled.approve(session["uuid"], "alice-token")
    code = (await stalled.wait(session["cursor"], status=1)).body["code"]
    exchange = {"cursor": session["cursor"], "code": code}

    await lost_reply(stalled, proxy, "exchange.lua", "/token", exchange)

    retry = await stalled.post("/token", exchange)
    assert retry.code == 200, retry.body
    assert stalled.tokens.verify(retry.body["token"])["sub"] == "alice"
    again = await stalled.post("/token", exchange)
    assert again.code == 200 and again.body["token"] == retry.body["token"]  # the one login, not a second
    forged = {"cursor": session["uuid"] + "." + "B" * 43, "code": code}
    assert (await stalled.post("/token", forged)).error == "invalid_grant"


async def test_a_cancel_whose_answer_was_lost_is_denied_by_its_retry(stalled: Instance, proxy: HoldingProxy) -> None:
    session = await stalled.new_session()

    await lost_reply(stalled, proxy, "transition.lua", "/cancel", {"uuid": session["uuid"]}, "alice-token")

    retry = await stalled.post("/cancel", {"uuid": session["uuid"]}, user="alice-token")
    assert retry.code == 200 and retry.body["state"] == "denied"
    other = await stalled.post("/cancel", {"uuid": session["uuid"]}, user="bob-token")
    assert other.code == 409 and other.error == "invalid_state"
