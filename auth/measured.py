"""An Authenticator that times every check and counts its failures."""

from __future__ import annotations

import time

from auth import Authenticator
from login.errors import LoginError
from login.models import Identity
from runtime.metrics import Metrics


class MeasuredAuthenticator:
    """Wraps another Authenticator; same contract, plus metrics."""

    def __init__(self, inner: Authenticator, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def identify(self, authorization: str) -> Identity:
        started = time.perf_counter()
        try:
            return await self._inner.identify(authorization)
        except LoginError as exc:
            self._metrics.auth_failures.labels(exc.error).inc()
            raise
        finally:
            self._metrics.auth_latency.observe(time.perf_counter() - started)

    def close(self) -> None:
        self._inner.close()
