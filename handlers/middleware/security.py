"""Security headers on every answer, and CORS for the configured origins only.

Both are applied by an output transform (``handlers.middleware.answers``),
which Tornado applies to every answer of the application (our handlers,
error pages, any handler added later), so no handler can forget them.  A
handler that serves a page sets its own ``Content-Security-Policy``; the
transform only fills in what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado.httputil import HTTPHeaders

#: the policy of every answer that sets none: the API's JSON and images need nothing
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: headers every answer carries (frame denial: no phishing site may frame the login page)
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: methods and request headers an allowed origin may use
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"
#: how long a browser may cache a preflight answer
CORS_MAX_AGE = 600


def parse_origins(text: str) -> frozenset[str]:
    """``"https://a.example, https://b.example:8443"`` as origins; ValueError on anything else."""
    origins = set()
    for item in text.split(","):
        item = item.strip().rstrip("/")
        if not item:
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValueError(f"a CORS origin is scheme://host[:port], not {item!r} ('*' is not allowed)")
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(origins)


@dataclass(frozen=True)
class HttpPolicy:
    """What every answer must carry: the default CSP and the origins allowed cross-origin."""

    cors_origins: frozenset[str] = frozenset()
    csp: str = API_CSP

    @classmethod
    def of(cls, origins: Iterable[str] = ()) -> HttpPolicy:
        return cls(cors_origins=frozenset(o.lower() for o in origins))

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin.lower() in self.cors_origins

    def secure(self, headers: HTTPHeaders, origin: str | None, preflight: bool) -> None:
        """Adds to an answer's ``headers`` what it must carry: a page's own CSP is kept, CORS only for ``origin``
        when allowed (with the preflight's headers when ``preflight``); takes off the ``Server`` header."""
        if "Server" in headers:  # Tornado's own clear() sets it (the WebSocket handshake, the logo); ours does not
            del headers["Server"]
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = self.csp
        for name, value in FIXED_HEADERS.items():
            headers[name] = value
        if not self.cors_origins:
            return
        if self.allows(origin):
            assert origin is not None
            headers["Access-Control-Allow-Origin"] = origin
            if preflight:
                headers["Access-Control-Allow-Methods"] = CORS_METHODS
                headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
        # The answer depends on Origin: caches must not share it across origins.
        headers.add("Vary", "Origin")


__all__ = ["API_CSP", "HttpPolicy", "parse_origins"]
