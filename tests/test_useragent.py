"""Reading "browser on OS" out of User-Agent headers, and /scan telling the app."""

from __future__ import annotations

import pytest

from login.useragent import Agent, describe
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
    "safari-mac": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        Agent("Safari 18", "macOS"),
    ),
    "firefox-linux": (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        Agent("Firefox 133", "Linux"),
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
    "wechat-android": (
        "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116.0 Mobile Safari/537.36 MicroMessenger/8.0.49",
        Agent("WeChat 8", "Android"),
    ),
    "curl": ("curl/8.5.0", Agent("", "")),
    "empty": ("", Agent("", "")),
}


@pytest.mark.parametrize("name", AGENTS)
def test_describe_names_browser_and_os(name: str) -> None:
    user_agent, expected = AGENTS[name]
    assert describe(user_agent) == expected


async def test_scan_tells_the_app_the_browser_the_os_and_who_scanned(service: Instance) -> None:
    chrome, _ = AGENTS["chrome-windows"]
    created = await service.post("/uuid", headers={"User-Agent": chrome})
    scan = await service.post("/scan", {"uuid": created.body["uuid"]}, user="alice-token")
    assert scan.code == 200
    assert scan.body["requester"]["browser"] == "Chrome 131"
    assert scan.body["requester"]["os"] == "Windows"
    assert scan.body["requester"]["user_agent"] == chrome
    assert scan.body["user"]["sub"] == "alice" and scan.body["user"]["name"] == "Alice"
