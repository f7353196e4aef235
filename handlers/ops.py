"""Operations endpoints: ``/healthz`` (alive), ``/readyz`` (can serve), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from tornado.web import Application, url

from handlers.base import BaseHandler, NotFoundHandler
from login.errors import StorageUnavailable
from redis_map import ChangeListener, SessionStore
from runtime.metrics import CONTENT_TYPE, Metrics
from runtime.shutdown import Shutdown

#: how long a reachability answer is reused, so /readyz polled every second stays cheap
REACHABILITY_CACHE = 5.0
#: how long a connection attempt may take: a reachable server on the network accepts in milliseconds
REACHABILITY_TIMEOUT = 2.0


class Reachability:
    """Whether a server (the auth server) accepts TCP connections on its URL's host and port.

    A connection opened and closed, not a request: cheap for both sides, and
    it says what /readyz needs to know (the auth server is there).  The answer
    is cached for REACHABILITY_CACHE seconds; callers meanwhile share one attempt.
    """

    def __init__(self, url: str, *, timeout: float = REACHABILITY_TIMEOUT, cache_for: float = REACHABILITY_CACHE):
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.timeout = timeout
        self.cache_for = cache_for
        #: why the last attempt failed ("" once it succeeded)
        self.reason = ""
        self._checked_at = -cache_for
        self._reachable = False
        self._attempt: asyncio.Task[bool] | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def reachable(self) -> bool:
        """Whether the server accepted a connection, at most ``cache_for`` seconds ago."""
        if time.monotonic() - self._checked_at < self.cache_for:
            return self._reachable
        if self._attempt is None:
            self._attempt = asyncio.ensure_future(self._connect())
        attempt = self._attempt
        try:
            return await asyncio.shield(attempt)
        finally:
            if attempt.done() and self._attempt is attempt:
                self._attempt = None

    async def _connect(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(self.host, self.port)
            writer.close()
            self.reason, self._reachable = "", True
        except TimeoutError:
            self.reason, self._reachable = f"no answer within {self.timeout:g}s", False
        except OSError as exc:
            self.reason, self._reachable = exc.strerror or str(exc), False
        self._checked_at = time.monotonic()
        return self._reachable


class HealthHandler(BaseHandler):
    """The process is alive and its event loop turns."""

    def get(self) -> None:
        self.write_json({"status": "ok"})


class ReadyHandler(BaseHandler):
    """200 when this instance can serve logins: Redis accepts writes, the change subscription is up, the auth
    server accepts connections (unless in demo mode), not stopping.

    503 otherwise, with ``checks`` saying which failed and ``failures`` why
    (for Redis, the error code its requests get: ``storage_full``,
    ``storage_read_only``, ``storage_unavailable``; for the auth server,
    ``unreachable``).
    """

    def initialize(
        self,
        store: SessionStore,
        shutdown: Shutdown,
        listener: ChangeListener | None,
        auth: Reachability | None = None,
    ) -> None:
        self.store = store
        self.shutdown = shutdown
        self.listener = listener
        self.auth = auth

    async def get(self) -> None:
        checks = {"redis": True, "pubsub": True, "accepting": not self.shutdown.closing}
        failures: dict[str, str] = {}
        try:
            # A write, not a PING: a full or read-only Redis still answers PING
            # while every login fails.
            await self.store.check_writes()
        except StorageUnavailable as exc:
            checks["redis"] = False
            failures["redis"] = exc.error
        if self.listener is not None:
            checks["pubsub"] = self.listener.connected
        if not checks["pubsub"]:
            failures["pubsub"] = "not_subscribed"
        if self.auth is not None:
            checks["auth"] = await self.auth.reachable()
            if not checks["auth"]:
                failures["auth"] = "unreachable"
        if not checks["accepting"]:
            failures["accepting"] = "stopping"
        ready = all(checks.values())
        answer = {"status": "ready" if ready else "unavailable", "checks": checks, "failures": failures}
        self.write_json(answer, 200 if ready else 503)


class MetricsHandler(BaseHandler):
    """The Prometheus text exposition; in multiprocess mode, of every process."""

    def initialize(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.metrics.exposition())


def metrics_app(metrics: Metrics) -> Application:
    """``/metrics`` alone, for its own port (``--metrics-port``); any other path is a JSON 404."""
    return Application([url(r"/metrics", MetricsHandler, dict(metrics=metrics))], default_handler_class=NotFoundHandler)
