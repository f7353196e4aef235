"""The phone page outside demo mode, hostile names and user agents, and the pages in Chinese."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

pytest.importorskip("playwright", reason="playwright not installed: pip install -r requirements-dev.txt")

from playwright.async_api import expect

from auth import DemoAuthenticator
from diagnostics.userinfo_server import USERS
from tests.conftest import MakeInstance
from tests.pages.conftest import PHONE, NewPage, Snap, csp_violations, open_login

#: a user agent and a name that would run script if a page put them in as HTML
HOSTILE_AGENT = '<script>window.pwned = "agent"</script><img src=x onerror="window.pwned = 1">'
#: the side of the picture served for Alice
AVATAR_SIZE = 64
HOSTILE_NAME = '<img src=x onerror="window.pwned = 2">Mallory'


async def test_the_app_hands_its_credential_in_the_fragment(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await make_instance()  # real mode: the credential is checked by the UserInfo server
    pc, session = await open_login(new_page, service)
    # Alice's picture is on an https host this machine cannot reach: the browser gets a real PNG for it.
    await pc.context.route(USERS["alice-token"]["picture"], lambda route: route.fulfill(body=avatar_png()))

    phone = await new_page(**PHONE)
    await phone.goto(f"{session['qr_content']}#token=alice-token")
    await expect(phone.locator("#question")).to_have_text("Log in on this computer as Alice?")
    await expect(phone.locator("#agent")).to_have_text(re.compile(r"Chrome \d+ on Linux"))
    assert phone.url == session["qr_content"]  # the credential left the address bar
    await snap(phone, "1-phone-asking")

    await expect(pc.locator("#who")).to_have_text("Scanned by Alice")
    avatar = pc.get_by_role("img", name="Picture of Alice")
    await expect(avatar).to_be_visible()
    assert await avatar.evaluate("img => img.naturalWidth") == AVATAR_SIZE
    await expect(pc.locator("#initial")).to_be_hidden()
    await snap(pc, "2-pc-scanned-with-picture")

    await phone.get_by_role("button", name="Confirm login").click()
    await expect(phone.locator("#message")).to_have_text("Done: you are logged in on the computer.")
    await expect(pc.locator("#who")).to_have_text("Logged in as Alice")
    assert await csp_violations(pc) == []


def avatar_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (AVATAR_SIZE, AVATAR_SIZE), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


async def test_switching_language_keeps_the_apps_credential(make_instance: MakeInstance, new_page: NewPage) -> None:
    service = await make_instance()
    session = await service.new_session()
    phone = await new_page(**PHONE)
    await phone.goto(f"{session['qr_content']}#token=bob-token")
    await expect(phone.locator("#question")).to_have_text("Log in on this computer as Bob?")
    await phone.get_by_role("link", name="简体中文").click()
    await expect(phone.locator("#question")).to_have_text("以 Bob 的身份登录此电脑？")  # noqa: RUF001
    await expect(phone.get_by_role("button", name="确认登录")).to_be_enabled()


async def test_without_the_app_the_phone_page_says_to_use_it(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await make_instance()
    session = await service.new_session()
    phone = await new_page(**PHONE)
    await phone.goto(session["qr_content"])
    await expect(phone.locator("#message")).to_have_text("Open this link with qrlogin to log in.")
    await expect(phone.get_by_role("button")).to_have_count(0)
    await snap(phone, "1-phone-needs-app")
    assert (await service.store.read(session["uuid"])).status == 0  # nothing happened to the session


async def test_a_rejected_credential_is_explained(make_instance: MakeInstance, new_page: NewPage) -> None:
    service = await make_instance()
    session = await service.new_session()
    phone = await new_page(**PHONE)
    await phone.goto(f"{session['qr_content']}#token=stolen-token")
    await expect(phone.locator("#message")).to_have_text(
        "Your sign-in was not accepted. Open the link again from qrlogin."
    )
    await expect(phone.locator("#ask")).to_be_hidden()


async def test_names_and_user_agents_are_shown_as_text_never_run(
    make_instance: MakeInstance, new_page: NewPage, monkeypatch: pytest.MonkeyPatch, snap: Snap
) -> None:
    monkeypatch.setitem(USERS, "mallory-token", {"sub": "mallory", "name": HOSTILE_NAME})
    service = await make_instance()
    pc = await new_page(user_agent=HOSTILE_AGENT)
    async with pc.expect_response("**/uuid") as created:
        await pc.goto(service.base_url + "/")
    session = await (await created.value).json()

    phone = await new_page(**PHONE)
    await phone.goto(f"{session['qr_content']}#token=mallory-token")
    await expect(phone.locator("#question")).to_have_text(f"Log in on this computer as {HOSTILE_NAME}?")
    await phone.get_by_text("Browser details").click()
    await expect(phone.locator("#ua")).to_have_text(HOSTILE_AGENT)
    await expect(pc.locator("#who")).to_have_text(f"Scanned by {HOSTILE_NAME}")
    await expect(pc.locator("#initial")).to_have_text("<")
    await snap(phone, "1-phone-hostile")
    await snap(pc, "2-pc-hostile")

    for page in (pc, phone):
        assert await page.evaluate("window.pwned") is None
        assert await page.locator("#main img[src=x], main img[src=x]").count() == 0
        assert await csp_violations(page) == []


async def test_chinese_from_accept_language_and_switching_to_english(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await make_instance(authenticator=DemoAuthenticator(), demo=True)
    pc = await new_page(locale="zh-CN")
    await pc.goto(service.base_url + "/")
    await expect(pc.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(pc.locator("h1")).to_have_text("使用 qrlogin 扫码登录")
    await expect(pc.locator("#message")).to_have_text("在手机上打开 qrlogin，扫描此二维码登录。")  # noqa: RUF001
    await expect(pc.locator("#countdown")).to_contain_text("后过期")
    await snap(pc, "1-pc-chinese")

    await pc.get_by_role("link", name="English").click()
    await expect(pc.locator("h1")).to_have_text("Log in with qrlogin")
    await pc.goto(service.base_url + "/")  # the choice is remembered over Accept-Language
    await expect(pc.locator("h1")).to_have_text("Log in with qrlogin")
    await expect(pc.get_by_role("link", name="English")).to_have_attribute("aria-current", "true")

    session = await service.new_session()
    phone = await new_page(locale="zh-CN", **PHONE)
    await phone.goto(session["qr_content"])
    await phone.get_by_role("button", name="继续").click()
    await expect(phone.locator("#question")).to_have_text("以 alice 的身份登录此电脑？")  # noqa: RUF001
    await snap(phone, "2-phone-chinese")
    await phone.get_by_role("button", name="拒绝").click()
    await expect(phone.locator("#message")).to_have_text("已取消登录，没有任何人登录。")  # noqa: RUF001
