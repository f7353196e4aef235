"""Per-request accounting: one structured log line, the request metrics, and the count in flight.

The log line is JSON with the method, the path without its query string,
the status, the duration, the client IP, the handler and the error code:
never a header, a body or a query, which is where credentials, cursors and
codes travel.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from tornado.httputil import HTTPHeaders, HTTPServerRequest
from tornado.locks import Event
from tornado.web import OutputTransform, RequestHandler

from handlers.base import BaseHandler
from login.errors import RateLimited, StorageUnavailable
from runtime.metrics import Metrics

access_log = logging.getLogger("qrlogin.access")

#: the wire codes of every storage failure (the unreachable, full, read-only and unknown-outcome kinds)
STORAGE_ERROR_CODES = frozenset(
    [StorageUnavailable.error, *(kind.error for kind in StorageUnavailable.__subclasses__())]
)


#: longest path written to the log
MAX_LOGGED_PATH = 200


class RequestLog:
    """The application's ``log_function``: called once per finished request."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __call__(self, handler: RequestHandler) -> None:
        request = handler.request
        status = handler.get_status()
        seconds = request.request_time()
        name = type(handler).__name__
        error = handler.error_code if isinstance(handler, BaseHandler) else None
        self._metrics.requests.labels(name, str(status)).inc()
        self._metrics.request_latency.labels(name).observe(seconds)
        if error == RateLimited.error:
            self._metrics.rate_limited.labels(name).inc()
        elif error in STORAGE_ERROR_CODES:
            self._metrics.redis_errors.labels("request").inc()
        record = {
            "method": request.method,
            "path": request.path[:MAX_LOGGED_PATH],
            "status": status,
            "ms": round(seconds * 1000, 1),
            "ip": request.remote_ip,
            "handler": name,
        }
        if error:
            record["error"] = error
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        access_log.log(level, "%s", json.dumps(record, separators=(",", ":")))


class InFlight:
    """Counts requests between the start of their handler and their last byte, for a graceful stop."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = Event()
        self._idle.set()

    def started(self) -> None:
        self.count += 1
        self._idle.clear()

    def finished(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if some still are after ``timeout`` seconds."""
        try:
            await self._idle.wait(timeout=timedelta(seconds=timeout))
        except TimeoutError:
            return False
        return True

    def transform(self) -> type[OutputTransform]:
        """An output transform class counting requests on this tracker.

        Tornado makes one transform per request as its handler starts, and the
        last chunk of every answer passes through it with ``finishing`` set.
        """
        tracker = self

        class CountInFlight(OutputTransform):
            def __init__(self, request: HTTPServerRequest) -> None:
                super().__init__(request)
                self._open = True
                tracker.started()

            def transform_first_chunk(
                self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
            ) -> tuple[int, HTTPHeaders, bytes]:
                self._end(finishing)
                return status_code, headers, chunk

            def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
                self._end(finishing)
                return chunk

            def _end(self, finishing: bool) -> None:
                if finishing and self._open:
                    self._open = False
                    tracker.finished()

        return CountInFlight
