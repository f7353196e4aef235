"""Bad input on every endpoint of the provider: a clear error (OAuth's where a client reads it), never a 500."""

from __future__ import annotations

import pytest

from tests.oidc.conftest import fetch
from tests.service import Instance

FORM = "application/x-www-form-urlencoded"
#: (method, path) of every endpoint answering OAuth errors
OAUTH_ENDPOINTS = [
    ("POST", "/oauth/token"),
    ("POST", "/oauth/revoke"),
    ("POST", "/oauth/introspect"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
]
BODIES = {
    "json": (b'{"token": "x", "grant_type": "refresh_token"}', "application/json"),
    "repeated": (b"token=a&token=b&grant_type=refresh_token&grant_type=refresh_token", FORM),
    "oversized value": (b"token=" + b"x" * 5000 + b"&grant_type=refresh_token", FORM),
    "not utf-8": (b"token=%ff&grant_type=%fe", FORM),
    "nul": (b"token=a%00b&grant_type=refresh_token", FORM),
    "empty": (b"", FORM),
    "garbage": (b"\x00\x01\x02==&&==", FORM),
}


@pytest.mark.parametrize(("method", "path"), OAUTH_ENDPOINTS)
@pytest.mark.parametrize("body", list(BODIES))
async def test_oauth_endpoints_answer_bad_bodies_with_an_oauth_error(
    provider: Instance, method: str, path: str, body: str
) -> None:
    raw, content_type = BODIES[body]
    answer = await fetch(
        provider, method, path, body=raw if method == "POST" else None, headers={"Content-Type": content_type}
    )
    assert 400 <= answer.code < 500, (answer.code, answer.body)
    assert isinstance(answer.body, dict) and answer.body["error"] and answer.body["error_description"]
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/oauth/token"), ("DELETE", "/oauth/revoke"), ("GET", "/oauth/introspect"), ("PUT", "/userinfo"),
     ("DELETE", "/authorize/session"), ("GET", "/authorize/complete"), ("PATCH", "/jwks.json")],
)  # fmt: skip
async def test_wrong_methods_are_405_not_500(provider: Instance, method: str, path: str) -> None:
    answer = await fetch(provider, method, path, body=b"" if method in ("PUT", "PATCH") else None)
    assert answer.code == 405, (method, path, answer.code)


@pytest.mark.parametrize(
    "query",
    ["", "client_id=" + "x" * 3000, "client_id=%00", "client_id=a&client_id=b", "response_type=code&%zz=1", "a" * 100],
)
async def test_the_authorization_endpoint_answers_bad_queries_with_its_page(provider: Instance, query: str) -> None:
    answer = await fetch(provider, "GET", "/authorize?" + query)
    assert 400 <= answer.code < 500, (query, answer.code)
    assert "Location" not in answer.headers
