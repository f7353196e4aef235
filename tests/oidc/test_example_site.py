"""End to end: the example site (Authlib's Flask client) logs a person in through qrlogin, in chromium.

discovery → the authorization redirect (PKCE, state, nonce) → the PC page and the phone page → confirm →
back at the site with code, state and iss → the code exchanged with PKCE and the client secret → the ID
token checked through the JWKS → UserInfo → refresh (rotated) → introspection → log-out by revocation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("playwright", reason="playwright not installed: pip install -r requirements-dev.txt")
pytest.importorskip("flask", reason="the example site needs Flask: pip install -r examples/requirements.txt")

from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.async_api import Page, expect
from werkzeug.serving import BaseWSGIServer, make_server

from auth import DemoAuthenticator
from examples.relying_party import Tokens, create_app
from tests.conftest import MakeInstance
from tests.oidc.conftest import register
from tests.pages.conftest import PHONE, NewPage, csp_violations
from tests.service import Instance


@dataclass
class Site:
    """The example site, serving on a real socket in a thread of its own."""

    url: str
    client_id: str
    client_secret: str
    tokens: Tokens


@pytest.fixture
async def qrlogin(make_instance: MakeInstance) -> Instance:
    # No --issuer: the issuer is the URL the site and the browser reach it at, http://127.0.0.1:<port>.
    return await make_instance(authenticator=DemoAuthenticator(), demo=True)


@pytest.fixture
async def site(qrlogin: Instance) -> AsyncIterator[Site]:
    app: dict[str, Callable[..., Any]] = {}
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lambda env, start: app["wsgi"](env, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    client, secret = await register(qrlogin, name="Example site", redirect_uris=[f"{url}/callback"])
    assert secret is not None
    flask_app = create_app(qrlogin.base_url, client.client_id, secret)
    app["wsgi"] = flask_app.wsgi_app
    thread = threading.Thread(target=server.serve_forever, name="example-site", daemon=True)
    thread.start()
    yield Site(url, client.client_id, secret, flask_app.extensions["tokens"])
    await asyncio.to_thread(server.shutdown)
    thread.join()


async def phone_confirms(new_page: NewPage, qr_content: str) -> Page:
    phone = await new_page(**PHONE)
    await phone.goto(qr_content)
    await expect(phone.locator(".site-name")).to_have_text("For Example site")
    await expect(phone.locator(".site-host")).to_have_text("The computer will be sent back to 127.0.0.1.")
    await phone.get_by_label("bob").check()
    await phone.get_by_role("button", name="Continue").click()
    await expect(phone.locator("#question")).to_have_text("Log in on this computer as bob?")
    await phone.get_by_role("button", name="Confirm login").click()
    await expect(phone.locator("#message")).to_have_text("Done: you are logged in on the computer.")
    return phone


def introspect(qrlogin: Instance, resource_server: tuple[str, str], token: str) -> dict[str, Any]:
    """What a resource server asks, through Authlib's OAuth 2.0 session (RFC 7662)."""
    with OAuth2Session(*resource_server) as client:
        answer = client.introspect_token(f"{qrlogin.base_url}/oauth/introspect", token=token)
        answer.raise_for_status()
        return dict(answer.json())


async def test_a_site_logs_a_person_in_through_qrlogin_with_a_real_oidc_client(
    qrlogin: Instance, site: Site, new_page: NewPage
) -> None:
    issuer = qrlogin.base_url
    discovery = (await qrlogin.request("GET", "/.well-known/openid-configuration")).body
    assert discovery["issuer"] == issuer and discovery["authorization_endpoint"] == f"{issuer}/authorize"

    pc = await new_page()
    callbacks: list[str] = []
    pc.on("request", lambda request: callbacks.append(request.url) if "/callback" in request.url else None)
    await pc.goto(site.url + "/")
    async with pc.expect_response("**/authorize/session") as created:
        await pc.get_by_role("link", name="Log in with qrlogin").click()
    login_session = await (await created.value).json()

    # The authorization request Authlib's client made: the code flow, PKCE S256, state and nonce.
    asked = {name: values[0] for name, values in parse_qs(urlsplit(pc.url).query).items()}
    assert pc.url.startswith(f"{issuer}/authorize?")
    assert asked["response_type"] == "code" and asked["client_id"] == site.client_id
    assert asked["redirect_uri"] == f"{site.url}/callback" and asked["scope"] == "openid profile"
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"] and asked["state"]
    assert asked["nonce"]
    await expect(pc.locator("#site")).to_contain_text("Example site asks you to log in with qrlogin.")

    phone = await phone_confirms(new_page, login_session["qr_content"])

    # Back at the site, logged in: the code exchanged, the ID token checked, UserInfo read.
    await expect(pc.locator("#who")).to_have_text("Logged in as bob")
    await expect(pc.locator("#sub")).to_have_text("demo:bob")
    [callback] = callbacks
    back = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
    assert set(back) == {"code", "state", "iss"}
    assert back["state"] == asked["state"] and back["iss"] == issuer
    assert await csp_violations(phone) == []

    [token] = site.tokens.by_id.values()
    keys = KeySet.import_key_set((await qrlogin.request("GET", "/jwks.json")).body)
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    claims = id_token.claims
    assert claims["iss"] == issuer and claims["aud"] == site.client_id and claims["nonce"] == asked["nonce"]
    assert claims["sub"] == "demo:bob" and claims["exp"] > claims["iat"]
    assert token["userinfo"]["sub"] == "demo:bob"  # what Authlib validated (signature, iss, aud, nonce, exp)

    # Refresh: the refresh token rotates.
    first_refresh = token["refresh_token"]
    await pc.get_by_role("button", name="Refresh tokens").click()
    await expect(pc.locator("#message")).to_have_text("Tokens refreshed.")
    [token] = site.tokens.by_id.values()
    assert token["refresh_token"] != first_refresh

    # Introspection, as a resource server registered with the provider.
    resource_server, rs_secret = await register(qrlogin, name="Example API", redirect_uris=[f"{site.url}/api"])
    rs = (resource_server.client_id, rs_secret or "")
    active = await asyncio.to_thread(introspect, qrlogin, rs, token["access_token"])
    assert active["active"] is True and active["sub"] == "demo:bob" and active["client_id"] == site.client_id

    # Log-out: the site revokes its refresh token; everything of that login is refused from then on.
    await pc.get_by_role("button", name="Log out").click()
    await expect(pc.locator("#message")).to_have_text("Logged out.")
    await expect(pc.get_by_role("link", name="Log in with qrlogin")).to_be_visible()
    for spent in (token["access_token"], token["refresh_token"]):
        assert await asyncio.to_thread(introspect, qrlogin, rs, spent) == {"active": False}
    userinfo = await qrlogin.request("GET", "/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.code == 401

    # The rotated-out refresh token is refused too (its family was revoked anyway).
    def reuse() -> None:
        with OAuth2Session(site.client_id, site.client_secret) as client:
            client.refresh_token(f"{issuer}/oauth/token", refresh_token=first_refresh)

    with pytest.raises(OAuthError, match="invalid_grant"):
        await asyncio.to_thread(reuse)
    outcomes = [entry.outcome for entry in await qrlogin.audit.tail(20)]
    for event in ("code_issued", "token_issued", "token_refreshed", "token_revoked"):
        assert event in outcomes, event


async def test_a_denial_on_the_phone_comes_back_to_the_site_as_cancelled(
    qrlogin: Instance, site: Site, new_page: NewPage
) -> None:
    pc = await new_page()
    await pc.goto(site.url + "/")
    async with pc.expect_response("**/authorize/session") as created:
        await pc.get_by_role("link", name="Log in with qrlogin").click()
    qr_content = (await (await created.value).json())["qr_content"]
    phone = await new_page(**PHONE)
    await phone.goto(qr_content)
    await phone.get_by_label("bob").check()
    await phone.get_by_role("button", name="Continue").click()
    await phone.get_by_role("button", name="Deny").click()
    await expect(pc.locator("#message")).to_have_text("Login cancelled.")
    await expect(pc.get_by_role("link", name="Log in with qrlogin")).to_be_visible()
    assert site.tokens.by_id == {}
