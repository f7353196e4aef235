"""The authorization endpoint: every refusal, on our page or back at the client (the login it starts:
``test_authorization_login.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.oidc.conftest import ISSUER, REDIRECT_URI, authorize, fetch, good_request, query_of, register
from tests.service import Instance


async def test_a_good_request_gets_the_login_page_for_it(provider: Instance) -> None:
    client, _ = await register(provider)
    answer = await authorize(provider, good_request(client.client_id))
    assert answer.code == 200, answer.body
    page = answer.body.decode()
    assert 'data-authorize="' in page and "Acme asks you to log in with qrlogin." in page
    assert "rp.example" in page
    assert answer.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "no-such-client"},
        {"client_id": ""},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},  # exact match: no prefix, no suffix
        {"redirect_uri": REDIRECT_URI + "?x=1"},
        {"redirect_uri": "HTTPS://rp.example/callback"},
        {"redirect_uri": ""},
    ],
)
async def test_an_unknown_client_or_redirect_uri_gets_our_page_never_a_redirect(
    provider: Instance, change: dict[str, str]
) -> None:
    client, _ = await register(provider)
    params = good_request(client.client_id)
    params.update(change)
    if change.get("client_id") == "":
        del params["client_id"]
    answer = await authorize(provider, params)
    assert answer.code == 400
    assert "Location" not in answer.headers
    assert b"This login link is not valid" in answer.body


async def test_a_repeated_client_id_or_redirect_uri_is_not_trusted_either(provider: Instance) -> None:
    client, _ = await register(provider)
    for name in ("client_id", "redirect_uri"):
        params = [*good_request(client.client_id).items(), (name, good_request(client.client_id)[name])]
        answer = await authorize(provider, params)
        assert answer.code == 400 and "Location" not in answer.headers


def refusal(name: str, change: dict[str, Any], error: str) -> Any:
    return pytest.param(change, error, id=name)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        refusal("no response_type", {"response_type": None}, "invalid_request"),
        refusal("implicit", {"response_type": "token"}, "unsupported_response_type"),
        refusal("hybrid", {"response_type": "code id_token"}, "unsupported_response_type"),
        refusal("fragment response mode", {"response_mode": "fragment"}, "invalid_request"),
        refusal("unknown scope", {"scope": "openid email"}, "invalid_scope"),
        refusal("malformed scope", {"scope": 'openid "profile"'}, "invalid_request"),
        refusal("plain PKCE", {"code_challenge_method": "plain"}, "invalid_request"),
        refusal("no PKCE method", {"code_challenge_method": None}, "invalid_request"),
        refusal("malformed challenge", {"code_challenge": "short"}, "invalid_request"),
        refusal("method without challenge", {"code_challenge": None}, "invalid_request"),
        refusal("prompt none", {"prompt": "none"}, "login_required"),
        refusal("prompt none and login", {"prompt": "none login"}, "invalid_request"),
        refusal("unknown prompt", {"prompt": "dance"}, "invalid_request"),
        refusal("request object", {"request": "eyJ.x.y"}, "request_not_supported"),
        refusal("request_uri", {"request_uri": "https://x.example/r"}, "request_uri_not_supported"),
        refusal("huge nonce", {"nonce": "n" * 1500}, "invalid_request"),
        refusal("oversized value", {"login_hint": "x" * 5000}, "invalid_request"),
        refusal("bad max_age", {"max_age": "soon"}, "invalid_request"),
        refusal("max_age in superscript digits", {"max_age": "²"}, "invalid_request"),
    ],
)
async def test_later_errors_go_back_to_the_client_with_state_and_iss(
    provider: Instance, change: dict[str, Any], error: str
) -> None:
    client, _ = await register(provider)
    params = good_request(client.client_id)
    for name, value in change.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    answer = await authorize(provider, params)
    assert answer.code == 303, answer.body
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    back = query_of(location)
    assert back["error"] == error and back["error_description"]
    assert back["state"] == "st-123" and back["iss"] == ISSUER
    assert "code" not in back


async def test_a_repeated_parameter_is_refused_back_at_the_client(provider: Instance) -> None:
    client, _ = await register(provider)
    answer = await authorize(provider, [*good_request(client.client_id).items(), ("scope", "openid")])
    back = query_of(answer.headers["Location"])
    assert back["error"] == "invalid_request" and "scope" in back["error_description"]
    answer = await authorize(provider, [*good_request(client.client_id).items(), ("state", "other")])
    back = query_of(answer.headers["Location"])
    assert back["error"] == "invalid_request" and "state" not in back  # a repeated state is not echoed


async def test_a_public_client_without_pkce_is_refused_a_confidential_one_may_omit_it(provider: Instance) -> None:
    public, _ = await register(provider, public=True)
    params = good_request(public.client_id)
    del params["code_challenge"], params["code_challenge_method"]
    back = query_of((await authorize(provider, params)).headers["Location"])
    assert back["error"] == "invalid_request" and "PKCE" in back["error_description"]

    confidential, _ = await register(provider)
    params = good_request(confidential.client_id)
    del params["code_challenge"], params["code_challenge_method"]
    assert (await authorize(provider, params)).code == 200


async def test_a_registered_redirect_query_is_kept(provider: Instance) -> None:
    client, _ = await register(provider, redirect_uris=["https://rp.example/cb?tenant=7"])
    params = good_request(client.client_id, redirect_uri="https://rp.example/cb?tenant=7", prompt="none")
    location = (await authorize(provider, params)).headers["Location"]
    assert location.startswith("https://rp.example/cb?tenant=7&error=login_required")


async def test_the_request_may_be_posted_as_a_form(provider: Instance) -> None:
    from urllib.parse import urlencode

    client, _ = await register(provider)
    form = urlencode(good_request(client.client_id)).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = await fetch(provider, "POST", "/authorize", body=form, headers=headers)
    assert answer.code == 200 and b"data-authorize" in answer.body
    posted = await fetch(provider, "POST", "/authorize?client_id=x", body=form, headers=headers)
    assert posted.code == 400 and "Location" not in posted.headers


async def test_parameters_that_are_not_utf8_are_refused_on_our_page(provider: Instance) -> None:
    answer = await fetch(provider, "GET", "/authorize?client_id=%ff%fe")
    assert answer.code == 400 and b"not valid" in answer.body


async def test_the_metrics_count_authorizations_by_outcome(provider: Instance) -> None:
    client, _ = await register(provider)
    await authorize(provider, good_request(client.client_id))
    await authorize(provider, good_request(client.client_id, prompt="none"))
    await authorize(provider, good_request("unknown-client"))
    for outcome in ("page", "error", "refused"):
        assert await provider.metric("qrlogin_oidc_authorizations_total", outcome=outcome) == 1, outcome
