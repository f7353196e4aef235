"""Every bad request gets a clear JSON error with the right 4xx, and the service keeps serving."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from tests.service import Instance

UUID = "0123456789abcdef" * 2
CURSOR = UUID + "." + "A" * 43


class Bad(NamedTuple):
    method: str
    path: str
    raw: bytes | None
    headers: dict[str, str]
    code: int
    error: str


def json_post(path: str, raw: bytes, code: int, error: str, **headers: str) -> Bad:
    return Bad("POST", path, raw, headers, code, error)


ALICE = {"Authorization": "Bearer alice-token"}

BAD_REQUESTS: dict[str, Bad] = {
    "wait-malformed-json": json_post("/wait", b'{"cursor": ', 400, "invalid_json"),
    "wait-json-array": json_post("/wait", b"[1, 2]", 400, "invalid_json"),
    "wait-json-string": json_post("/wait", b'"cursor"', 400, "invalid_json"),
    "wait-not-utf8": json_post("/wait", b"\xff\xfe{}", 400, "invalid_json"),
    "wait-deep-nesting": json_post("/wait", b"[" * 5_000 + b"]" * 5_000, 400, "invalid_json"),
    "wait-missing-cursor": json_post("/wait", b"{}", 400, "invalid_request"),
    "wait-cursor-not-string": json_post("/wait", b'{"cursor": 42}', 400, "invalid_request"),
    "wait-cursor-malformed": json_post("/wait", b'{"cursor": "abc"}', 400, "invalid_request"),
    "wait-status-not-int": json_post(
        "/wait", b'{"cursor": "%s", "status": "1"}' % CURSOR.encode(), 400, "invalid_request"
    ),
    "wait-status-bool": json_post(
        "/wait", b'{"cursor": "%s", "status": true}' % CURSOR.encode(), 400, "invalid_request"
    ),
    "wait-status-out-of-range": json_post(
        "/wait", b'{"cursor": "%s", "status": 7}' % CURSOR.encode(), 400, "invalid_request"
    ),
    "wait-oversized-body": json_post("/wait", b'{"cursor": "' + b"a" * 20_000 + b'"}', 413, "body_too_large"),
    "scan-missing-uuid": json_post("/scan", b"{}", 400, "invalid_request", **ALICE),
    "scan-uuid-not-string": json_post("/scan", b'{"uuid": ["x"]}', 400, "invalid_request", **ALICE),
    "scan-uuid-malformed": json_post("/scan", b'{"uuid": "../../etc"}', 400, "invalid_request", **ALICE),
    "scan-no-credential": json_post("/scan", b'{"uuid": "%s"}' % UUID.encode(), 401, "missing_credential"),
    "scan-basic-credential": json_post(
        "/scan", b'{"uuid": "%s"}' % UUID.encode(), 401, "missing_credential", Authorization="Basic YTpi"
    ),
    "scan-credential-not-string": json_post(
        "/scan", b'{"uuid": "%s", "authorization": 5}' % UUID.encode(), 400, "invalid_request"
    ),
    "confirm-unknown-uuid": json_post("/confirm", b'{"uuid": "%s"}' % UUID.encode(), 404, "session_not_found", **ALICE),
    "token-missing-code": json_post("/token", b'{"cursor": "%s"}' % CURSOR.encode(), 400, "invalid_request"),
    "token-code-not-string": json_post(
        "/token", b'{"cursor": "%s", "code": 1}' % CURSOR.encode(), 400, "invalid_request"
    ),
    "token-unknown-session": json_post(
        "/token", b'{"cursor": "%s", "code": "%s"}' % (CURSOR.encode(), b"c" * 22), 400, "invalid_grant"
    ),
    "token-malformed-code": json_post(
        "/token", b'{"cursor": "%s", "code": "x y"}' % CURSOR.encode(), 400, "invalid_grant"
    ),
    "unknown-path": Bad("GET", "/nowhere", None, {}, 404, "not_found"),
    "unknown-path-post": Bad("POST", "/admin", b"{}", {}, 404, "not_found"),
    "wrong-method": Bad("GET", "/confirm", None, {}, 405, "method_not_allowed"),
    "unsupported-method": Bad("BREW", "/uuid", None, {}, 405, "method_not_allowed"),
    "qr-unknown": Bad("GET", f"/qr/{UUID}.png", None, {}, 404, "session_not_found"),
    "qr-bad-kind": Bad("GET", f"/qr/{UUID}.gif", None, {}, 404, "not_found"),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
async def test_bad_request_gets_a_json_error(service: Instance, name: str) -> None:
    bad = BAD_REQUESTS[name]
    answer = await service.request(bad.method, bad.path, raw=bad.raw, headers=bad.headers)
    assert answer.code == bad.code, answer.body
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.body == {"status": bad.code, "error": bad.error, "message": answer.body["message"]}
    assert "Traceback" not in answer.body["message"]
    # ...and the service keeps serving.
    assert (await service.post("/uuid")).code == 200


async def test_huge_body_without_reading_it(service: Instance) -> None:
    answer = await service.request("POST", "/confirm", raw=b"x" * 500_000, headers=ALICE)
    assert answer.code == 413 and answer.error == "body_too_large"


async def test_bad_input_leaves_the_session_untouched(service: Instance) -> None:
    session = await service.new_session()
    await service.post("/scan", {"uuid": session["uuid"], "extra": {"nested": [1, 2]}}, user="alice-token")
    await service.request("POST", "/confirm", raw=b'{"uuid": ', headers=ALICE)
    await service.post("/confirm", {"uuid": session["uuid"]})  # no credential
    answer = await service.wait(session["cursor"])
    assert answer.body["status"] == 1
