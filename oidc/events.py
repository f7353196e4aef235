"""What the provider did: counted in the metrics, and every code, token, refresh, revocation and reuse audited.

A failing audit write never fails the request: the login or the token it
records has happened (as ``login.events`` does for logins).
"""

from __future__ import annotations

import enum
import logging
from typing import Protocol

from prometheus_client import Counter

from login.errors import StorageUnavailable
from runtime.metrics import Metrics

log = logging.getLogger("qrlogin.audit")


class Event(enum.StrEnum):
    """The audited events (the audit stream's ``outcome``)."""

    CODE_ISSUED = "code_issued"
    TOKEN_ISSUED = "token_issued"  # a code redeemed
    TOKEN_REFRESHED = "token_refreshed"
    TOKEN_REVOKED = "token_revoked"
    CODE_REUSED = "code_reused"  # a second use of a code: its grant revoked
    REFRESH_REUSED = "refresh_reused"  # a rotated refresh token presented: its family revoked


class Authorization(enum.StrEnum):
    """How an authorization request ended (the metric's ``outcome``)."""

    PAGE = "page"  # checked, the login page served
    REFUSED = "refused"  # unknown client or redirect URI: our error page
    ERROR = "error"  # any other error, sent back to the client (prompt=none among them)
    CODE = "code"  # confirmed: back to the client with a code
    DENIED = "denied"  # denied on the phone: back with access_denied


class Audit(Protocol):
    async def record(self, event: str, **details: str) -> None: ...


class ProviderEvents:
    """Counts and audits the provider's events."""

    def __init__(self, metrics: Metrics, audit: Audit | None = None) -> None:
        self.metrics = metrics
        self.audit = audit
        self.authorizations = Counter(
            "qrlogin_oidc_authorizations", "Authorization requests by outcome", ["outcome"], registry=metrics.registry
        )
        self.tokens = Counter(
            "qrlogin_oidc_tokens",
            "Tokens issued by the token endpoint, by grant type",
            ["grant"],
            registry=metrics.registry,
        )
        self.events = Counter(
            "qrlogin_oidc_events", "Audited provider events (revocations, reuse)", ["event"], registry=metrics.registry
        )

    def authorization(self, outcome: Authorization) -> None:
        self.authorizations.labels(outcome).inc()

    def token(self, grant_type: str) -> None:
        self.tokens.labels(grant_type).inc()

    async def record(self, event: Event, *, written: bool = False, **details: str) -> None:
        """Counts ``event`` and appends it to the audit stream, unless the change's own script ``written`` it."""
        self.events.labels(event).inc()
        if self.audit is None or written:
            return
        try:
            await self.audit.record(event, **details)
        except StorageUnavailable:
            self.metrics.redis_errors.labels("audit").inc()
            log.warning("audit write failed: Redis unreachable")
