"""``/ws``: a whole login over a WebSocket, its close codes, its heartbeat, its origin check, across instances."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from diagnostics.parked import parked_waiters
from handlers.socket import FIRST_MESSAGE_TIMEOUT, CloseCode
from redis_map.limit_rules import RateLimits
from tests.conftest import MakeInstance
from tests.push_clients import SilentPeer, closed_with, follow_socket, open_socket, pushed
from tests.service import Instance
from tests.test_ratelimit import slots_held

#: an origin the tests allow with --cors-origins
PARTNER = "https://intranet.example.com"
#: what a browser adds to a handshake a page on another site started
CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}


async def gauge(service: Instance, name: str, transport: str = "websocket") -> float:
    return await service.metric(name, transport=transport)


async def test_a_whole_login_over_a_websocket(service: Instance) -> None:
    session = await service.new_session()
    socket = await follow_socket(service.base_url, session["cursor"])
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    assert await gauge(service, "qrlogin_push_open") == 1

    assert (await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    scanned = await pushed(socket)
    assert scanned is not None
    assert scanned["status"] == 1 and scanned["state"] == "scanned" and scanned["user"]["sub"] == "alice"
    assert "code" not in scanned

    assert (await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    confirmed = await pushed(socket)
    assert confirmed is not None and confirmed["status"] == 2 and confirmed["code"]
    # The same JSON a /wait answer carries.
    assert confirmed == (await service.wait(session["cursor"], status=1)).body
    assert await closed_with(socket) == (CloseCode.FINAL, "confirmed")

    token = await service.post("/token", {"cursor": session["cursor"], "code": confirmed["code"]})
    assert token.code == 200 and token.body["user"]["sub"] == "alice"
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 0, timeout=5)
    assert await gauge(service, "qrlogin_push_open") == 0
    assert await service.metric("qrlogin_pushes_total", transport="websocket") == 2


async def test_a_status_the_pc_does_not_know_yet_is_pushed_at_once(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    socket = await follow_socket(service.base_url, session["cursor"], status=0)
    scanned = await pushed(socket)
    assert scanned is not None and scanned["status"] == 1
    # Resuming with the status it knows: nothing is pushed until something changes.
    again = await follow_socket(service.base_url, session["cursor"], status=1)
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 2, timeout=5)
    await service.post("/cancel", {"uuid": session["uuid"]}, user="alice-token")
    for each in (socket, again):
        denied = await pushed(each)
        assert denied is not None and denied["status"] == 3
        assert await closed_with(each) == (CloseCode.FINAL, "denied")


async def test_a_wrong_cursor_reads_as_an_expired_session(service: Instance) -> None:
    session = await service.new_session()
    wrong = session["cursor"][:-4] + "AAAA"
    socket = await follow_socket(service.base_url, wrong)
    assert await pushed(socket) == {"status": -1, "state": "expired", "expires_in": 0}
    assert await closed_with(socket) == (CloseCode.FINAL, "expired")


async def test_an_expiring_session_is_pushed_and_closed(make_instance: MakeInstance) -> None:
    service = await make_instance(session_ttl=0.5, wait_timeout=30)
    session = await service.new_session()
    socket = await follow_socket(service.base_url, session["cursor"])
    expired = await pushed(socket)
    assert expired is not None and expired["status"] == -1
    assert await closed_with(socket) == (CloseCode.FINAL, "expired")


async def test_waits_reaching_their_deadline_push_nothing_and_keep_following(make_instance: MakeInstance) -> None:
    service = await make_instance(wait_timeout=0.2)
    session = await service.new_session()
    socket = await follow_socket(service.base_url, session["cursor"])
    watcher = parked_waiters(service.registry)
    # Several deadlines pass (each one a new wait on the session); nothing is pushed meanwhile.
    for _ in range(3):
        assert await watcher.until(lambda r: r.waiters == 1, timeout=5)
        assert await watcher.until(lambda r: r.waiters == 0, timeout=5)
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    scanned = await pushed(socket)
    assert scanned is not None and scanned["status"] == 1
    socket.close()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("not json", "invalid_json: The first message is not JSON."),
        ("[1, 2]", "invalid_request: The request must be a JSON object with 'cursor' and 'status'."),
        ("{}", "invalid_request: 'cursor' is required."),
        ('{"cursor": "abc"}', "invalid_request: 'cursor' is malformed."),
        (b'{"cursor": "abc"}', "invalid_json: The first message must be JSON text, not binary."),
    ],
)
async def test_a_malformed_first_message_closes_with_4400_and_says_why(
    service: Instance, message: str | bytes, reason: str
) -> None:
    socket = await open_socket(service.base_url)
    await socket.write_message(message, binary=isinstance(message, bytes))
    assert await closed_with(socket) == (CloseCode.BAD_MESSAGE, reason)
    assert service.registry.waiters == 0


async def test_a_status_out_of_range_closes_with_4400(service: Instance) -> None:
    session = await service.new_session()
    socket = await follow_socket(service.base_url, session["cursor"], status=7)
    assert await closed_with(socket) == (CloseCode.BAD_MESSAGE, "invalid_request: 'status' must be between -1 and 3.")


async def test_a_second_message_closes_with_4400(service: Instance) -> None:
    session = await service.new_session()
    socket = await follow_socket(service.base_url, session["cursor"])
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    await socket.write_message(json.dumps({"cursor": session["cursor"], "status": 1}))
    assert await closed_with(socket) == (CloseCode.BAD_MESSAGE, "invalid_request: only one message is expected")
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 0, timeout=5)


async def test_a_socket_that_says_nothing_is_closed_with_4408(service: Instance) -> None:
    socket = await open_socket(service.base_url)
    code, reason = await closed_with(socket, timeout=FIRST_MESSAGE_TIMEOUT + 5)
    assert (code, reason) == (CloseCode.NO_MESSAGE, "invalid_request: no first message within 5 s")
    assert await gauge(service, "qrlogin_push_open") == 0


async def test_a_peer_that_stops_answering_pings_is_dropped_and_its_wait_freed(make_instance: MakeInstance) -> None:
    service = await make_instance(ping_interval=0.3, ping_timeout=0.3, wait_timeout=30)
    session = await service.new_session()
    peer = SilentPeer(service.port)
    try:
        await peer.start({"cursor": session["cursor"], "status": 0})
        watcher = parked_waiters(service.registry)
        assert await watcher.until(lambda r: r.waiters == 1, timeout=5)
        assert await gauge(service, "qrlogin_push_open") == 1
        # Tornado pings it, no pong comes: dropped after interval + timeout, far before the 30 s wait.
        assert await watcher.until(lambda r: r.waiters == 0, timeout=5)
        assert service.registry.sessions == 0
        assert await gauge(service, "qrlogin_push_open") == 0
        assert await service.metric("qrlogin_heartbeats_missed_total", transport="websocket") == 1
    finally:
        peer.close()


async def test_a_live_peer_answers_the_pings_and_stays(make_instance: MakeInstance) -> None:
    # A pong later than the timeout drops the socket: 0.3 s leaves room for a stalled loop on a loaded machine.
    service = await make_instance(ping_interval=0.3, ping_timeout=0.3, wait_timeout=30)
    session = await service.new_session()
    socket = await follow_socket(service.base_url, session["cursor"])
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    # Tornado's client answers pings by itself: many intervals later the socket is still there and still works.
    settled = parked_waiters(service.registry)
    assert not await settled.until(lambda r: r.waiters == 0, timeout=2.0)
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    scanned = await pushed(socket)
    assert scanned is not None and scanned["status"] == 1
    assert await service.metric("qrlogin_heartbeats_missed_total", transport="websocket") == 0
    socket.close()


async def test_the_pc_closing_its_socket_frees_the_wait_at_once(make_instance: MakeInstance) -> None:
    service = await make_instance(wait_timeout=60)
    session = await service.new_session()
    socket = await follow_socket(service.base_url, session["cursor"])
    watcher = parked_waiters(service.registry)
    assert await watcher.until(lambda r: r.waiters == 1, timeout=5)
    socket.close()
    assert await watcher.until(lambda r: r.waiters == 0, timeout=5)
    assert service.registry.sessions == 0


async def test_a_foreign_origin_is_refused_at_the_handshake(make_instance: MakeInstance) -> None:
    service = await make_instance(cors_origins=(PARTNER,))
    with pytest.raises(HTTPClientError) as refused:
        await open_socket(service.base_url, origin="https://evil.example")
    assert refused.value.code == 403
    # Cross-site from a browser that says so: refused too.
    with pytest.raises(HTTPClientError) as refused:
        await open_socket(service.base_url, origin="https://evil.example", headers=CROSS_SITE)
    assert refused.value.code == 403
    # Our own origin and a --cors-origins one are admitted.
    session = await service.new_session()
    own = await follow_socket(service.base_url, session["cursor"], origin=service.base_url)
    partner = await follow_socket(service.base_url, session["cursor"], origin=PARTNER, headers=CROSS_SITE)
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 2, timeout=5)
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    for socket in (own, partner):
        scanned = await pushed(socket)
        assert scanned is not None and scanned["status"] == 1
        socket.close()


async def test_a_confirm_on_another_instance_wakes_the_socket(make_instance: MakeInstance) -> None:
    pc_side = await make_instance(wait_timeout=30)
    app_side = await make_instance(wait_timeout=30)
    session = await pc_side.new_session()
    socket = await follow_socket(pc_side.base_url, session["cursor"])
    assert await parked_waiters(pc_side.registry).until(lambda r: r.waiters == 1, timeout=5)

    assert (await app_side.approve(session["uuid"], "alice-token")).code == 200
    first = await pushed(socket)
    assert first is not None and first["status"] in (1, 2)
    confirmed = first if first["status"] == 2 else await pushed(socket)
    assert confirmed is not None and confirmed["status"] == 2 and confirmed["code"]
    assert await closed_with(socket) == (CloseCode.FINAL, "confirmed")
    assert app_side.registry.waiters == 0


async def test_sockets_count_on_the_wait_slots(make_instance: MakeInstance, namespace: str) -> None:
    service = await make_instance(rate_limits=RateLimits(wait_session=2), wait_timeout=30)
    session = await service.new_session()
    watcher = parked_waiters(service.registry)
    sockets = [await follow_socket(service.base_url, session["cursor"]) for _ in range(2)]
    assert await watcher.until(lambda r: r.waiters == 2, timeout=5)
    # Parked before their first reads take the slots: the third must come once both are held.
    assert await slots_held(service, namespace, "wait_session", 2)
    third = await follow_socket(service.base_url, session["cursor"])
    assert await closed_with(third) == (CloseCode.RATE_LIMITED, "rate_limited: retry after 2 s")
    # A long-poll on the same session is refused alike.
    assert (await service.wait(session["cursor"])).code == 429
    for socket in sockets:
        socket.close()
    assert await watcher.until(lambda r: r.waiters == 0, timeout=5)
