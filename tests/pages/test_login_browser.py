"""The whole login as people do it: a PC browser shows the QR, a phone browser confirms or denies."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("playwright", reason="playwright not installed: pip install -r requirements-dev.txt")

from playwright.async_api import Page, expect

from auth import DemoAuthenticator
from tests.conftest import MakeInstance
from tests.pages.conftest import PHONE, Decode, NewPage, Snap, csp_violations, open_login
from tests.service import Instance


async def demo_instance(make_instance: MakeInstance, **options: Any) -> Instance:
    return await make_instance(authenticator=DemoAuthenticator(), demo=True, **options)


async def read_qr(pc: Page, decode_qr: Decode) -> str:
    """What the QR on the PC's screen says, read by zbar from a screenshot of it."""
    found = decode_qr(await pc.locator("#qr").screenshot())
    assert len(found) == 1, found
    return found[0]


async def test_scan_and_confirm_logs_the_pc_in(
    make_instance: MakeInstance, new_page: NewPage, decode_qr: Decode, snap: Snap
) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_login(new_page, service)
    await expect(pc.locator("#countdown")).to_have_text(re.compile(r"Expires in (2:00|1:[45]\d)"))
    await snap(pc, "1-pc-waiting")
    link = await read_qr(pc, decode_qr)
    assert link == session["qr_content"] == f"{service.base_url}/s/{session['uuid']}"

    phone = await new_page(**PHONE)
    await phone.goto(link)
    await expect(phone.locator("#pick")).to_be_visible()
    await snap(phone, "2-phone-picking")
    await phone.get_by_label("bob").check()
    await phone.get_by_role("button", name="Continue").click()
    await expect(phone.locator("#question")).to_have_text("Log in on this computer as bob?")
    await expect(phone.locator("#ip")).to_have_text("127.0.0.1")
    await expect(phone.locator("#agent")).to_have_text(re.compile(r"Chrome \d+ on Linux"))
    await expect(phone.locator("#question")).to_be_focused()
    # Focus moved there for screen readers is not drawn as a frame: nothing to act on there.
    assert await phone.locator("#question").evaluate("el => getComputedStyle(el).outlineStyle") == "none"
    await snap(phone, "3-phone-asking")

    await expect(pc.locator("#who")).to_have_text("Scanned by bob")
    await expect(pc.locator("#message")).to_have_text("Confirm the login on your phone.")
    await expect(pc.locator("#initial")).to_have_text("B")
    await snap(pc, "4-pc-scanned")

    await phone.get_by_role("button", name="Confirm login").click()
    await expect(phone.locator("#message")).to_have_text("Done: you are logged in on the computer.")
    await snap(phone, "5-phone-confirmed")

    await expect(pc.locator("#login")).to_have_attribute("data-state", "logged-in")
    await expect(pc.locator("#who")).to_have_text("Logged in as bob")
    await expect(pc.locator("#qr")).to_be_hidden()
    await snap(pc, "6-pc-logged-in")
    token = await pc.evaluate("sessionStorage.getItem('qrlogin.token')")
    assert service.tokens.verify(token)["sub"] == "demo:bob"
    assert await csp_violations(pc) == [] and await csp_violations(phone) == []


async def test_deny_on_the_phone_shows_cancelled_and_offers_a_new_code(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_login(new_page, service)
    phone = await new_page(**PHONE)
    await phone.goto(session["qr_content"])
    await phone.get_by_role("button", name="Continue").click()
    await expect(pc.locator("#who")).to_have_text("Scanned by alice")
    await phone.get_by_role("button", name="Deny").click()
    await expect(phone.locator("#message")).to_have_text("Login cancelled. Nobody was logged in.")
    await expect(phone.locator("#ask")).to_be_hidden()
    await snap(phone, "1-phone-denied")

    await expect(pc.locator("#login")).to_have_attribute("data-state", "denied")
    await expect(pc.locator("#message")).to_have_text("Login cancelled on the phone.")
    await expect(pc.locator("#qr")).to_be_hidden()
    again = pc.get_by_role("button", name="Get a new code")
    await expect(again).to_be_focused()
    await snap(pc, "2-pc-denied")

    async with pc.expect_response("**/uuid") as created:
        await pc.keyboard.press("Enter")
    fresh = await (await created.value).json()
    assert fresh["uuid"] != session["uuid"]
    await expect(pc.locator("#qr")).to_have_attribute("data-uuid", fresh["uuid"])
    await expect(pc.locator("#login")).to_have_attribute("data-state", "waiting")

    # The denied code is dead: opening it again says so in a page, not an error dump.
    await phone.goto(session["qr_content"])
    await expect(phone.locator("h1")).to_have_text("This code was already used")


async def test_expired_codes_are_replaced_until_nobody_scans_for_a_while(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await demo_instance(make_instance, session_ttl=2.0, idle_codes=2)
    pc, first = await open_login(new_page, service)
    # No dead code stays on screen: once it expires, a fresh one replaces it by itself.
    await expect(pc.locator("#qr")).not_to_have_attribute("data-uuid", first["uuid"])
    second = await pc.locator("#qr").get_attribute("data-uuid")
    assert second and await pc.locator("#qr").get_attribute("src") == f"/qr/{second}.svg"
    await snap(pc, "1-pc-refreshed")

    # The second code also expires with nobody scanning: the page stops and asks.
    await expect(pc.locator("#login")).to_have_attribute("data-state", "idle")
    await expect(pc.locator("#qr")).to_be_hidden()
    await expect(pc.locator("#message")).to_have_text("The code expired. Get a new one when you are ready.")
    await snap(pc, "2-pc-idle")

    await pc.get_by_role("button", name="Get a new code").click()
    await expect(pc.locator("#login")).to_have_attribute("data-state", "waiting")
    assert await pc.locator("#qr").get_attribute("data-uuid") not in (first["uuid"], second)


async def test_the_pc_page_resumes_after_the_network_comes_back(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await demo_instance(make_instance, wait_timeout=0.5)
    pc, session = await open_login(new_page, service)
    await pc.context.set_offline(True)
    await expect(pc.locator("#network")).to_have_text("Connection lost. Retrying…")
    await snap(pc, "1-pc-offline")
    await pc.context.set_offline(False)
    await expect(pc.locator("#network")).to_be_hidden()

    scan = await service.post("/scan", {"uuid": session["uuid"]}, user="demo:carol")
    assert scan.code == 200
    await expect(pc.locator("#who")).to_have_text("Scanned by carol")
    await snap(pc, "2-pc-back-online")


async def test_zhang_wei_logs_in_from_the_demo_phone_page(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_login(new_page, service, locale="zh-CN")
    phone = await new_page(locale="zh-CN", **PHONE)
    await phone.goto(session["qr_content"])
    await phone.get_by_label("张伟").check()
    # A header carries only Latin-1 and a Bearer token only token68: the name goes as base64url of its UTF-8.
    async with phone.expect_request("**/scan") as scanned:
        await phone.get_by_role("button", name="继续").click()
    assert (await scanned.value).headers["authorization"] == "Bearer demo64:5byg5Lyf"
    await expect(phone.locator("#question")).to_have_text("以 张伟 的身份登录此电脑？")  # noqa: RUF001
    await expect(pc.locator("#who")).to_have_text("张伟 已扫码")
    await expect(pc.locator("#initial")).to_have_text("张")

    await phone.get_by_role("button", name="确认登录").click()
    await expect(phone.locator("#message")).to_have_text("完成：您已在电脑上登录。")  # noqa: RUF001
    await expect(pc.locator("#login")).to_have_attribute("data-state", "logged-in")
    await expect(pc.locator("#who")).to_have_text("已登录：张伟")  # noqa: RUF001
    await snap(pc, "1-pc-logged-in")
    claims = service.tokens.verify(await pc.evaluate("sessionStorage.getItem('qrlogin.token')"))
    assert (claims["sub"], claims["name"]) == ("demo:张伟", "张伟")
    assert await csp_violations(pc) == [] and await csp_violations(phone) == []


async def test_after_login_the_pc_goes_on_with_the_token_left_in_session_storage(
    make_instance: MakeInstance, new_page: NewPage
) -> None:
    service = await demo_instance(make_instance, app_name="Acme", after_login_url="/home?from=login")
    pc, session = await open_login(new_page, service)
    # The operator's page after login: here a stand-in on the same origin, which reads the token as a site would.
    home = "<!DOCTYPE html><title>Home</title><h1>Home</h1>"
    await pc.route("**/home?from=login", lambda route: route.fulfill(body=home, content_type="text/html"))

    entries = await pc.evaluate("history.length")
    assert (await service.approve(session["uuid"], "demo:dana")).code == 200
    await pc.wait_for_url(service.base_url + "/home?from=login")
    await expect(pc.locator("h1")).to_have_text("Home")
    token = await pc.evaluate("sessionStorage.getItem('qrlogin.token')")
    assert service.tokens.verify(token)["sub"] == "demo:dana"
    assert token not in pc.url
    # replace(), not a new entry: Back does not land on the spent login page.
    assert await pc.evaluate("history.length") == entries


async def test_a_reload_keeps_the_login_and_log_out_starts_over(make_instance: MakeInstance, new_page: NewPage) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_login(new_page, service)
    assert (await service.approve(session["uuid"], "demo:erin")).code == 200
    await expect(pc.locator("#who")).to_have_text("Logged in as erin")
    await expect(pc.locator("#message")).to_have_text("You are logged in on this computer. You can close this page.")

    await pc.reload()
    await expect(pc.locator("#login")).to_have_attribute("data-state", "logged-in")
    await expect(pc.locator("#who")).to_have_text("Logged in as erin")

    async with pc.expect_response("**/uuid"):
        await pc.get_by_role("button", name="Log out").click()
    await expect(pc.locator("#login")).to_have_attribute("data-state", "waiting")
    assert await pc.evaluate("sessionStorage.getItem('qrlogin.token')") is None
    await expect(pc.get_by_role("button", name="Log out")).to_be_hidden()
