"""What an application needs for the pages: their routes, its settings (templates, static files and their
handler), and the translations loaded."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import tornado.locale
from tornado.routing import URLSpec
from tornado.web import HTTPError, StaticFileHandler, url

from handlers.base import LoginErrorHandler
from handlers.branding import DEFAULT_BRANDING, LOGO_PATH, Branding, Logo, LogoHandler
from handlers.pages import LoginPageHandler, PageNotFoundHandler, PhonePageHandler
from handlers.translations import DEFAULT_LANGUAGE
from redis_map import SessionStore

#: where the templates, static files and translations are
WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


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


__all__ = ["WEB_ROOT", "StaticFiles", "load_translations", "page_routes", "page_settings"]
