"""Every answer's default headers: Tornado's, its ``Date`` formatted once a second (``handlers.base.http_date``),
no ``Server`` header."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine, format_timestamp
from tornado.web import Application, RequestHandler
from tornado.websocket import websocket_connect

from handlers.base import BaseHandler, http_date
from tests.service import Instance


def test_http_date_is_tornados_for_every_second() -> None:
    start = time.time()
    # forwards within and across seconds, then back: the cached second must never answer for another
    moments = [start + offset for offset in (0, 0.2, 0.999, 1.0, 1.5, 61.25, 3600.75, 0.5, -86400.1)]
    for now in moments:
        assert http_date(now) == format_timestamp(now)


class _Connection:
    def set_close_callback(self, callback: object) -> None:
        pass


def test_clear_leaves_what_tornados_clear_does() -> None:
    request = HTTPServerRequest(
        connection=_Connection(),  # type: ignore[arg-type]
        start_line=RequestStartLine("POST", "/uuid", "HTTP/1.1"),
        headers=HTTPHeaders({"Host": "test"}),
    )
    ours = BaseHandler(Application(), request)
    ours.set_status(404)
    ours.write(b"partial")
    ours.clear()
    theirs = BaseHandler(Application(), request)
    RequestHandler.clear(theirs)
    del theirs._headers["Server"]
    # The two may straddle a second: their Dates are compared apart, as instants.
    our_date, their_date = ours._headers.pop("Date"), theirs._headers.pop("Date")
    assert abs(parsedate_to_datetime(our_date) - parsedate_to_datetime(their_date)).total_seconds() <= 1
    assert sorted(ours._headers.get_all()) == sorted(theirs._headers.get_all())
    assert ours._headers["Content-Type"] == "application/json; charset=utf-8"  # set_default_headers still ran
    assert (ours.get_status(), ours._reason, ours._write_buffer) == (200, "OK", [])


async def test_an_answers_date_is_now(service: Instance) -> None:
    before = int(time.time())
    answer = await service.request("GET", "/healthz")
    after = time.time()
    assert before <= parsedate_to_datetime(answer.headers["Date"]).timestamp() <= after


async def test_no_answer_names_the_server_or_its_version(service: Instance) -> None:
    session = await service.new_session()
    answers = [
        await service.post("/uuid"),
        await service.request("GET", session["qr_svg"]),
        await service.request("GET", "/"),  # a page
        await service.request("GET", "/static/qrlogin.js"),  # a static file
        await service.request("GET", "/jwks.json"),
        await service.request("GET", "/no/such/page"),  # an error
    ]
    assert [answer.code for answer in answers] == [200] * 5 + [404]
    for answer in answers:
        assert "Server" not in answer.headers, answer.headers
    socket = await websocket_connect(service.base_url.replace("http", "ws", 1) + "/ws")
    try:
        assert socket.headers is not None and "Server" not in socket.headers  # the handshake's 101
    finally:
        socket.close()


async def _login_token(service: Instance) -> str:
    session = await service.new_session()
    await service.approve(session["uuid"], "alice-token")
    confirmed = await service.wait(session["cursor"], status=1)
    token = await service.post("/token", {"cursor": session["cursor"], "code": confirmed.body["code"]})
    return str(token.body["token"])


async def test_a_no_store_answer_has_no_etag_and_never_a_304(service: Instance) -> None:
    # Tornado would hash each GET's body for an ETag; a no-store answer (JSON or page) must not invite a 304.
    login = await _login_token(service)
    session = await service.new_session()
    pages: list[tuple[str, dict[str, str]]] = [("/", {}), (f"/s/{session['uuid']}", {})]
    for path, headers in [("/healthz", {}), ("/me", {"Authorization": f"Bearer {login}"}), *pages]:
        answer = await service.request("GET", path, headers={**headers, "If-None-Match": "*"})
        assert answer.code == 200 and answer.body, (path, answer)
        assert answer.headers["Cache-Control"] == "no-store"
        assert "Etag" not in answer.headers, path


async def test_answers_a_cache_may_keep_keep_their_etag(service: Instance) -> None:
    session = await service.new_session()
    for path in [session["qr_png"], "/jwks.json", "/static/qrlogin.js"]:
        answer = await service.request("GET", path)
        assert answer.code == 200 and "no-store" not in answer.headers.get("Cache-Control", ""), path
        again = await service.request("GET", path, headers={"If-None-Match": answer.headers["Etag"]})
        assert again.code == 304, path
