"""What happened to logins: counted in the metrics and appended to the audit stream."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from login.errors import StorageUnavailable
from login.models import Outcome as Outcome  # re-exported: where the domain names it
from redis_map.audit import AuditLog
from runtime.metrics import Metrics

log = logging.getLogger("qrlogin.audit")


class LoginEvents:
    """Records session starts and outcomes; a failing audit write never fails the login itself."""

    def __init__(self, metrics: Metrics, audit: AuditLog | None = None, *, code_ttl: float = 60.0) -> None:
        self.metrics = metrics
        self.audit = audit
        self._code_ttl = code_ttl

    async def opened(self, uuid: str, ttl: float, *, written: bool = False) -> None:
        """A new session, watched for expiry unless the store's script creating it ``written`` its deadline."""
        self.metrics.sessions.labels("created").inc()
        if self.audit is not None and not written:
            await self._quietly(self.audit.opened(uuid, ttl))

    async def outcome(
        self, outcome: Outcome, uuid: str, *, user: str = "", ip: str = "", written: bool = False
    ) -> None:
        """A session's outcome (``expired`` comes from the sweep, through ``expired()``); appended to the audit
        stream unless the store's script making the change ``written`` it."""
        self.metrics.sessions.labels(outcome).inc()
        if self.audit is None or written:
            return
        # A confirm gives the session a new TTL: its expiry is due then.
        expires_in = self._code_ttl if outcome is Outcome.CONFIRMED else None
        await self._quietly(self.audit.record(outcome, uuid, expires_in=expires_in, user=user, ip=ip))

    def expired(self, count: int) -> None:
        """The sweep's callback: ``count`` sessions expired."""
        self.metrics.sessions.labels(Outcome.EXPIRED).inc(count)

    async def _quietly(self, write: Awaitable[None]) -> None:
        try:
            await write
        except StorageUnavailable:
            self.metrics.redis_errors.labels("audit").inc()
            log.warning("audit write failed: Redis unreachable")
