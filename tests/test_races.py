"""Racing requests: exactly one winner, nothing handed out twice, load queues rather than fails."""

from __future__ import annotations

import asyncio

from diagnostics.parked import parked_waiters
from tests.conftest import MakeInstance
from tests.service import Answer, Instance

RACERS = 12


async def test_concurrent_confirms_make_exactly_one_change(make_instance: MakeInstance) -> None:
    """The same user's racing confirms (retries, double taps) all answer confirmed; one confirm happened."""
    first, second = await make_instance(), await make_instance()
    session = await first.new_session()
    assert (await first.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    answers = await asyncio.gather(
        *(
            (first if i % 2 else second).post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
            for i in range(RACERS)
        )
    )
    assert [(a.code, a.body["state"]) for a in answers] == [(200, "confirmed")] * RACERS
    recorded = [await i.metric("qrlogin_sessions_total", outcome="confirmed") for i in (first, second)]
    assert sum(recorded) == 1
    codes = {(await i.wait(session["cursor"], status=1)).body["code"] for i in (first, second)}
    assert len(codes) == 1  # one code: no confirm after the first replaced it


async def test_concurrent_confirms_by_another_user_are_refused(make_instance: MakeInstance) -> None:
    first, second = await make_instance(), await make_instance()
    session = await first.new_session()
    assert (await first.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    answers = await asyncio.gather(
        first.post("/confirm", {"uuid": session["uuid"]}, user="alice-token"),
        *(second.post("/confirm", {"uuid": session["uuid"]}, user="bob-token") for _ in range(RACERS)),
    )
    assert answers[0].code == 200
    assert {(a.code, a.error) for a in answers[1:]} <= {(409, "user_mismatch"), (409, "invalid_state")}


async def test_confirm_racing_cancel_has_exactly_one_outcome(service: Instance) -> None:
    for _ in range(10):
        session = await service.new_session()
        await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
        confirm, cancel = await asyncio.gather(
            service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token"),
            service.post("/cancel", {"uuid": session["uuid"]}, user="alice-token"),
        )
        assert sorted([confirm.code, cancel.code]) == [200, 409]
        final = (await service.wait(session["cursor"])).body["status"]
        assert final == (2 if confirm.code == 200 else 3)


async def test_concurrent_exchanges_hand_out_exactly_one_token(make_instance: MakeInstance) -> None:
    """Racing copies of one exchange (retries) all get the one login it made; one exchange happened."""
    first, second = await make_instance(), await make_instance()
    session = await first.new_session()
    await first.approve(session["uuid"], "alice-token")
    code = (await first.wait(session["cursor"])).body["code"]
    exchange = {"cursor": session["cursor"], "code": code}
    answers = await asyncio.gather(*((first if i % 2 else second).post("/token", exchange) for i in range(RACERS)))
    assert [a.code for a in answers] == [200] * RACERS
    assert len({a.body["token"] for a in answers}) == 1
    assert answers[0].body["user"]["sub"] == "alice"
    recorded = [await i.metric("qrlogin_sessions_total", outcome="exchanged") for i in (first, second)]
    assert sum(recorded) == 1


async def test_exchange_needs_the_cursor_not_just_the_code(service: Instance) -> None:
    session = await service.new_session()
    await service.approve(session["uuid"], "alice-token")
    code = (await service.wait(session["cursor"])).body["code"]
    forged = session["uuid"] + "." + "B" * 43
    assert (await service.post("/token", {"cursor": forged, "code": code})).error == "invalid_grant"
    wrong_code = "x" * 22
    assert (await service.post("/token", {"cursor": session["cursor"], "code": wrong_code})).code == 400
    # Failed attempts do not burn the real login.
    token = await service.post("/token", {"cursor": session["cursor"], "code": code})
    assert token.code == 200


async def test_exchange_before_confirm_is_refused(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    answer = await service.post("/token", {"cursor": session["cursor"], "code": "A" * 22})
    assert answer.code == 400 and answer.error == "invalid_grant"


async def test_hundreds_of_concurrent_requests_queue_rather_than_fail(make_instance: MakeInstance) -> None:
    """Past the Redis pool's 64 connections requests wait their turn: no 'Too many connections'."""
    service = await make_instance(wait_timeout=30, rate_limits=None)  # one IP, far past its limits
    sessions = await asyncio.gather(*(service.post("/uuid") for _ in range(400)))
    assert [s.code for s in sessions] == [200] * 400

    async def until_settled(cursor: str) -> Answer:
        answer = await service.wait(cursor)
        while answer.code == 200 and answer.body["status"] in (0, 1):
            answer = await service.wait(cursor, status=answer.body["status"])
        return answer

    waits = [asyncio.ensure_future(until_settled(s.body["cursor"])) for s in sessions]
    confirms = await asyncio.gather(*(service.approve(s.body["uuid"], "bob-token") for s in sessions))
    assert [c.code for c in confirms] == [200] * 400
    answers = await asyncio.gather(*waits)
    assert [(a.code, a.body["status"]) for a in answers if a.code != 200 or a.body["status"] != 2] == []
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 0, timeout=5)
