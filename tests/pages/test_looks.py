"""Every state of both pages in light and dark, English, Simplified and Traditional Chinese, PC and phone sizes.

One browser per language: each state is shot in both themes by switching the
emulated colour scheme on the live page (no reload, so the login goes on), and
the PC page also at a phone's width.  Each shot asserts what it shows: the
theme's background, the product name in the title, the language's text.
Screenshots land in ``artifacts/pages/test_every_state_looks_finished_<lang>-<state>-<theme>-<size>.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="playwright not installed: pip install -r requirements-dev.txt")

from playwright.async_api import Page, expect

from auth import DemoAuthenticator
from tests.conftest import MakeInstance
from tests.pages.branding import png
from tests.pages.conftest import PHONE, NewPage, Snap, csp_violations, open_login

#: the operator's name for the product in these shots
APP = "Acme Chat"
#: a PC's screen
PC = {"viewport": {"width": 1280, "height": 800}}
#: the PC page squeezed to a phone's width (same context: the login goes on)
NARROW = {"width": 390, "height": 844}
#: the relative luminance a dark page's background stays under, and a light one's stays over
DARK_MOST, LIGHT_LEAST = 0.1, 0.8


@dataclass(frozen=True)
class Language:
    """What a browser asking for this language is expected to read."""

    accept: str
    html_lang: str
    user: str
    pc_title: str
    scanned: str
    logged_in: str
    ask: str
    confirmed: str
    denied: str
    pc_denied: str
    need_app: str
    expired: str
    continue_: str
    confirm: str
    deny: str
    log_out: str


LANGUAGES = {
    "en": Language(
        accept="en-US",
        html_lang="en-US",
        user="bob",
        pc_title=f"Log in with {APP}",
        scanned="Scanned by bob",
        logged_in="Logged in as bob",
        ask="Log in on this computer as bob?",
        confirmed="Done: you are logged in on the computer.",
        denied="Login cancelled. Nobody was logged in.",
        pc_denied="Login cancelled on the phone.",
        need_app=f"Open this link with {APP} to log in.",
        expired="This code has expired",
        continue_="Continue",
        confirm="Confirm login",
        deny="Deny",
        log_out="Log out",
    ),
    "zh_CN": Language(
        accept="zh-CN",
        html_lang="zh-CN",
        user="张伟",
        pc_title=f"使用 {APP} 扫码登录",
        scanned="张伟 已扫码",
        logged_in="已登录：张伟",  # noqa: RUF001
        ask="以 张伟 的身份登录此电脑？",  # noqa: RUF001
        confirmed="完成：您已在电脑上登录。",  # noqa: RUF001
        denied="已取消登录，没有任何人登录。",  # noqa: RUF001
        pc_denied="已在手机上取消登录。",
        need_app=f"请用 {APP} 打开此链接进行登录。",
        expired="二维码已过期",
        continue_="继续",
        confirm="确认登录",
        deny="拒绝",
        log_out="退出登录",
    ),
    "zh_TW": Language(
        accept="zh-TW",
        html_lang="zh-TW",
        user="张伟",
        pc_title=f"使用 {APP} 掃碼登入",
        scanned="张伟 已掃描",
        logged_in="已登入：张伟",  # noqa: RUF001
        ask="以 张伟 的身分登入這台電腦？",  # noqa: RUF001
        confirmed="完成：您已在電腦上登入。",  # noqa: RUF001
        denied="已取消登入，沒有任何人登入。",  # noqa: RUF001
        pc_denied="已在手機上取消登入。",
        need_app=f"請用 {APP} 開啟此連結以登入。",
        expired="QR 碼已過期",
        continue_="繼續",
        confirm="確認登入",
        deny="拒絕",
        log_out="登出",
    ),
}

#: the page background's relative luminance (WCAG), from its computed colour
LUMINANCE = """() => {
  const [r, g, b] = getComputedStyle(document.documentElement).backgroundColor.match(/\\d+/g).map(Number);
  const linear = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}"""


async def shoot(page: Page, snap: Snap, state: str, language: Language, *, narrow_too: bool = False) -> None:
    """Shoots ``page`` in light and dark (and at a phone's width), checking what every shot must show."""
    assert APP in await page.title()
    await expect(page.locator("html")).to_have_attribute("lang", language.html_lang)
    sizes = [("wide", page.viewport_size), ("narrow", NARROW)] if narrow_too else [("", page.viewport_size)]
    for size, viewport in sizes:
        if viewport is not None:
            await page.set_viewport_size(viewport)
        for theme in ("light", "dark"):
            await page.emulate_media(color_scheme=theme)
            luminance = await page.evaluate(LUMINANCE)
            assert luminance < DARK_MOST if theme == "dark" else luminance > LIGHT_LEAST, (state, theme, luminance)
            await snap(page, "-".join(part for part in (state, theme, size) if part))
    await page.set_viewport_size(sizes[0][1] or NARROW)
    assert await csp_violations(page) == []


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_state_looks_finished(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap, tmp_path: Path, lang: str
) -> None:
    language = LANGUAGES[lang]
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(64))
    branding = dict(app_name=APP, logo=logo)
    service = await make_instance(authenticator=DemoAuthenticator(), demo=True, **branding)

    pc, session = await open_login(new_page, service, locale=language.accept, **PC)
    await expect(pc.locator("h1")).to_have_text(language.pc_title)
    await expect(pc.locator(".brand img")).to_have_js_property("naturalWidth", 64)
    await shoot(pc, snap, "01-pc-waiting", language, narrow_too=True)

    phone = await new_page(locale=language.accept, **PHONE)
    await phone.goto(session["qr_content"])
    await expect(phone.locator("#pick")).to_be_visible()
    await shoot(phone, snap, "02-phone-picking", language)
    await phone.get_by_label(language.user).check()
    await phone.get_by_role("button", name=language.continue_).click()
    await expect(phone.locator("#question")).to_have_text(language.ask)
    await expect(phone.locator("#question")).to_be_focused()
    assert await phone.locator("#question").evaluate("el => getComputedStyle(el).outlineStyle") == "none"
    await shoot(phone, snap, "03-phone-asking", language)

    await expect(pc.locator("#who")).to_have_text(language.scanned)
    await shoot(pc, snap, "04-pc-scanned", language, narrow_too=True)

    await phone.get_by_role("button", name=language.confirm).click()
    await expect(phone.locator("#message")).to_have_text(language.confirmed)
    await shoot(phone, snap, "05-phone-confirmed", language)
    await expect(pc.locator("#who")).to_have_text(language.logged_in)
    await shoot(pc, snap, "06-pc-logged-in", language, narrow_too=True)

    # Log out for a new code, and deny it this time.
    async with pc.expect_response("**/uuid") as created:
        await pc.get_by_role("button", name=language.log_out).click()
    second = await (await created.value).json()
    await expect(pc.locator("#login")).to_have_attribute("data-state", "waiting")
    await phone.goto(second["qr_content"])
    await phone.get_by_role("button", name=language.continue_).click()
    await phone.get_by_role("button", name=language.deny).click()
    await expect(phone.locator("#message")).to_have_text(language.denied)
    await shoot(phone, snap, "07-phone-denied", language)
    await expect(pc.locator("#message")).to_have_text(language.pc_denied)
    await shoot(pc, snap, "08-pc-denied", language, narrow_too=True)

    # A spent code opened again: the error page.
    await phone.goto(second["qr_content"])
    await expect(phone.locator("h1")).not_to_have_text(language.expired)  # used, not expired
    await shoot(phone, snap, "09-phone-used-code", language)
    await phone.goto(service.base_url + "/s/0123456789abcdef0123456789abcdef")
    await expect(phone.locator("h1")).to_have_text(language.expired)
    await shoot(phone, snap, "10-phone-expired-code", language)

    # Outside demo mode, opened without the app (say, by the camera app).
    real = await make_instance(**branding)
    third = await real.new_session()
    await phone.goto(third["qr_content"])
    await expect(phone.locator("#message")).to_have_text(language.need_app)
    await shoot(phone, snap, "11-phone-needs-app", language)
