"""Per-request accounting: the access line's fields, the request metrics' values, the count in flight."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import time
from collections.abc import Iterator

import pytest
from tornado.log import LogFormatter

from diagnostics.parked import parked_waiters
from handlers.middleware.accesslog import access_line
from runtime.logs import OPTIONAL_RECORD_FIELDS, SecondCachedFormatter, set_up_logging
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


@pytest.fixture
def service_logging(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The service's logging set up in this process, writing to the StringIO yielded; undone afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    flags = {flag: getattr(logging, flag) for flag in OPTIONAL_RECORD_FIELDS if hasattr(logging, flag)}
    set_up_logging("info")
    stream = io.StringIO()
    installed = root.handlers[0]
    assert isinstance(installed, logging.StreamHandler) and installed.stream is sys.stderr
    installed.setStream(stream)
    root.addHandler(caplog.handler)  # set_up_logging replaced every handler, the test's too
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for flag, value in flags.items():
            setattr(logging, flag, value)


def _record(created: float, level: int = logging.INFO, msg: str = "%s", *args: object) -> logging.LogRecord:
    record = logging.LogRecord("qrlogin.access", level, "/srv/handlers/middleware/accesslog.py", 87, msg, args, None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def test_a_line_is_byte_for_byte_tornados_across_seconds() -> None:
    ours, tornados = SecondCachedFormatter(), LogFormatter()
    start = 1_779_000_000.0
    # Within a second, into the next, a clock stepped back, a day on, and the same second again.
    moments = [start + 0.001, start + 0.5, start + 0.999, start + 1.0, start + 1.7, start - 3.2, start + 86400.25,
               start + 86400.9, start + 0.3]  # fmt: skip
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
    for index, moment in enumerate(moments):
        level = levels[index % len(levels)]
        line = access_line("GET", "/a\nb", 200 + index, 1.5, "127.0.0.1", "H", None)
        assert ours.format(_record(moment, level, "%s", line)) == tornados.format(_record(moment, level, "%s", line))
        multi = _record(moment, level, "first\nsecond %d", index)
        assert ours.format(multi) == tornados.format(_record(moment, level, "first\nsecond %d", index))
    try:
        raise ValueError("boom")
    except ValueError:
        failed, failed_too = _record(start, logging.ERROR), _record(start, logging.ERROR)
        failed.exc_info = failed_too.exc_info = sys.exc_info()
    assert ours.format(failed) == tornados.format(failed_too)
    # The pinned shape: level letter, local time to the second, module:line, the message.
    stamp = time.strftime("%y%m%d %H:%M:%S", time.localtime(start + 0.5))
    assert ours.format(_record(start + 0.5, logging.WARNING, "%s", "{}")) == f"[W {stamp} accesslog:87] {{}}"


def test_the_time_string_is_made_once_a_second() -> None:
    formatter = SecondCachedFormatter()
    datefmt = LogFormatter.DEFAULT_DATE_FORMAT
    first = formatter.formatTime(_record(1_779_000_000.25), datefmt)
    assert formatter.formatTime(_record(1_779_000_000.75), datefmt) is first
    assert formatter.formatTime(_record(1_779_000_001.0), datefmt) is not first
    # logging's own default (no datefmt) shows milliseconds: never cached
    assert formatter.formatTime(_record(1_779_000_001.5)) != formatter.formatTime(_record(1_779_000_001.75))


async def test_the_service_writes_tornados_line_without_thread_or_process(
    service: Instance, service_logging: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    before = time.time()
    await service.request("GET", "/no/such/page?secret=1")
    after = time.time()
    lines = service_logging.getvalue().splitlines()
    access = [line for line in lines if "accesslog:" in line]
    assert len(access) == 1, lines
    match = re.fullmatch(r"\[W (\d{6} \d\d:\d\d:\d\d) accesslog:(\d+)\] (\{.*\})", access[0])
    assert match, access[0]
    stamps = {time.strftime("%y%m%d %H:%M:%S", time.localtime(moment)) for moment in (before, after)}
    assert match.group(1) in stamps
    body = json.loads(match.group(3))
    assert {k: v for k, v in body.items() if k != "ms"} == {
        "method": "GET", "path": "/no/such/page", "status": 404, "ip": "127.0.0.1", "handler": "NotFoundHandler",
        "error": "not_found",
    }  # fmt: skip
    (record,) = [r for r in caplog.records if r.name == "qrlogin.access"]
    assert match.group(2) == str(record.lineno)
    # The format prints none of them, so no record looks them up.
    assert (record.thread, record.threadName, record.process, record.processName) == (None, None, None, None)
