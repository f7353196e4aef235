"""Fixtures for the provider's tests: a demo-mode service, clients registered through its registry, browsers."""

from __future__ import annotations

import hashlib
import json
import secrets
from base64 import urlsafe_b64encode
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from tornado.httpclient import HTTPRequest

from auth import DemoAuthenticator
from oidc.authorize import Parameters
from oidc.clients import Client
from oidc.provider import Provider
from tests.conftest import MakeInstance
from tests.pages.conftest import browser, new_page  # noqa: F401 (fixtures, for the browser tests here)
from tests.service import Answer, Instance

REDIRECT_URI = "https://rp.example/callback"
#: the issuer the provider fixture is configured with
ISSUER = "https://login.example.com"


@pytest.fixture
async def provider(make_instance: MakeInstance) -> Instance:
    """A service in demo mode (``Bearer demo:<name>`` is <name>), its issuer configured."""
    return await make_instance(authenticator=DemoAuthenticator(), demo=True, issuer=ISSUER)


def parts(service: Instance) -> Provider:
    assert service.services.provider is not None
    return service.services.provider


async def register(service: Instance, **options: Any) -> tuple[Client, str | None]:
    """A client registered as ``python main.py clients add`` would."""
    options.setdefault("name", "Acme")
    options.setdefault("redirect_uris", [REDIRECT_URI])
    return await parts(service).clients.register(**options)


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def good_request(client_id: str, **extra: str) -> dict[str, str]:
    """An authorization request ``client_id`` may make (code flow, openid, state, nonce, PKCE), with ``extra``."""
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def as_parameters(params: dict[str, str]) -> Parameters:
    """An authorization request's parameters as the authorization flow takes them (one value per name)."""
    return Parameters({name: [value] for name, value in params.items()})


def query_of(location: str) -> dict[str, str]:
    """The query of a redirect, one value per name (asserting none is repeated)."""
    parsed = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in parsed.values()), parsed
    return {name: values[0] for name, values in parsed.items()}


async def fetch(
    service: Instance, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """One request, redirects not followed: the answer's status, body (JSON parsed) and headers."""
    request = HTTPRequest(
        service.base_url + path,
        method=method,
        body=body if body is not None else (b"" if method == "POST" else None),
        headers=headers,
        follow_redirects=False,
        request_timeout=30,
    )
    response = await service.http.fetch(request, raise_error=False)
    parsed: Any = response.body
    if response.headers.get("Content-Type", "").startswith("application/json") and response.body:
        parsed = json.loads(response.body)
    return Answer(response.code, parsed, response.headers)  # type: ignore[arg-type]  # case-insensitive


async def authorize(service: Instance, params: dict[str, str] | list[tuple[str, str]]) -> Answer:
    """``GET /authorize`` with these parameters (a list may repeat one), redirects not followed."""
    return await fetch(service, "GET", "/authorize?" + urlencode(params))


BOB = "Bearer demo:bob"


async def code_for(
    service: Instance,
    client: Client,
    *,
    challenge: str | None = None,
    scope: str = "openid profile",
    nonce: str = "n-1",
    user: str = BOB,
) -> str:
    """An authorization code for ``client``, through the whole flow at the domain level (scan and confirm)."""
    from login.models import Requester

    provider = parts(service)
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
        "scope": scope,
        "state": "s",
        "nonce": nonce,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    request_id, _ = await provider.authorizations.start(as_parameters(params))
    requester = Requester(ip="127.0.0.1", user_agent="Test", created_at=0.0, reached_at=service.base_url)
    session = await provider.authorizations.new_login(request_id, requester)
    await service.services.login.scan(session.uuid, user, "127.0.0.1")
    await service.services.login.confirm(session.uuid, user, "127.0.0.1")
    view = await service.services.login.store.read_for_cursor(session.cursor)
    assert view.code
    back = await provider.authorizations.complete(session.cursor, view.code, "127.0.0.1", provider.issuer or "")
    return query_of(back)["code"]


async def post_form(
    service: Instance, path: str, form: dict[str, str] | list[tuple[str, str]], *, auth: tuple[str, str] | None = None
) -> Answer:
    """A form POST (optionally with HTTP Basic client authentication), redirects not followed."""
    import base64
    from urllib.parse import quote_plus

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth is not None:
        pair = f"{quote_plus(auth[0])}:{quote_plus(auth[1])}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return await fetch(service, "POST", path, body=urlencode(form).encode(), headers=headers)
