"""A person-readable browser and OS from a User-Agent header, for the phone to show.

Deliberately small: it names the common browsers and systems so the person
confirming can tell "Chrome on Windows" from "Safari on macOS"; anything
else reads as unknown and the raw string is shown beside it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: (name, pattern) in order of precedence: Edge and Opera also say "Chrome", Chrome also says "Safari"
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("WeChat", re.compile(r"MicroMessenger/(\d+)")),
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"(?:OPR|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|Chromium|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[\d.]* (?:Mobile/\w+ )?Safari/")),
)

#: (name, pattern) in order of precedence: Android also says "Linux", iOS also says "Mac OS X"
_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Windows", re.compile(r"Windows NT|Windows")),
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux|X11")),
)


class Agent(NamedTuple):
    """What a User-Agent names; empty strings where it names nothing we know."""

    browser: str
    system: str


def describe(user_agent: str) -> Agent:
    """The browser (with its major version) and the operating system of ``user_agent``."""
    browser = ""
    for name, pattern in _BROWSERS:
        match = pattern.search(user_agent)
        if match:
            browser = f"{name} {match.group(1)}"
            break
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    return Agent(browser, system)
