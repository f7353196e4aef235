"""The one output transform every answer passes through: the security headers and the count in flight.

Tornado makes one transform object per request as its handler starts, and
the last chunk of every answer passes through it with ``finishing`` set; one
object doing both jobs instead of one each halves that per-request work.
"""

from __future__ import annotations

from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.web import OutputTransform

from handlers.middleware.accesslog import InFlight
from handlers.middleware.security import HttpPolicy


def answer_transform(policy: HttpPolicy, in_flight: InFlight) -> type[OutputTransform]:
    """An output transform class applying ``policy`` to every answer and counting it on ``in_flight``."""
    cors = bool(policy.cors_origins)

    class Answer(OutputTransform):
        def __init__(self, request: HTTPServerRequest) -> None:
            super().__init__(request)
            self._open = True
            # Without CORS origins no answer depends on the request's Origin: not even read then.
            self._origin = request.headers.get("Origin") if cors else None
            self._preflight = (
                cors and request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
            )
            in_flight.started()

        def transform_first_chunk(
            self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
        ) -> tuple[int, HTTPHeaders, bytes]:
            policy.secure(headers, self._origin, self._preflight)
            if finishing:
                self._end()
            return status_code, headers, chunk

        def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
            if finishing:
                self._end()
            return chunk

        def _end(self) -> None:
            if self._open:
                self._open = False
                in_flight.finished()

    return Answer


__all__ = ["answer_transform"]
