"""The pages people see: the PC's login page ``/`` and the phone's confirm page ``/s/<uuid>``.

Server-rendered HTML with autoescaping; the behaviour lives in static scripts
(no inline script: the CSP forbids it) that call the JSON API.  Pages speak
English, Simplified or Traditional Chinese, picked by ``?lang=``, then a
cookie, then Accept-Language.  The operator's product name and logo
(`Branding`) are on both pages; `page_routes` gives every page route.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import tornado.locale
from tornado.routing import URLSpec
from tornado.web import HTTPError, RequestHandler, StaticFileHandler, url

from handlers.base import LoginErrorHandler
from handlers.page_cache import PageCache
from login.errors import InvalidTransition, LoginError, NotFound, SessionNotFound, StorageUnavailable
from redis_map import SessionStore

#: where the templates, static files and translations are
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
#: every page's Content-Security-Policy: our own scripts and styles only, images also from https
CSP = "default-src 'self'; img-src 'self' data: https:; script-src 'self'; style-src 'self'; frame-ancestors 'none'"
#: the languages the pages speak: locale code -> its name in that language
LANGUAGES = {"en_US": "English", "zh_CN": "简体中文", "zh_TW": "繁體中文"}
#: the language of a browser that asks for none we speak
DEFAULT_LANGUAGE = "en_US"
#: the regions that write Chinese in Traditional characters (Taiwan, Hong Kong, Macau); a tag may
#: also name the script ("zh-Hant", "zh-Hans-HK").  Tornado's own matching gives these English.
TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})
#: the cookie that remembers a language picked on a page
LANG_COOKIE = "lang"
#: days the language cookie lasts
LANG_COOKIE_DAYS = 365
#: the identities the phone page offers in demo mode
DEMO_NAMES = ("alice", "bob", "张伟")
#: where the operator's logo is served; its URL carries a digest of the file, so it may be cached for good
LOGO_PATH = "/brand/logo"
#: seconds a browser may keep the logo (a year: a new file gets a new URL)
LOGO_MAX_AGE = 365 * 24 * 3600
#: the largest logo file served: a logo is a few KB, and it is held in memory
LOGO_MAX_BYTES = 1024 * 1024
#: logo file suffix -> (content type, how such a file begins)
LOGO_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)),
    ".svg": ("image/svg+xml", (b"<",)),
}
#: the logo's own policy: an SVG opened by itself must run nothing (it is served from our origin)
LOGO_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
#: the longest product name shown; it sits in a title and a header line
MAX_APP_NAME = 64

#: the strings login.js shows; keys are what the script asks for, values are translated per request
LOGIN_TEXTS = {
    "waiting": "Open {app} on your phone and scan this code to log in.",
    "expires_in": "Expires in {time}",
    "expired": "This code has expired. Getting a new one…",
    "scanned": "Scanned by {name}",
    "confirm_on_phone": "Confirm the login on your phone.",
    "logging_in": "Logging in…",
    "logged_in": "Logged in as {name}",
    "done": "You are logged in on this computer. You can close this page.",
    "going_on": "Taking you to {app}…",
    "denied": "Login cancelled on the phone.",
    "idle": "The code expired. Get a new one when you are ready.",
    "failed": "The login could not be completed.",
    "offline": "Connection lost. Retrying…",
    "picture_of": "Picture of {name}",
}
#: the strings phone.js shows
PHONE_TEXTS = {
    "checking": "Checking…",
    "ask": "Log in on this computer as {name}?",
    "browser_on_os": "{browser} on {os}",
    "browser_only": "{browser} on an unknown system",
    "os_only": "An unknown browser on {os}",
    "unknown": "Unknown browser and system",
    "not_given": "unknown",
    "confirmed": "Done: you are logged in on the computer.",
    "denied": "Login cancelled. Nobody was logged in.",
    "session_not_found": "This code has expired. Ask for a new code on the computer and scan it again.",
    "invalid_state": "This code was already used or cancelled.",
    "user_mismatch": "This code was scanned by another account.",
    "invalid_token": "Your sign-in was not accepted. Open the link again from {app}.",
    "missing_credential": "Open this link with {app} to log in.",
    "failed": "Something went wrong. Try again.",
}
#: what the error page tells a person, per error class; anything else reads as a generic failure
ERROR_TEXTS: dict[type[LoginError], tuple[str, str]] = {
    SessionNotFound: ("This code has expired", "Ask for a new code on the computer and scan it again."),
    InvalidTransition: ("This code was already used", "Ask for a new code on the computer if you want to log in."),
    NotFound: ("Page not found", "There is nothing at this address."),
    StorageUnavailable: ("Service busy", "The service cannot be reached right now. Try again shortly."),
}
FAILURE_TEXT = ("Something went wrong", "The page could not be shown. Try again shortly.")


@dataclass(frozen=True)
class Branding:
    """What the operator names the product: shown on both pages and in their titles.

    ``after_login_url`` is where the PC page goes once logged in (a path on
    this site, or an http(s) URL); None: the page stays and says what next.
    The login token does not travel in it: the page leaves it in the tab's
    ``sessionStorage`` (``qrlogin.token``), which pages of the same origin read.
    """

    app_name: str = "qrlogin"
    logo_path: Path | None = None
    after_login_url: str | None = None

    def __post_init__(self) -> None:
        name = self.app_name.strip()
        if not name or len(name) > MAX_APP_NAME or not name.isprintable():
            raise ValueError(f"the app name must be 1 to {MAX_APP_NAME} printable characters, not {self.app_name!r}")
        if self.after_login_url is not None and not _is_after_login_url(self.after_login_url):
            raise ValueError(
                f"the after-login URL must be a path on this site (/…) or an http(s) URL, not {self.after_login_url!r}"
            )


def _is_after_login_url(text: str) -> bool:
    if not text.isprintable() or " " in text:
        return False
    if text.startswith("/"):
        return not text.startswith("//")  # "//host" would leave the site
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


#: today's wiring: the default name, no logo, no page after login
DEFAULT_BRANDING = Branding()


@dataclass(frozen=True)
class Logo:
    """The operator's logo, read once at start-up."""

    content: bytes
    content_type: str

    @property
    def url(self) -> str:
        """Its address, versioned by content, so a browser may cache it for good."""
        return f"{LOGO_PATH}?v={hashlib.sha256(self.content).hexdigest()[:16]}"

    @classmethod
    def load(cls, path: Path) -> Logo:
        """The logo in ``path``; ValueError naming the file when it cannot be one."""
        known = LOGO_TYPES.get(path.suffix.lower())
        if known is None:
            raise ValueError(f"the logo {path} must be a {', '.join(sorted(LOGO_TYPES))} file")
        content_type, starts = known
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the logo {path}: {exc.strerror or exc}") from exc
        if len(content) > LOGO_MAX_BYTES:
            raise ValueError(f"the logo {path} is larger than {LOGO_MAX_BYTES // 1024} KiB")
        if not content.lstrip().startswith(starts):
            raise ValueError(f"the logo {path} is not a {content_type} file")
        return cls(content, content_type)


def load_translations() -> None:
    """Load the pages' translations into Tornado's (process-wide) locale tables."""
    tornado.locale.load_translations(str(WEB_ROOT / "locale"))
    tornado.locale.set_default_locale(DEFAULT_LANGUAGE)


def page_settings() -> dict[str, Any]:
    """The Application settings the pages need."""
    return {
        "template_path": str(WEB_ROOT / "templates"),
        "static_path": str(WEB_ROOT / "static"),
        "static_handler_class": StaticFiles,
    }


class StaticFiles(LoginErrorHandler, StaticFileHandler):
    """``/static/``: Tornado's static files, but a path no file can have is a 404, and errors are our JSON.

    A NUL byte (``/static/login.js%00.png``) made the file system calls raise
    ValueError: a 500 with a traceback.
    """

    def parse_url_path(self, url_path: str) -> str:
        if "\x00" in url_path:
            raise HTTPError(404)
        return super().parse_url_path(url_path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = self._login_error(status_code, kwargs.get("exc_info"))
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_status(error.status_code)
        self.finish(json.dumps({"status": error.status_code, "error": error.error, "message": error.message}))


def page_routes(
    store: SessionStore,
    *,
    demo: bool = False,
    idle_codes: int = 5,
    branding: Branding = DEFAULT_BRANDING,
) -> list[URLSpec]:
    """Every page route: the login page, the phone page, its 404, and the logo (when there is one).

    Reads the logo file now, so a bad ``branding.logo_path`` fails at start-up
    with a ValueError naming it.  The application also needs `page_settings`
    and `load_translations`.
    """
    logo = Logo.load(branding.logo_path) if branding.logo_path is not None else None
    look = dict(branding=branding, logo=logo)
    routes = [
        url(r"/", LoginPageHandler, dict(idle_codes=idle_codes, **look)),
        url(r"/s/([0-9a-f]{32})", PhonePageHandler, dict(store=store, demo=demo, **look)),
        url(r"/s/.*", PageNotFoundHandler, look),
    ]
    if logo is not None:
        routes.append(url(re.escape(LOGO_PATH), LogoHandler, dict(logo=logo)))
    return routes


def browser_language(accept_language: str) -> str:
    """The language we speak that an Accept-Language header prefers most."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-quality, index, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break  # q=0: "not this one", and nothing after it is wanted either
        language, *subtags = tag.split("-")
        if language == "zh":
            return "zh_TW" if _traditional(subtags) else "zh_CN"
        if language == "en":
            return "en_US"
    return DEFAULT_LANGUAGE


def _traditional(subtags: list[str]) -> bool:
    if "hans" in subtags:
        return False
    return "hant" in subtags or not TRADITIONAL_REGIONS.isdisjoint(subtags)


class PageHandler(LoginErrorHandler):
    """HTML out with the pages' CSP, the person's language; failures become a page, never a dump.

    The headers every answer carries (nosniff, frame denial, referrer policy)
    come from handlers.security's transform, static files included.
    """

    branding: Branding = DEFAULT_BRANDING
    logo: Logo | None = None

    def initialize(self, branding: Branding = DEFAULT_BRANDING, logo: Logo | None = None) -> None:
        self.branding = branding
        self.logo = logo

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("Cache-Control", "no-store")

    def get_user_locale(self) -> tornado.locale.Locale:
        picked = self.get_query_argument("lang", None)
        if picked in LANGUAGES:
            self.set_cookie(LANG_COOKIE, picked, expires_days=LANG_COOKIE_DAYS, samesite="Lax", httponly=True)
            return tornado.locale.get(picked)
        remembered = self.get_cookie(LANG_COOKIE)
        if remembered in LANGUAGES:
            return tornado.locale.get(remembered)
        return tornado.locale.get(browser_language(self.request.headers.get("Accept-Language", "")))

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(
            _=self.translate,
            languages=LANGUAGES,
            html_lang=self.locale.code.replace("_", "-"),
            app_name=self.branding.app_name,
            logo_url=self.logo.url if self.logo else None,
            lang_query=self.lang_query(),
        )
        return namespace

    def lang_query(self) -> str:
        """The page's query without ``lang``, for the language links to keep (``a=1&b=2&``, or nothing)."""
        arguments = self.request.query_arguments
        kept = urlencode([(name, value) for name, values in arguments.items() if name != "lang" for value in values])
        return kept + "&" if kept else ""

    def render_kept(
        self,
        pages: PageCache,
        key: Hashable,
        template_name: str,
        values: Mapping[str, str],
        shared: Callable[[], Mapping[str, Any]],
    ) -> None:
        """Answers ``template_name`` as `render` would, from the rendering ``pages`` keeps for ``key`` (and the
        language) with this request's ``values`` put in.

        ``shared()`` gives the template's other arguments, which ``key`` must name.  Rendered afresh when
        templates are not cached (debug): they may change between requests.
        """

        def render(given: Mapping[str, str]) -> bytes:
            return self.render_string(template_name, **shared(), **given)

        if not self.settings.get("compiled_template_cache", True):
            self.finish(render(values))
            return
        self.finish(pages.page((self.locale.code, key), values, render))

    def translate(self, text: str) -> str:
        """``text`` in the person's language, with the product's name for ``{app}``."""
        return self.locale.translate(text).replace("{app}", self.branding.app_name)

    def texts(self, strings: dict[str, str]) -> dict[str, str]:
        """``strings`` in the person's language, for a page script."""
        return {key: self.translate(text) for key, text in strings.items()}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = self._login_error(status_code, kwargs.get("exc_info"))
        title, detail = ERROR_TEXTS.get(type(error), FAILURE_TEXT)
        self.clear_header("Retry-After")
        self.set_status(error.status_code)
        self.render("error.html", title=title, detail=detail)


class LoginPageHandler(PageHandler):
    """``GET /``: the PC's login page; login.js asks for a session and follows it."""

    def initialize(  # type: ignore[override]
        self, idle_codes: int, branding: Branding = DEFAULT_BRANDING, logo: Logo | None = None
    ) -> None:
        super().initialize(branding, logo)
        self.idle_codes = idle_codes

    def get(self) -> None:
        self.render(
            "login.html",
            texts=self.texts(LOGIN_TEXTS),
            idle_codes=self.idle_codes,
            after_login_url=self.branding.after_login_url or "",
        )


class PhonePageHandler(PageHandler):
    """``GET /s/<uuid>``: what the QR opens on the phone; phone.js scans, then confirms or denies.

    Who asks (the PC's IP, browser, time) comes from ``/scan``, which needs the
    app's credential, so the page shows it only to the app's user.
    """

    def initialize(  # type: ignore[override]
        self, store: SessionStore, demo: bool, branding: Branding = DEFAULT_BRANDING, logo: Logo | None = None
    ) -> None:
        super().initialize(branding, logo)
        self.store = store
        self.demo = demo

    async def get(self, uuid: str) -> None:
        view = await self.store.require(uuid)
        if not view.status.pending:
            raise InvalidTransition()
        self.render(
            "phone.html",
            uuid=uuid,
            demo=self.demo,
            demo_names=DEMO_NAMES,
            texts=self.texts(PHONE_TEXTS),
        )


class PageNotFoundHandler(PageHandler):
    """An HTML 404 for page-like paths, e.g. ``/s/<not a uuid>``."""

    def prepare(self) -> None:
        raise NotFound()


class LogoHandler(RequestHandler):
    """``GET /brand/logo``: the operator's logo, from memory, cacheable for a year (its URL is versioned)."""

    def initialize(self, logo: Logo) -> None:
        self.logo = logo

    def get(self) -> None:
        self.set_header("Content-Type", self.logo.content_type)
        self.set_header("Cache-Control", f"public, max-age={LOGO_MAX_AGE}, immutable")
        self.set_header("Content-Security-Policy", LOGO_CSP)
        self.write(self.logo.content)

    def head(self) -> None:
        self.set_header("Content-Type", self.logo.content_type)
        self.set_header("Content-Length", str(len(self.logo.content)))


__all__ = [
    "CSP",
    "DEFAULT_BRANDING",
    "LOGO_PATH",
    "Branding",
    "LoginPageHandler",
    "Logo",
    "PageNotFoundHandler",
    "PhonePageHandler",
    "StaticFiles",
    "browser_language",
    "load_translations",
    "page_routes",
    "page_settings",
]
