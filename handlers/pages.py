"""The pages people see: the PC's login page ``/`` and the phone's confirm page ``/s/<uuid>``.

Server-rendered HTML with autoescaping; the behaviour lives in static scripts
(no inline script: the CSP forbids it) that call the JSON API.  Pages speak
English, Simplified or Traditional Chinese, picked by ``?lang=``, then a
cookie, then Accept-Language (``handlers.translations``).  The operator's
product name and logo (``handlers.branding``) are on both pages;
``handlers.page_routes`` gives every page route.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any
from urllib.parse import urlencode

import tornado.locale

from handlers.base import LoginErrorHandler
from handlers.branding import DEFAULT_BRANDING, Branding, Logo
from handlers.page_cache import PageCache
from handlers.translations import ERROR_TEXTS, FAILURE_TEXT, LANGUAGES, LOGIN_TEXTS, PHONE_TEXTS, browser_language
from login.errors import InvalidTransition, NotFound
from redis_map import SessionStore

#: every page's Content-Security-Policy: our own scripts and styles only, images also from https
CSP = "default-src 'self'; img-src 'self' data: https:; script-src 'self'; style-src 'self'; frame-ancestors 'none'"
#: the cookie that remembers a language picked on a page
LANG_COOKIE = "lang"
#: days the language cookie lasts
LANG_COOKIE_DAYS = 365
#: the identities the phone page offers in demo mode
DEMO_NAMES = ("alice", "bob", "张伟")


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


__all__ = ["CSP", "DEMO_NAMES", "LoginPageHandler", "PageHandler", "PageNotFoundHandler", "PhonePageHandler"]
