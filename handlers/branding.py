"""The operator's product name and logo on the pages (`Branding`), the logo read once at start-up (`Logo`), and
its handler serving it from memory at ``/brand/logo``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tornado.web import RequestHandler

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


__all__ = ["DEFAULT_BRANDING", "LOGO_PATH", "Branding", "Logo", "LogoHandler"]
