"""The provider's pages in chromium: the PC page for an authorization request, the phone page naming the site."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

pytest.importorskip("playwright", reason="playwright not installed: pip install -r requirements-dev.txt")

from playwright.async_api import Page, Route, expect

from tests.oidc.conftest import ISSUER, REDIRECT_URI, good_request, query_of, register
from tests.pages.conftest import PHONE, NewPage, csp_violations, qr_loaded
from tests.service import Instance


async def open_authorize(
    new_page: NewPage, service: Instance, client_id: str
) -> tuple[Page, dict[str, Any], list[str]]:
    """The PC page for one authorization request, once it shows a QR; its session; where the site got the tab."""
    params = good_request(client_id, state="xyz", nonce="abc")
    pc = await new_page()
    arrived: list[str] = []

    async def site(route: Route) -> None:  # the relying party, as far as the browser can tell
        arrived.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<p id='rp'>Back at Acme</p>")

    await pc.route(re.compile(r"^https://rp\.example/.*"), site)
    async with pc.expect_response("**/authorize/session") as created:
        await pc.goto(f"{service.base_url}/authorize?{urlencode(params)}")
    session: dict[str, Any] = await (await created.value).json()
    await expect(pc.locator("#login")).to_have_attribute("data-state", "waiting")
    await qr_loaded(pc)
    return pc, session, arrived


async def phone_decides(new_page: NewPage, session: dict[str, Any], button: str) -> Page:
    phone = await new_page(**PHONE)
    await phone.goto(session["qr_content"])
    await expect(phone.locator(".site-name")).to_have_text("For Acme")
    await expect(phone.locator(".site-host")).to_have_text("The computer will be sent back to rp.example.")
    await phone.get_by_label("bob").check()
    await phone.get_by_role("button", name="Continue").click()
    await expect(phone.locator("#question")).to_have_text("Log in on this computer as bob?")
    await phone.get_by_role("button", name=button).click()
    return phone


async def test_confirm_sends_the_tab_back_with_code_state_and_iss(provider: Instance, new_page: NewPage) -> None:
    client, _ = await register(provider)
    pc, session, arrived = await open_authorize(new_page, provider, client.client_id)
    await expect(pc.locator("#site")).to_contain_text("Acme asks you to log in with qrlogin.")
    await expect(pc.locator("#site")).to_contain_text("You will be sent back to rp.example.")

    phone = await phone_decides(new_page, session, "Confirm login")
    await expect(pc.locator("#rp")).to_have_text("Back at Acme")
    [landed] = arrived
    assert landed.startswith(REDIRECT_URI + "?")
    back = query_of(landed)
    assert back["state"] == "xyz" and back["iss"] == ISSUER and back["code"]
    assert set(back) == {"code", "state", "iss"}
    assert await csp_violations(phone) == []
    # Back does not return to the spent login page: it replaced itself with the site.
    await pc.go_back()
    assert "/authorize" not in pc.url


async def test_deny_sends_the_tab_back_with_access_denied(provider: Instance, new_page: NewPage) -> None:
    client, _ = await register(provider)
    pc, session, arrived = await open_authorize(new_page, provider, client.client_id)
    await phone_decides(new_page, session, "Deny")
    await expect(pc.locator("#rp")).to_have_text("Back at Acme")
    back = query_of(arrived[0])
    assert back["error"] == "access_denied" and back["state"] == "xyz" and back["iss"] == ISSUER
    assert "code" not in back
