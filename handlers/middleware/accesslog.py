"""Per-request accounting: one structured log line, the request metrics, and the count in flight.

The log line is JSON with the method, the path without its query string,
the status, the duration, the client IP, the handler and the error code:
never a header, a body or a query, which is where credentials, cursors and
codes travel.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING

from tornado.locks import Event
from tornado.web import RequestHandler

from handlers.base import BaseHandler
from login.errors import RateLimited, StorageUnavailable
from runtime.metrics import Metrics

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

access_log = logging.getLogger("qrlogin.access")

#: the wire codes of every storage failure (the unreachable, full, read-only and unknown-outcome kinds)
STORAGE_ERROR_CODES = frozenset(
    [StorageUnavailable.error, *(kind.error for kind in StorageUnavailable.__subclasses__())]
)


#: longest path written to the log
MAX_LOGGED_PATH = 200


def _quoted(text: str | None) -> str:
    """``text`` as a JSON literal, as json.dumps writes it (ASCII, escaped)."""
    return "null" if text is None else encode_basestring_ascii(text)


def access_line(
    method: str | None, path: str, status: int, ms: float, ip: str | None, handler: str, error: str | None
) -> str:
    """The access log's JSON object, exactly as ``json.dumps(..., separators=(",", ":"))`` writes it.

    Built directly: the encoder's set-up per call costs more than the line.
    """
    line = (
        f'{{"method":{_quoted(method)},"path":{_quoted(path)},"status":{status:d},"ms":{float(ms)!r},'
        f'"ip":{_quoted(ip)},"handler":{_quoted(handler)}'
    )
    if error:
        return f'{line},"error":{_quoted(error)}}}'
    return line + "}"


class RequestLog:
    """The application's ``log_function``: called once per finished request."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        # The labelled children per (handler, status): labels() takes a lock and builds a key on every call.
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def _children_of(self, name: str, status: int) -> tuple[Counter, Histogram]:
        children = self._children.get((name, status))
        if children is None:
            metrics = self._metrics
            children = (metrics.requests.labels(name, str(status)), metrics.request_latency.labels(name))
            self._children[(name, status)] = children
        return children

    def __call__(self, handler: RequestHandler) -> None:
        request = handler.request
        status = handler.get_status()
        seconds = request.request_time()
        name = type(handler).__name__
        error = handler.error_code if isinstance(handler, BaseHandler) else None
        count, latency = self._children_of(name, status)
        count.inc()
        latency.observe(seconds)
        if error == RateLimited.error:
            self._metrics.rate_limited.labels(name).inc()
        elif error in STORAGE_ERROR_CODES:
            self._metrics.redis_errors.labels("request").inc()
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        if access_log.isEnabledFor(level):
            line = access_line(
                request.method,
                request.path[:MAX_LOGGED_PATH],
                status,
                round(seconds * 1000, 1),
                request.remote_ip,
                name,
                error,
            )
            access_log.log(level, "%s", line)


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
