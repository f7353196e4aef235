"""The base of the provider's endpoints: OAuth-shaped errors, written in one place.

Every failure, ours or the login flow's (``oidc.errors.as_oauth_error``), is
answered ``{"error", "error_description"}`` with the status its class names,
``WWW-Authenticate`` when it has a challenge, ``Retry-After`` when it has a
wait, and ``Cache-Control: no-store`` (RFC 6749 §5.1) on every answer.
"""

from __future__ import annotations

from typing import Any

from tornado.httputil import HTTPServerRequest

from handlers.base import MAX_JSON_BODY, BaseHandler
from handlers.session import public_base
from login.errors import BodyTooLarge
from oidc.errors import as_oauth_error
from oidc.grants.form import Form
from oidc.provider import Provider


def issuer_of(provider: Provider, request: HTTPServerRequest) -> str:
    """The issuer URL: configured, else the URL ``request`` reached (its Host checked, as for the QR)."""
    return provider.issuer or public_base(None, request)


class OAuthHandler(BaseHandler):
    """JSON out, OAuth errors; ``self.provider`` holds the provider's parts."""

    def initialize(self, provider: Provider) -> None:
        self.provider = provider

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Pragma", "no-cache")

    def issuer(self) -> str:
        return issuer_of(self.provider, self.request)

    def form(self) -> Form:
        """The body as a form (RFC 6749 §3.2: ``application/x-www-form-urlencoded``, each parameter once)."""
        if self._body_size > MAX_JSON_BODY:
            raise BodyTooLarge()
        raw = b"".join(self._chunks)
        self._chunks.clear()
        return Form.parse(self.request.headers.get("Content-Type", ""), raw)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = as_oauth_error(self._login_error(status_code, kwargs.get("exc_info")))
        for header in ("Retry-After", "WWW-Authenticate", "Access-Control-Allow-Origin"):
            self.clear_header(header)
        if error.retry_after is not None:
            self.set_header("Retry-After", str(error.retry_after))
        if error.challenge is not None:
            self.set_header("WWW-Authenticate", error.challenge)
        self.set_header("Cache-Control", "no-store")
        self.error_code = error.error
        self.write_json({"error": error.error, "error_description": error.message}, error.status_code)
