"""The base of every JSON API handler: body parsing, typed fields, one error mapping."""

from __future__ import annotations

import json
import logging
import re
import time
from http.client import responses
from types import TracebackType
from typing import Any

from tornado.httputil import HTTPHeaders, format_timestamp
from tornado.web import HTTPError, RequestHandler, stream_request_body

from login.errors import (
    BodyTooLarge,
    InternalError,
    InvalidJSON,
    InvalidRequest,
    LoginError,
    MethodNotAllowed,
    NotFound,
    OriginNotAllowed,
)

log = logging.getLogger("qrlogin.api")

#: largest JSON body the API reads; every legitimate one is far smaller
MAX_JSON_BODY = 16 * 1024
#: longest credential we pass on to the auth server
MAX_CREDENTIAL = 8 * 1024

#: the compact JSON every answer is written in (one encoder: json.dumps would build one per call)
JSON_ENCODER = json.JSONEncoder(separators=(",", ":"))

_HTTP_ERRORS: dict[int, type[LoginError]] = {404: NotFound, 405: MethodNotAllowed, 413: BodyTooLarge}

ExcInfo = tuple[type[BaseException], BaseException, TracebackType]

_date: tuple[int, str] = (0, format_timestamp(0))


def http_date(now: float) -> str:
    """``now`` as an HTTP ``Date``, exactly as Tornado formats it, formatted once per second."""
    global _date
    second = int(now)
    if second != _date[0]:
        _date = (second, format_timestamp(second))
    return _date[1]


class LoginErrorHandler(RequestHandler):
    """Turns any failure into a LoginError for ``write_error``; logs LoginErrors as answers, not faults."""

    def clear(self) -> None:
        """Tornado's ``clear()`` (the default headers, then ``set_default_headers``), its ``Date`` formatted
        once a second rather than for every answer, and without its ``Server`` header: the server's name and
        version tell a client nothing it needs and a scanner what to try (``HttpPolicy.secure`` takes it off
        the answers of Tornado's own handlers)."""
        self._headers = HTTPHeaders({"Content-Type": "text/html; charset=UTF-8", "Date": http_date(time.time())})
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = responses[200]

    def compute_etag(self) -> str | None:
        """None for an answer that may not be stored (``no-store``: the API's default, every page): Tornado would
        hash every GET's body for an ``ETag``, which would invite a ``304`` such an answer must never get.  An
        answer a cache may keep (a QR image, the public OIDC documents, the logo) keeps Tornado's."""
        if "no-store" in self._headers.get("Cache-Control", ""):
            return None
        return super().compute_etag()

    def log_exception(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        # A LoginError is an answer, not a fault: one line, no traceback.
        if isinstance(value, LoginError):
            log.debug("%s %s -> %d %s", self.request.method, self.request.path, value.status_code, value.error)
            return
        super().log_exception(typ, value, tb)

    @staticmethod
    def _login_error(status_code: int, exc_info: ExcInfo | None) -> LoginError:
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, LoginError):
            return exc
        if isinstance(exc, HTTPError):
            status_code = exc.status_code
        known = _HTTP_ERRORS.get(status_code)
        if known is not None:
            return known()
        if 400 <= status_code < 500:
            error = InvalidRequest()
            error.status_code = status_code
            return error
        return InternalError()


@stream_request_body
class BaseHandler(LoginErrorHandler):
    """Reads JSON objects in, writes JSON out; every failure becomes ``{"error", "message"}``.

    The body is streamed so an oversized one is refused with a JSON 413 as soon
    as its Content-Length is seen, without buffering it.
    """

    #: the wire code of the error answered, if any (for the access log)
    error_code: str | None = None

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._body_size = 0
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdecimal() and int(length) > MAX_JSON_BODY:
            raise BodyTooLarge()

    def data_received(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size <= MAX_JSON_BODY:
            self._chunks.append(chunk)

    # -- reading the request ---------------------------------------------------

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body is an empty object."""
        if self._body_size > MAX_JSON_BODY:
            raise BodyTooLarge()
        raw = b"".join(self._chunks)
        self._chunks.clear()  # read once; a parked /wait need not keep its body
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise InvalidJSON() from exc
        if not isinstance(body, dict):
            raise InvalidJSON()
        return body

    @staticmethod
    def str_field(body: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
        """A required string field, matching ``pattern`` if given."""
        value = body.get(name)
        if value is None:
            raise InvalidRequest(f"'{name}' is required.")
        if not isinstance(value, str):
            raise InvalidRequest(f"'{name}' must be a string.")
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidRequest(f"'{name}' is malformed.")
        return value

    @staticmethod
    def int_field(body: dict[str, Any], name: str, default: int, allowed: range) -> int:
        """An optional integer field within ``allowed``."""
        value = body.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequest(f"'{name}' must be an integer.")
        if value not in allowed:
            raise InvalidRequest(f"'{name}' must be between {allowed.start} and {allowed.stop - 1}.")
        return value

    def options(self, *args: str) -> None:
        """A CORS preflight: 204 for an allowed origin (handlers.security adds the headers), else 403."""
        policy = self.settings.get("http_policy")
        if policy is None or not policy.allows(self.request.headers.get("Origin")):
            raise OriginNotAllowed()
        self.set_status(204)
        self.finish()

    def write_json(self, payload: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.finish(JSON_ENCODER.encode(payload))

    # -- the one place errors become HTTP --------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = self._login_error(status_code, kwargs.get("exc_info"))
        self.clear_header("Retry-After")
        if error.retry_after is not None:
            self.set_header("Retry-After", str(error.retry_after))
        self.error_code = error.error
        self.set_status(error.status_code)
        self.write_json(
            {"status": error.status_code, "error": error.error, "message": error.message}, error.status_code
        )


class NotFoundHandler(BaseHandler):
    """Every unknown path: a JSON 404, whatever the method."""

    def prepare(self) -> None:
        raise NotFound()
