"""Per-request accounting: the access line's fields, the request metrics' values, the count in flight."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from diagnostics.parked import parked_waiters
from handlers.middleware.accesslog import access_line
from tests.service import Instance

#: what every access line carries; "error" is added for an error answer
FIELDS = {"method", "path", "status", "ms", "ip", "handler"}


def test_the_access_line_is_what_json_dumps_writes() -> None:
    texts = ["/uuid", 'a"b\\c', "tab\there\nnew", "\x00\x1f\x7f", "caf\u00e9", "\U0001f600", "</script>", ""]
    for text in texts:
        for ip in ("127.0.0.1", None):
            for error in (None, "", "not_found", text):
                for ms in (0.0, 0.1, 1.5, 12345.6, 1e-05):
                    record = {"method": "POST", "path": text, "status": 404, "ms": ms, "ip": ip, "handler": text}
                    if error:
                        record["error"] = error
                    expected = json.dumps(record, separators=(",", ":"))
                    assert access_line("POST", text, 404, ms, ip, text, error) == expected


async def test_every_request_is_logged_once_with_its_fields(
    service: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qrlogin.access")
    await service.post("/uuid")
    await service.request("GET", "/no/such/page?secret=1")
    await service.post("/wait", raw=b"{nope")
    records = [r for r in caplog.records if r.name == "qrlogin.access"]
    lines = [json.loads(r.getMessage()) for r in records]
    assert [set(line) for line in lines] == [FIELDS, FIELDS | {"error"}, FIELDS | {"error"}]
    for line in lines:
        assert isinstance(line["ms"], float) and line["ms"] >= 0
        assert line["ip"] == "127.0.0.1"
    assert [{k: v for k, v in line.items() if k not in ("ms", "ip")} for line in lines] == [
        {"method": "POST", "path": "/uuid", "status": 200, "handler": "CreateSessionHandler"},
        {"method": "GET", "path": "/no/such/page", "status": 404, "handler": "NotFoundHandler", "error": "not_found"},
        {"method": "POST", "path": "/wait", "status": 400, "handler": "WaitHandler", "error": "invalid_json"},
    ]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING, logging.WARNING]
    # Operators' log parsers (and tests/test_soak.py) find the line by its module.
    assert {r.module for r in records} == {"accesslog"}


async def test_no_access_line_below_the_loggers_level(service: Instance, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="qrlogin.access")
    await service.post("/uuid")
    await service.request("GET", "/no/such/page")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "qrlogin.access"]
    assert [line["status"] for line in lines] == [404]


async def test_request_metrics_count_every_answer(service: Instance) -> None:
    for _ in range(3):
        assert (await service.post("/uuid")).code == 200
    for _ in range(2):
        assert (await service.request("GET", "/nope")).code == 404
    assert (await service.post("/wait", raw=b"{nope")).code == 400

    async def requests(handler: str, code: str) -> float:
        return await service.metric("qrlogin_http_requests_total", handler=handler, code=code)

    assert await requests("CreateSessionHandler", "200") == 3
    assert await requests("NotFoundHandler", "404") == 2
    assert await requests("WaitHandler", "400") == 1
    assert await requests("WaitHandler", "200") == 0
    latency = "qrlogin_http_request_duration_seconds_count"
    assert await service.metric(latency, handler="CreateSessionHandler") == 3
    assert await service.metric(latency, handler="NotFoundHandler") == 2
    # The /metrics answers before this one are counted too (this one is counted once it is written).
    assert await requests("MetricsHandler", "200") == 6


async def test_a_parked_wait_is_in_flight_until_it_answers(service: Instance) -> None:
    session = await service.new_session()
    in_flight = service.services.in_flight
    assert in_flight.count == 0
    parked = asyncio.ensure_future(service.wait(session["cursor"], status=0))
    assert await parked_waiters(service.registry).until(lambda r: r.waiters == 1, timeout=5)
    assert in_flight.count == 1
    assert not await in_flight.idle(0.01)
    assert (await service.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    assert (await parked).body["status"] == 1
    assert in_flight.count == 0
    assert await in_flight.idle(0)
