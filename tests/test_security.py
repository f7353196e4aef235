"""Security headers on every answer, CORS only for configured origins, no secret in URLs or logs."""

from __future__ import annotations

import json
import logging

import pytest

from handlers.middleware.security import API_CSP, parse_origins
from tests.conftest import MakeInstance
from tests.service import Answer, Instance

ALLOWED = "https://intranet.example.com"


def assert_secure(answer: Answer) -> None:
    headers = answer.headers
    assert headers["Content-Security-Policy"] == API_CSP
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    if headers.get("Content-Type", "").startswith("application/json"):
        assert headers["Cache-Control"] == "no-store"  # an API answer, success or error, is never cached
    assert "Vary" not in headers  # no CORS origins: no answer depends on Origin
    assert "Server" not in headers  # nothing names the server or its version


async def test_every_kind_of_answer_carries_the_security_headers(service: Instance) -> None:
    session = await service.new_session()
    answers = [
        await service.post("/uuid"),
        await service.request("GET", session["qr_svg"]),
        await service.request("GET", session["qr_png"]),
        await service.wait(session["cursor"], status=-1),
        await service.post("/scan", {"uuid": session["uuid"]}),  # 401
        await service.post("/wait", raw=b"{nope"),  # 400
        await service.request("GET", "/no/such/page"),  # 404
        await service.request("DELETE", "/uuid"),  # 405
        await service.request("BREW", "/uuid"),  # 405, unknown method
        await service.post("/wait", raw=b"x" * 20_000),  # 413
        await service.request("GET", "/healthz"),
        await service.request("GET", "/readyz"),
        await service.request("GET", "/metrics"),
        await service.request("OPTIONS", "/uuid", headers={"Origin": "https://evil.example"}),  # 403
    ]
    assert {a.code for a in answers} >= {200, 400, 401, 403, 404, 405, 413}
    assert sum(a.headers.get("Content-Type", "").startswith("application/json") for a in answers) >= 11
    for answer in answers:
        assert_secure(answer)
        assert "Access-Control-Allow-Origin" not in answer.headers


async def test_cors_only_for_configured_origins(make_instance: MakeInstance) -> None:
    service = await make_instance(cors_origins=(ALLOWED,))
    allowed = await service.post("/uuid", headers={"Origin": ALLOWED})
    assert allowed.code == 200 and allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in allowed.headers["Vary"]
    other = await service.post("/uuid", headers={"Origin": "https://phish.example"})
    assert "Access-Control-Allow-Origin" not in other.headers

    preflight = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
    ok = await service.request("OPTIONS", "/wait", headers=preflight)
    assert ok.code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    assert ok.headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in ok.headers["Vary"]
    refused = await service.request("OPTIONS", "/wait", headers={**preflight, "Origin": "https://phish.example"})
    assert refused.code == 403 and refused.error == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Origin" in refused.headers["Vary"]
    # A plain answer to an allowed origin names it, without the preflight's headers.
    assert "Access-Control-Allow-Methods" not in allowed.headers
    for answer in (allowed, other, ok, refused):
        assert_secure_cors(answer)


def assert_secure_cors(answer: Answer) -> None:
    """The security headers are the same with CORS origins configured."""
    headers = answer.headers
    assert headers["Content-Security-Policy"] == API_CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_cors_origins_option_parses() -> None:
    assert parse_origins("https://A.example, http://b.example:8080/ ,") == {
        "https://a.example",
        "http://b.example:8080",
    }
    for bad in ("*", "a.example", "https://a.example/path", "ftp://a.example"):
        with pytest.raises(ValueError, match="origin"):
            parse_origins(bad)


async def test_no_cursor_code_or_credential_in_urls_or_logs(
    service: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = await service.new_session()
    urls = [session["qr_content"], session["qr_svg"], session["qr_png"]]
    assert not any(session["cursor"].partition(".")[2] in url for url in urls)

    await service.approve(session["uuid"], "alice-token")
    confirmed = await service.wait(session["cursor"])
    code = confirmed.body["code"]
    token = await service.post("/token", {"cursor": session["cursor"], "code": code})
    login_token = token.body["token"]
    await service.request("GET", "/me", headers={"Authorization": f"Bearer {login_token}"})
    # A client that wrongly puts a secret in the query string: the log keeps the path only.
    await service.request("GET", f"/me?cursor={session['cursor']}&code={code}")

    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (session["cursor"].partition(".")[2], code, login_token, "alice-token"):
        assert secret not in text
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "qrlogin.access"]
    assert len(lines) == 7
    for line in lines:
        assert set(line) <= {"method", "path", "status", "ms", "ip", "handler", "error"}
        assert "?" not in line["path"]
    assert {"path": "/token", "status": 200} in [{"path": x["path"], "status": x["status"]} for x in lines]


async def test_expired_session_cannot_be_revived(make_instance: MakeInstance) -> None:
    service = await make_instance(session_ttl=0.3)
    session = await service.new_session()
    assert (await service.wait(session["cursor"])).body["status"] == -1
    for action in ("scan", "confirm", "cancel"):
        late = await service.post(f"/{action}", {"uuid": session["uuid"]}, user="alice-token")
        assert late.code == 404 and late.error == "session_not_found"
    assert (await service.wait(session["cursor"], status=-1)).body["status"] == -1
