"""The PC's long-poll: answers on change, at timeout, at expiry; never leaks a waiter."""

from __future__ import annotations

import asyncio
import math
import socket
import time

import pytest

from diagnostics.parked import parked_waiters
from login.models import Cursor, SessionView, Status
from redis_map.wait_slots import WaitSlots
from tests.conftest import MakeInstance
from tests.service import Instance


async def test_wait_answers_at_once_when_status_already_differs(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    started = time.monotonic()
    answer = await service.wait(session["cursor"], status=0)
    assert answer.body["status"] == 1
    assert time.monotonic() - started < 2  # the wait timeout is 10 s


async def test_wait_answers_on_change_long_before_its_timeout(make_instance: MakeInstance) -> None:
    service = await make_instance(wait_timeout=30)
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    parked = asyncio.ensure_future(service.wait(session["cursor"], status=1))
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    started = time.monotonic()
    await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    answer = await parked
    assert answer.body["status"] == 2 and answer.body["code"]
    assert time.monotonic() - started < 5
    assert service.registry.waiters == 0


async def test_wait_answers_unchanged_status_at_timeout(make_instance: MakeInstance) -> None:
    service = await make_instance(session_ttl=3, wait_timeout=1.2)
    created = time.monotonic()
    session = await service.new_session()
    started = time.monotonic()
    answer = await service.wait(session["cursor"])
    assert time.monotonic() - started >= 1.2
    lived = time.monotonic() - created
    assert answer.code == 200
    assert answer.body == {"status": 0, "state": "waiting", "expires_in": answer.body["expires_in"]}
    # The session's countdown as read at the deadline: 3 s less the 1.2 s waited (or more, on a slow machine),
    # rounded up.
    assert session["expires_in"] == 3 and math.ceil(3 - lived) <= answer.body["expires_in"] <= 2
    assert service.registry.waiters == 0 and service.registry.sessions == 0


async def test_wait_answers_expired_when_the_session_ttl_runs_out(make_instance: MakeInstance) -> None:
    service = await make_instance(session_ttl=0.5, wait_timeout=30)
    session = await service.new_session()
    started = time.monotonic()
    answer = await service.wait(session["cursor"])
    assert answer.body["status"] == -1 and answer.body["state"] == "expired"
    assert time.monotonic() - started < 5  # woke at expiry, not at the 30 s timeout
    late = await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    assert late.code == 404 and late.error == "session_not_found"
    qr = await service.request("GET", session["qr_svg"])
    assert qr.code == 404


async def test_confirmed_code_expires_after_code_ttl(make_instance: MakeInstance) -> None:
    service = await make_instance(code_ttl=0.5, wait_timeout=30)
    session = await service.new_session()
    await service.approve(session["uuid"], "alice-token")
    confirmed = await service.wait(session["cursor"])
    assert confirmed.body["status"] == 2
    expired = await service.wait(session["cursor"], status=2)
    assert expired.body["status"] == -1
    token = await service.post("/token", {"cursor": session["cursor"], "code": confirmed.body["code"]})
    assert token.code == 400 and token.error == "invalid_grant"


async def test_one_confirm_wakes_only_that_sessions_waiters(make_instance: MakeInstance) -> None:
    service = await make_instance(wait_timeout=30)
    target, other = await service.new_session(), await service.new_session()
    await service.post("/scan", {"uuid": target["uuid"]}, user="alice-token")
    target_waits = [asyncio.ensure_future(service.wait(target["cursor"], status=1)) for _ in range(3)]
    other_wait = asyncio.ensure_future(service.wait(other["cursor"]))
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 4, timeout=5)
    other_watch = service.registry.get(other["uuid"])
    assert other_watch is not None

    await service.post("/confirm", {"uuid": target["uuid"]}, user="alice-token")
    answers = await asyncio.gather(*target_waits)

    assert [a.body["status"] for a in answers] == [2, 2, 2]
    assert len({a.body["code"] for a in answers}) == 1
    assert other_watch.generation == 0  # never woken
    assert not other_wait.done()
    assert service.registry.waiters == 1
    other_wait.cancel()


async def test_wait_on_one_instance_wakes_on_confirm_at_another(make_instance: MakeInstance) -> None:
    pc_side = await make_instance(wait_timeout=30)
    app_side = await make_instance(wait_timeout=30)
    session = await pc_side.new_session()
    parked = asyncio.ensure_future(pc_side.wait(session["cursor"]))
    assert await parked_waiters(pc_side.registry).until(lambda r: r.waiters == 1, timeout=5)

    started = time.monotonic()
    assert (await app_side.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    assert (await parked).body["status"] == 1
    parked = asyncio.ensure_future(pc_side.wait(session["cursor"], status=1))
    assert (await app_side.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    confirmed = await parked
    assert time.monotonic() - started < 5

    assert confirmed.body["status"] == 2
    token = await app_side.post("/token", {"cursor": session["cursor"], "code": confirmed.body["code"]})
    assert token.code == 200 and token.body["user"]["sub"] == "alice"
    assert app_side.registry.waiters == 0


async def test_disconnected_pc_frees_its_waiter_at_once(make_instance: MakeInstance) -> None:
    service = await make_instance(wait_timeout=60)
    session = await service.new_session()
    body = f'{{"cursor": "{session["cursor"]}"}}'.encode()
    _reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(
        b"POST /wait HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)

    writer.transport.abort()  # the browser tab closes

    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 0, timeout=5)
    assert service.registry.sessions == 0


async def test_many_waits_timing_out_and_disconnecting_leave_nothing_behind(make_instance: MakeInstance) -> None:
    service = await make_instance(wait_timeout=0.5)
    sessions = [await service.new_session() for _ in range(20)]
    timed_out = [asyncio.ensure_future(service.wait(s["cursor"])) for s in sessions[:10]]
    sockets = []
    for s in sessions[10:]:
        sock = socket.create_connection(("127.0.0.1", service.port))
        body = f'{{"cursor": "{s["cursor"]}"}}'.encode()
        sock.sendall(b"POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        sockets.append(sock)
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 20, timeout=5)
    for sock in sockets:
        sock.close()
    answers = await asyncio.gather(*timed_out)
    assert all(a.body["status"] == 0 for a in answers)
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 0 and r.sessions == 0, timeout=5)


async def test_notification_during_the_read_is_not_missed(
    make_instance: MakeInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A confirm that lands after the waiter's read and before its park still wakes it.

    The store's read is wrapped so that the confirm, and its notice reaching
    this process, happen while the read is in flight; the read then returns
    the session as it was before.  Nobody is parked on the condition yet when
    the notice arrives: only the per-session generation tells the waiter to
    read again rather than sleep until its 60 s deadline.
    """
    service = await make_instance(wait_timeout=60)
    session = await service.new_session()
    assert (await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    noticed = asyncio.Event()
    notify = service.registry.notify
    first_read, read = service.store.read_to_wait, service.store.read_after_wake
    reads: list[int] = []

    def notify_and_tell(uuid: str) -> bool:
        woke = notify(uuid)
        if uuid == session["uuid"]:
            noticed.set()
        return woke

    async def first_read_racing_a_confirm(cursor: Cursor, known: Status, slots: WaitSlots) -> SessionView:
        view = await first_read(cursor, known, slots)
        reads.append(view.status)
        confirmed = await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
        assert confirmed.code == 200
        await asyncio.wait_for(noticed.wait(), 5)  # the notice reached the registry: no waiter to wake
        return view

    async def read_again(cursor: Cursor, known: Status, slots: WaitSlots) -> SessionView:
        view = await read(cursor, known, slots)
        reads.append(view.status)
        return view

    monkeypatch.setattr(service.registry, "notify", notify_and_tell)
    monkeypatch.setattr(service.store, "read_to_wait", first_read_racing_a_confirm)
    monkeypatch.setattr(service.store, "read_after_wake", read_again)
    answer = await service.wait(session["cursor"], status=1, timeout=5)

    assert answer.code == 200, "the waiter slept through the confirm"
    assert answer.body["status"] == 2
    assert reads == [Status.SCANNED, Status.CONFIRMED]


async def test_wait_with_a_wrong_secret_learns_nothing(service: Instance) -> None:
    session = await service.new_session()
    await service.approve(session["uuid"], "alice-token")
    forged = session["uuid"] + "." + "A" * 43
    answer = await service.wait(forged, status=0)
    assert answer.body == {"status": -1, "state": "expired", "expires_in": 0}
    assert "code" not in answer.body and "user" not in answer.body
