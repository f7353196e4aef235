"""Operations endpoints: ``/healthz`` (alive), ``/readyz`` (can serve), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from handlers.base import BaseHandler
from login.errors import StorageUnavailable
from redis_map import ChangeListener, SessionStore
from runtime.metrics import CONTENT_TYPE, Metrics
from runtime.shutdown import Shutdown


class HealthHandler(BaseHandler):
    """The process is alive and its event loop turns."""

    def get(self) -> None:
        self.write_json({"status": "ok"})


class ReadyHandler(BaseHandler):
    """200 when this instance can serve logins: Redis accepts writes, the change subscription is up, not stopping.

    503 otherwise, with ``checks`` saying which failed and ``failures`` why
    (for Redis, the error code its requests get: ``storage_full``,
    ``storage_read_only``, ``storage_unavailable``).
    """

    def initialize(self, store: SessionStore, shutdown: Shutdown, listener: ChangeListener | None) -> None:
        self.store = store
        self.shutdown = shutdown
        self.listener = listener

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
