"""A person-readable browser and OS from a User-Agent header, for the phone to show.

The names come from ua-parser's maintained rules (``ua-parser-builtins``),
so "QQ Browser 11 on Windows" or "Yandex Browser 24" reads as such rather than
as the Chrome they are built on.  A few rules of our own go first where the
bundled ones fall short for the people this page speaks to (below); anything
nobody names reads as unknown and the raw string is shown beside it.

Cost: a parse of the browser and the OS is ~0.4 ms of CPU on the event loop
(the device rules, which we skip, would triple it), paid at ``/scan`` only;
the same few agents repeat, so an LRU cache makes a repeat ~0.1 µs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import ua_parser
from ua_parser import OS, BasicResolver, Domain, Parser, UserAgent
from ua_parser.matchers import UserAgentMatcher

#: agents remembered; each entry is a header (a few hundred bytes) and two short names
CACHE_SIZE = 4096
#: the longest prefix of a header that is parsed: real agents are under 500 characters, and a
#: 60 KB hostile one must not walk hundreds of rules across all of it
MAX_PARSED = 1024

#: rules tried before the bundled ones: 360's browsers name themselves only with these markers (the
#: bundled rule knows only its international and enterprise builds), and WeChat's in-app browser on
#: Android would otherwise read as "Chrome Mobile WebView", the engine it runs on
_OUR_RULES = [
    UserAgentMatcher(r"(?:QIHU 360SE|\b360SE\b)", "360 Secure Browser"),
    UserAgentMatcher(r"(?:QIHU 360EE|\b360EE\b)", "360 Speed Browser"),
    UserAgentMatcher(r"(MicroMessenger)/(\d+)\.(\d+)", "WeChat"),
]
#: ua-parser's family -> the name a person knows it by (mobile builds are the same browser to them)
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "HeadlessChrome": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "WeChat Browser": "WeChat",
}
_SYSTEM_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}
#: what ua-parser calls an agent it does not know
_NOBODY = "Other"


#: an agent no rule names: parsing it once walks (and so compiles) every rule
_NAMED_BY_NOBODY = "qrlogin-warm-up/0"


def _parser() -> Parser:
    user_agents, systems, _devices = ua_parser.load_lazy_builtins()  # the device rules are never compiled
    parser = Parser(BasicResolver(([*_OUR_RULES, *user_agents], systems, [])))
    # Compile the rules now, at start-up (~30 ms), not during the first /scan on the event loop.
    parser(_NAMED_BY_NOBODY, Domain.USER_AGENT | Domain.OS)
    return parser


_PARSER = _parser()


class Agent(NamedTuple):
    """What a User-Agent names; empty strings where it names nothing we know."""

    browser: str
    system: str


@lru_cache(maxsize=CACHE_SIZE)
def describe(user_agent: str) -> Agent:
    """The browser (with its major version) and the operating system of ``user_agent``."""
    parsed = _PARSER(user_agent[:MAX_PARSED], Domain.USER_AGENT | Domain.OS)
    return Agent(_browser(parsed.user_agent), _system(parsed.os))


def _browser(found: UserAgent | None) -> str:
    if found is None or found.family == _NOBODY:
        return ""
    name = _BROWSER_NAMES.get(found.family, found.family)
    return f"{name} {found.major}" if found.major else name


def _system(found: OS | None) -> str:
    # The family only: versions mislead (Windows 11 still says "Windows NT 10.0").
    if found is None or found.family == _NOBODY:
        return ""
    return _SYSTEM_NAMES.get(found.family, found.family)
