"""``POST /events``: a whole login as Server-Sent Events, heartbeats, resumption, refusals, across instances."""

from __future__ import annotations

import asyncio
import json

from diagnostics.parked import parked_waiters
from handlers.stream import RETRY_MS
from redis_map.limit_rules import RateLimits
from tests.conftest import MakeInstance
from tests.push_clients import EventStream
from tests.service import Instance
from tests.test_ratelimit import slots_held

#: an origin the tests allow with --cors-origins
PARTNER = "https://intranet.example.com"


async def test_a_whole_login_as_server_sent_events(service: Instance) -> None:
    session = await service.new_session()
    stream = EventStream(service.base_url, {"cursor": session["cursor"], "status": 0})
    try:
        assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
        assert await service.metric("qrlogin_push_open", transport="sse") == 1
        assert (await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
        scanned = await stream.next()
        assert scanned is not None and scanned.kind == "message" and scanned.id == "1"
        assert scanned.json()["state"] == "scanned" and scanned.json()["user"]["sub"] == "alice"
        assert stream.retry == RETRY_MS
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert stream.headers["cache-control"] == "no-store"
        assert stream.headers["x-accel-buffering"] == "no"

        assert (await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")).code == 200
        confirmed = await stream.next()
        assert confirmed is not None and confirmed.id == "2"
        # The same JSON a /wait answer carries, the one-time code included.
        assert confirmed.json() == (await service.wait(session["cursor"], status=1)).body
        await stream.ended()  # final: the stream ends
        assert stream.code == 200
        assert await service.services.connections.drained(timeout=5)

        token = await service.post("/token", {"cursor": session["cursor"], "code": confirmed.json()["code"]})
        assert token.code == 200 and token.body["user"]["sub"] == "alice"
        assert service.registry.waiters == 0
        assert await service.metric("qrlogin_push_open", transport="sse") == 0
        assert await service.metric("qrlogin_pushes_total", transport="sse") == 2
    finally:
        stream.close()


async def test_heartbeat_comments_flow_while_nothing_changes(make_instance: MakeInstance) -> None:
    service = await make_instance(ping_interval=0.1, wait_timeout=30)
    session = await service.new_session()
    stream = EventStream(service.base_url, {"cursor": session["cursor"]})
    try:
        for _ in range(3):
            beat = await stream.next(comments=True)
            assert beat is not None and (beat.kind, beat.data) == ("comment", "heartbeat")
        await service.post("/cancel", {"uuid": session["uuid"]}, user="alice-token")
        denied = await stream.next()
        assert denied is not None and denied.json()["state"] == "denied"
        await stream.ended()
    finally:
        stream.close()


async def test_a_stream_resumes_from_the_status_the_pc_last_saw(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")
    # Known 1 in the body, or as Last-Event-ID (the id of the last event seen): nothing old is sent again.
    by_body = EventStream(service.base_url, {"cursor": session["cursor"], "status": 1})
    by_id = EventStream(service.base_url, {"cursor": session["cursor"]}, headers={"Last-Event-ID": "1"})
    behind = EventStream(service.base_url, {"cursor": session["cursor"], "status": 0})
    try:
        caught_up = await behind.next()
        assert caught_up is not None and caught_up.id == "1"
        assert await parked_waiters(service.registry).until(lambda r: r.waiters == 3, timeout=5)
        await service.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
        for stream in (by_body, by_id, behind):
            confirmed = await stream.next()
            assert confirmed is not None and confirmed.id == "2" and confirmed.json()["code"]
            await stream.ended()
    finally:
        for stream in (by_body, by_id, behind):
            stream.close()


async def test_a_malformed_request_gets_a_json_error_not_a_stream(service: Instance) -> None:
    bad = await service.post("/events", {"cursor": "nope"})
    assert bad.code == 400 and bad.error == "invalid_request"
    assert bad.headers["Content-Type"].startswith("application/json")
    not_json = await service.post("/events", raw=b"[")
    assert not_json.code == 400 and not_json.error == "invalid_json"
    # EventSource's GET would need the cursor in the URL: there is none.
    get = await service.request("GET", "/events")
    assert get.code == 405 and get.error == "method_not_allowed"


async def test_the_pc_leaving_frees_the_wait_and_the_gauge(make_instance: MakeInstance) -> None:
    service = await make_instance(wait_timeout=60)
    session = await service.new_session()
    body = json.dumps({"cursor": session["cursor"], "status": 0}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(
        b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
    watcher = parked_waiters(service.registry)
    assert await watcher.until(lambda r: r.waiters == 1, timeout=5)
    writer.transport.abort()
    assert await watcher.until(lambda r: r.waiters == 0, timeout=5)
    assert await service.services.connections.drained(timeout=5)
    assert await service.metric("qrlogin_push_open", transport="sse") == 0


async def test_full_wait_slots_end_the_stream_with_an_error_event(make_instance: MakeInstance, namespace: str) -> None:
    service = await make_instance(rate_limits=RateLimits(wait_session=1), wait_timeout=30)
    session = await service.new_session()
    holder = EventStream(service.base_url, {"cursor": session["cursor"]})
    # The holder takes the session's one slot first: two streams opened at once would race for it.
    assert await slots_held(service, namespace, "wait_session", 1)
    refused = EventStream(service.base_url, {"cursor": session["cursor"]})
    try:
        error = await refused.next()
        assert error is not None and error.kind == "error"
        assert error.json() == {
            "status": 429,
            "error": "rate_limited",
            "message": "Too many long-polls at once; try again shortly.",
            "retry_after": 2,
        }
        await refused.ended()
        assert service.registry.waiters == 1  # the holder
    finally:
        holder.close()
        refused.close()


async def test_a_confirm_on_another_instance_reaches_the_stream(make_instance: MakeInstance) -> None:
    pc_side = await make_instance(wait_timeout=30)
    app_side = await make_instance(wait_timeout=30)
    session = await pc_side.new_session()
    stream = EventStream(pc_side.base_url, {"cursor": session["cursor"], "status": 0})
    try:
        assert await parked_waiters(pc_side.registry).until(lambda r: r.waiters == 1, timeout=5)
        assert (await app_side.approve(session["uuid"], "alice-token")).code == 200
        first = await stream.next()
        assert first is not None and first.json()["status"] in (1, 2)
        confirmed = first if first.json()["status"] == 2 else await stream.next()
        assert confirmed is not None and confirmed.json()["status"] == 2
        await stream.ended()
    finally:
        stream.close()


async def test_an_allowed_origin_may_read_the_stream_and_a_foreign_one_may_not(make_instance: MakeInstance) -> None:
    service = await make_instance(cors_origins=(PARTNER,))
    preflight = {"Origin": PARTNER, "Access-Control-Request-Method": "POST"}
    allowed = await service.request("OPTIONS", "/events", headers=preflight)
    assert allowed.code == 204 and allowed.headers["Access-Control-Allow-Origin"] == PARTNER
    foreign = await service.request("OPTIONS", "/events", headers={**preflight, "Origin": "https://evil.example"})
    assert foreign.code == 403

    session = await service.new_session()
    stream = EventStream(service.base_url, {"cursor": session["cursor"]}, headers={"Origin": PARTNER})
    try:
        await service.post("/cancel", {"uuid": session["uuid"]}, user="alice-token")
        assert await stream.next() is not None
        await stream.ended()
        assert stream.headers["access-control-allow-origin"] == PARTNER
    finally:
        stream.close()
