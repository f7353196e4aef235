"""The pages over plain HTTP: headers, languages, the phone page's error pages, translations."""

from __future__ import annotations

import csv
import re

from auth import DemoAuthenticator
from handlers.pages import CSP, ERROR_TEXTS, FAILURE_TEXT, LOGIN_TEXTS, PHONE_TEXTS, WEB_ROOT
from redis_map import EmbeddedRedis
from tests.conftest import MakeInstance
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
    assert '<html lang="zh-CN">' in chinese and "用手机应用扫码登录" in chinese
    english = html(await get(service, "/", **{"Accept-Language": "fr-FR,en;q=0.5"}))
    assert '<html lang="en-US">' in english and "Log in with the app" in english


async def test_a_language_picked_on_the_page_is_remembered(service: Instance) -> None:
    picked = await get(service, "/?lang=zh_CN", **{"Accept-Language": "en"})
    assert "用手机应用扫码登录" in html(picked)
    cookie = picked.headers["Set-Cookie"].split(";")[0]
    assert cookie == "lang=zh_CN"
    again = await get(service, "/", **{"Accept-Language": "en", "Cookie": cookie})
    assert "用手机应用扫码登录" in html(again)
    unknown = await get(service, "/?lang=xx_XX", **{"Accept-Language": "en"})
    assert "Log in with the app" in html(unknown) and "Set-Cookie" not in unknown.headers


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


def test_every_page_string_has_a_chinese_translation() -> None:
    with open(WEB_ROOT / "locale" / "zh_CN.csv", encoding="utf-8", newline="") as file:
        translated = {row[0] for row in csv.reader(file) if row}
    wanted = set(LOGIN_TEXTS.values()) | set(PHONE_TEXTS.values())
    wanted |= {text for texts in (*ERROR_TEXTS.values(), FAILURE_TEXT) for text in texts}
    for template in (WEB_ROOT / "templates").glob("*.html"):
        for double, single in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", template.read_text()):
            wanted.add(double or single)
    assert "Log in with the app" in wanted and "Deny" in wanted
    assert wanted - translated == set()


async def test_an_unreachable_store_is_a_busy_page(make_instance: MakeInstance) -> None:
    with EmbeddedRedis() as own:  # a Redis of this test's own, so it may stop it
        service = await make_instance(redis_url=own.url)
    answer = await get(service, f"/s/{UNKNOWN_UUID}")
    assert answer.code == 503 and "Service busy" in html(answer)
