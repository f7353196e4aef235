"""The pages people see: the PC's login page ``/`` and the phone's confirm page ``/s/<uuid>``.

Server-rendered HTML with autoescaping; the behaviour lives in static scripts
(no inline script: the CSP forbids it) that call the JSON API.  Pages speak
English or Chinese, picked by ``?lang=``, then a cookie, then Accept-Language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tornado.locale

from handlers.base import LoginErrorHandler
from login.errors import InvalidTransition, LoginError, NotFound, SessionNotFound, StorageUnavailable
from redis_map import SessionStore

#: where the templates, static files and translations are
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
#: every page's Content-Security-Policy: our own scripts and styles only, images also from https
CSP = "default-src 'self'; img-src 'self' data: https:; script-src 'self'; style-src 'self'; frame-ancestors 'none'"
#: the languages the pages speak: locale code -> its name in that language
LANGUAGES = {"en_US": "English", "zh_CN": "中文"}
#: the cookie that remembers a language picked on a page
LANG_COOKIE = "lang"
#: days the language cookie lasts
LANG_COOKIE_DAYS = 365
#: the identities the phone page offers in demo mode
DEMO_NAMES = ("alice", "bob", "张伟")

#: the strings login.js shows; keys are what the script asks for, values are translated per request
LOGIN_TEXTS = {
    "waiting": "Open the app and scan this code to log in.",
    "expires_in": "Expires in {time}",
    "expired": "This code has expired. Getting a new one…",
    "scanned": "Scanned by {name}",
    "confirm_on_phone": "Confirm the login on your phone.",
    "logging_in": "Logging in…",
    "logged_in": "Logged in as {name}",
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
    "unknown": "unknown",
    "confirmed": "Done: you are logged in on the computer.",
    "denied": "Login cancelled. Nobody was logged in.",
    "session_not_found": "This code has expired. Ask for a new code on the computer and scan it again.",
    "invalid_state": "This code was already used or cancelled.",
    "user_mismatch": "This code was scanned by another account.",
    "invalid_token": "Your sign-in was not accepted. Open the link again from the app.",
    "missing_credential": "Open this link with the app to log in.",
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


def load_translations() -> None:
    """Load the pages' translations into Tornado's (process-wide) locale tables."""
    tornado.locale.load_translations(str(WEB_ROOT / "locale"))
    tornado.locale.set_default_locale("en_US")


def page_settings() -> dict[str, Any]:
    """The Application settings the pages need."""
    return {
        "template_path": str(WEB_ROOT / "templates"),
        "static_path": str(WEB_ROOT / "static"),
    }


class PageHandler(LoginErrorHandler):
    """HTML out with the pages' CSP, the person's language; failures become a page, never a dump.

    The headers every answer carries (nosniff, frame denial, referrer policy)
    come from handlers.security's transform, static files included.
    """

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("Cache-Control", "no-store")

    def get_user_locale(self) -> tornado.locale.Locale | None:
        picked = self.get_query_argument("lang", None)
        if picked in LANGUAGES:
            self.set_cookie(LANG_COOKIE, picked, expires_days=LANG_COOKIE_DAYS, samesite="Lax", httponly=True)
            return tornado.locale.get(picked)
        remembered = self.get_cookie(LANG_COOKIE)
        if remembered in LANGUAGES:
            return tornado.locale.get(remembered)
        return None  # Tornado then reads Accept-Language

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(languages=LANGUAGES, html_lang=self.locale.code.replace("_", "-"))
        return namespace

    def texts(self, strings: dict[str, str]) -> dict[str, str]:
        """``strings`` in the person's language, for a page script."""
        return {key: self.locale.translate(text) for key, text in strings.items()}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = self._login_error(status_code, kwargs.get("exc_info"))
        title, detail = ERROR_TEXTS.get(type(error), FAILURE_TEXT)
        self.clear_header("Retry-After")
        self.set_status(error.status_code)
        self.render("error.html", title=title, detail=detail)


class LoginPageHandler(PageHandler):
    """``GET /``: the PC's login page; login.js asks for a session and follows it."""

    def initialize(self, idle_codes: int) -> None:
        self.idle_codes = idle_codes

    def get(self) -> None:
        self.render("login.html", texts=self.texts(LOGIN_TEXTS), idle_codes=self.idle_codes)


class PhonePageHandler(PageHandler):
    """``GET /s/<uuid>``: what the QR opens on the phone; phone.js scans, then confirms or denies.

    Who asks (the PC's IP, browser, time) comes from ``/scan``, which needs the
    app's credential, so the page shows it only to the app's user.
    """

    def initialize(self, store: SessionStore, demo: bool) -> None:
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
