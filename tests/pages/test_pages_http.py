"""The pages over plain HTTP: headers, languages, the phone page's error pages, translations."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import cast

import pytest

from auth import DemoAuthenticator
from handlers.branding import LOGO_MAX_BYTES, Branding
from handlers.page_routes import WEB_ROOT, page_routes
from handlers.pages import CSP
from handlers.translations import ERROR_TEXTS, FAILURE_TEXT, LOGIN_TEXTS, PHONE_TEXTS, browser_language
from redis_map import EmbeddedRedis, SessionStore
from tests.conftest import MakeInstance
from tests.pages.branding import png
from tests.service import Answer, Instance

UNKNOWN_UUID = "0123456789abcdef0123456789abcdef"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def html(answer: Answer) -> str:
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value
    text: str = answer.body.decode()
    return text


async def get(service: Instance, path: str, **headers: str) -> Answer:
    return await service.request("GET", path, headers=headers)


async def test_the_login_page_is_html_with_a_strict_policy(service: Instance) -> None:
    page = html(await get(service, "/"))
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert '<script type="module" src="/static/login.js?v=' in page
    assert re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))", page) is None  # no inline script
    assert ' style="' not in page


async def test_static_files_are_served_by_the_service(service: Instance) -> None:
    for name in ("login.js", "phone.js", "api.js", "style.css"):
        answer = await get(service, f"/static/{name}")
        assert answer.code == 200 and answer.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_language_follows_accept_language(service: Instance) -> None:
    chinese = html(await get(service, "/", **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}))
    assert '<html lang="zh-CN">' in chinese and "使用 qrlogin 扫码登录" in chinese
    english = html(await get(service, "/", **{"Accept-Language": "fr-FR,en;q=0.5"}))
    assert '<html lang="en-US">' in english and "Log in with qrlogin" in english


async def test_a_language_picked_on_the_page_is_remembered(service: Instance) -> None:
    picked = await get(service, "/?lang=zh_CN", **{"Accept-Language": "en"})
    assert "使用 qrlogin 扫码登录" in html(picked)
    cookie = picked.headers["Set-Cookie"].split(";")[0]
    assert cookie == "lang=zh_CN"
    again = await get(service, "/", **{"Accept-Language": "en", "Cookie": cookie})
    assert "使用 qrlogin 扫码登录" in html(again)
    unknown = await get(service, "/?lang=xx_XX", **{"Accept-Language": "en"})
    assert "Log in with qrlogin" in html(unknown) and "Set-Cookie" not in unknown.headers


async def test_the_phone_page_of_an_unknown_code_is_a_page_not_a_dump(service: Instance) -> None:
    answer = await get(service, f"/s/{UNKNOWN_UUID}")
    assert answer.code == 404
    page = html(answer)
    assert "This code has expired" in page and "Ask for a new code on the computer" in page
    chinese = await get(service, f"/s/{UNKNOWN_UUID}", **{"Accept-Language": "zh-CN"})
    assert chinese.code == 404 and "二维码已过期" in html(chinese)
    malformed = await get(service, "/s/not-a-code")
    assert malformed.code == 404 and "Page not found" in html(malformed)


async def test_the_phone_page_of_a_used_code_says_so(service: Instance) -> None:
    session = await service.new_session()
    assert (await service.approve(session["uuid"], "alice-token")).code == 200
    answer = await get(service, f"/s/{session['uuid']}")
    assert answer.code == 409 and "This code was already used" in html(answer)


async def test_demo_identities_only_in_demo_mode(service: Instance, make_instance: MakeInstance) -> None:
    session = await service.new_session()
    real = html(await get(service, f"/s/{session['uuid']}"))
    assert 'id="pick"' not in real and 'data-demo="false"' in real

    demo = await make_instance(authenticator=DemoAuthenticator(), demo=True)
    page = html(await get(demo, f"/s/{session['uuid']}"))
    assert 'data-demo="true"' in page and 'name="who" value="alice"' in page
    assert session["cursor"] not in page


async def test_the_api_and_unknown_paths_stay_json(service: Instance) -> None:
    answer = await service.post("/scan", {"uuid": UNKNOWN_UUID}, user="alice-token")
    assert answer.code == 404 and answer.error == "session_not_found"
    nowhere = await get(service, "/nowhere")
    assert nowhere.code == 404 and nowhere.error == "not_found"


def page_strings() -> set[str]:
    """Every string the pages show, in English: the scripts' texts, the error pages', the templates' ``_()``."""
    wanted = set(LOGIN_TEXTS.values()) | set(PHONE_TEXTS.values())
    wanted |= {text for texts in (*ERROR_TEXTS.values(), FAILURE_TEXT) for text in texts}
    for template in (WEB_ROOT / "templates").glob("*.html"):
        for double, single in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", template.read_text()):
            wanted.add(double or single)
    return wanted


@pytest.mark.parametrize("language", ["zh_CN", "zh_TW"])
def test_every_page_string_has_a_translation_and_no_stale_ones(language: str) -> None:
    with open(WEB_ROOT / "locale" / f"{language}.csv", encoding="utf-8", newline="") as file:
        rows = {row[0]: row[1] for row in csv.reader(file) if row}
    wanted = page_strings()
    assert "Log in with {app}" in wanted and "Deny" in wanted
    assert wanted - rows.keys() == set()
    assert rows.keys() - wanted == set()
    for english, translated in rows.items():  # a placeholder lost in translation would show as is
        assert set(re.findall(r"\{\w+\}", english)) == set(re.findall(r"\{\w+\}", translated)), english


@pytest.mark.parametrize(
    ("accept_language", "html_lang", "title"),
    [
        ("zh-TW,zh;q=0.9,en;q=0.8", "zh-TW", "使用 qrlogin 掃碼登入"),
        ("zh-HK", "zh-TW", "使用 qrlogin 掃碼登入"),
        ("zh-Hant", "zh-TW", "使用 qrlogin 掃碼登入"),
        ("zh-Hans-HK", "zh-CN", "使用 qrlogin 扫码登录"),
        ("zh", "zh-CN", "使用 qrlogin 扫码登录"),
        ("de-DE, zh-SG;q=0.5", "zh-CN", "使用 qrlogin 扫码登录"),
        ("zh-TW;q=0, en", "en-US", "Log in with qrlogin"),
    ],
)
async def test_every_chinese_browser_gets_chinese_in_its_script(
    service: Instance, accept_language: str, html_lang: str, title: str
) -> None:
    page = html(await get(service, "/", **{"Accept-Language": accept_language}))
    assert f'<html lang="{html_lang}">' in page and title in page


def test_browser_language_ranks_by_quality() -> None:
    assert browser_language("en;q=0.1, zh-tw;q=0.5") == "zh_TW"
    assert browser_language("fr, es;q=0.9") == "en_US"
    assert browser_language("zh-CN;q=abc, zh-MO") == "zh_TW"  # a broken q drops that entry only
    assert browser_language("") == "en_US"


async def test_the_product_name_is_in_the_title_and_on_both_pages(make_instance: MakeInstance) -> None:
    service = await make_instance(authenticator=DemoAuthenticator(), demo=True, app_name="Acme </script>")
    login = html(await get(service, "/"))
    assert "<title>Log in · Acme &lt;/script&gt;</title>" in login
    assert "Log in with Acme &lt;/script&gt;" in login
    assert "Acme </script>" not in login  # escaped in the HTML, and as "<\\/" in the scripts' JSON
    session = await service.new_session()
    phone = html(await get(service, f"/s/{session['uuid']}", **{"Accept-Language": "zh-TW"}))
    assert "<title>確認登入 · Acme &lt;/script&gt;</title>" in phone
    assert "登入 Acme &lt;/script&gt;" in phone
    missing = html(await get(service, "/s/nothing"))
    assert "Page not found · Acme &lt;/script&gt;" in missing


async def test_the_logo_is_served_with_its_type_and_cached_for_good(
    make_instance: MakeInstance, tmp_path: Path
) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(48))
    service = await make_instance(app_name="Acme", logo=logo)
    page = html(await get(service, "/"))
    found = re.search(r'<img class="logo" src="(/brand/logo\?v=[0-9a-f]{16})"', page)
    assert found is not None
    answer = await get(service, found.group(1))
    assert answer.code == 200 and answer.body == logo.read_bytes()
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


async def test_without_a_logo_there_is_no_logo_route(service: Instance) -> None:
    page = html(await get(service, "/"))
    assert "/brand/logo" not in page
    assert (await get(service, "/brand/logo")).code == 404


@pytest.mark.parametrize(
    ("name", "content", "complaint"),
    [
        ("logo.bmp", b"BM....", "must be a"),
        ("logo.png", b"<svg/>", "is not a image/png file"),
        ("logo.svg", b"x" * (LOGO_MAX_BYTES + 1), "larger than"),
        ("absent.png", None, "cannot read the logo"),
    ],
)
def test_a_bad_logo_fails_at_start_up_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, complaint: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=complaint) as failure:
        page_routes(cast(SessionStore, None), branding=Branding(logo_path=path))
    assert str(path) in str(failure.value)


@pytest.mark.parametrize(
    "branding",
    [
        dict(app_name=""),
        dict(app_name="x" * 65),
        dict(app_name="Acme\nInc"),
        dict(after_login_url="//evil.example/"),
        dict(after_login_url="javascript:alert(1)"),
        dict(after_login_url="example.com/home"),
        dict(after_login_url="/home page"),
    ],
)
def test_branding_refuses_what_cannot_be_shown_or_followed(branding: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Branding(**branding)  # type: ignore[arg-type]


def test_branding_takes_a_path_or_an_http_url() -> None:
    assert Branding(after_login_url="/home?tab=1").after_login_url == "/home?tab=1"
    assert Branding(after_login_url="https://app.example/welcome").after_login_url


async def test_an_unreachable_store_is_a_busy_page(make_instance: MakeInstance) -> None:
    with EmbeddedRedis() as own:  # a Redis of this test's own, so it may stop it
        service = await make_instance(redis_url=own.url)
    answer = await get(service, f"/s/{UNKNOWN_UUID}")
    assert answer.code == 503 and "Service busy" in html(answer)
