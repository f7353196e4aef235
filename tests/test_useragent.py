"""Reading "browser on OS" out of User-Agent headers, and /scan telling the app."""

from __future__ import annotations

import pytest

from login.useragent import MAX_PARSED, Agent, describe
from tests.service import Instance

AGENTS = {
    "chrome-windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        Agent("Chrome 131", "Windows"),
    ),
    "edge-windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
        Agent("Edge 131", "Windows"),
    ),
    "qq-browser-windows": (
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/94.0.4606.71 Safari/537.36 Core/1.94.202.400 QQBrowser/11.9.5355.400",
        Agent("QQ Browser 11", "Windows"),
    ),
    "360-secure-browser-windows": (
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/78.0.3904.108 Safari/537.36 QIHU 360SE",
        Agent("360 Secure Browser", "Windows"),
    ),
    "360-speed-browser-windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/108.0.0.0 Safari/537.36 QIHU 360EE",
        Agent("360 Speed Browser", "Windows"),
    ),
    "yandex-windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 YaBrowser/24.6.0.0 Safari/537.36",
        Agent("Yandex Browser 24", "Windows"),
    ),
    "vivaldi-windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Vivaldi/7.0.3495.18",
        Agent("Vivaldi 7", "Windows"),
    ),
    "safari-mac": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        Agent("Safari 18", "macOS"),
    ),
    "firefox-ubuntu": (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        Agent("Firefox 133", "Ubuntu"),
    ),
    "chrome-chromeos": (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        Agent("Chrome 131", "ChromeOS"),
    ),
    "safari-iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        Agent("Safari 18", "iOS"),
    ),
    "chrome-android": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        Agent("Chrome 131", "Android"),
    ),
    # WeChat's in-app browser runs on the system WebView: its UA says "wv" and "Chrome" before "MicroMessenger".
    "wechat-android": (
        "Mozilla/5.0 (Linux; Android 13; V2183A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 "
        "MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN "
        "ABI/arm64",
        Agent("WeChat 8", "Android"),
    ),
    "wechat-iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN",
        Agent("WeChat 8", "iOS"),
    ),
    "wechat-windows": (
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 "
        "Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) XWEB/9129",
        Agent("WeChat 7", "Windows"),
    ),
    "unknown": ("Mozilla/5.0 (compatible; Frobnicator/2.1)", Agent("", "")),
    "curl": ("curl/8.5.0", Agent("curl 8", "")),
    "empty": ("", Agent("", "")),
}


@pytest.mark.parametrize("name", AGENTS)
def test_describe_names_browser_and_os(name: str) -> None:
    user_agent, expected = AGENTS[name]
    assert describe(user_agent) == expected


def test_an_agent_seen_again_is_not_parsed_again() -> None:
    user_agent = AGENTS["vivaldi-windows"][0] + " cache-probe"
    before = describe.cache_info()
    first = describe(user_agent)
    assert describe(user_agent) is first
    after = describe.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


def test_a_huge_agent_is_parsed_by_its_beginning_only() -> None:
    huge = AGENTS["edge-windows"][0] + " " + "x" * (MAX_PARSED * 60)
    assert describe(huge) == Agent("Edge 131", "Windows")


async def test_scan_tells_the_app_the_browser_the_os_and_who_scanned(service: Instance) -> None:
    chrome, _ = AGENTS["chrome-windows"]
    created = await service.post("/uuid", headers={"User-Agent": chrome})
    scan = await service.post("/scan", {"uuid": created.body["uuid"]}, user="alice-token")
    assert scan.code == 200
    assert scan.body["requester"]["browser"] == "Chrome 131"
    assert scan.body["requester"]["os"] == "Windows"
    assert scan.body["requester"]["user_agent"] == chrome
    assert scan.body["user"]["sub"] == "alice" and scan.body["user"]["name"] == "Alice"
