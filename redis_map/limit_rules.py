"""The abuse limits' values (``--rate-limit``): ``Rate`` and ``RateLimits``, parsed from their text."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests per ``period`` seconds."""

    count: int
    period: float = 60.0

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"120/60"`` (count/seconds) or ``"120"`` (per minute)."""
        count, _, period = text.partition("/")
        rate = cls(int(count), float(period) if period else 60.0)
        if rate.count < 1 or rate.period <= 0:
            raise ValueError(f"a rate needs a count >= 1 and a period > 0, not {text!r}")
        return rate


@dataclass(frozen=True)
class RateLimits:
    """The limits; the defaults are far above what a person does, even behind a shared NAT."""

    #: ``POST /uuid`` per client IP (a login page asks once per QR, every couple of minutes)
    uuid_ip: Rate = Rate(120, 60)
    #: ``/scan``, ``/confirm``, ``/cancel`` per client IP, counted before the auth check
    action_ip: Rate = Rate(300, 60)
    #: the same per user, counted once the auth server named them
    action_user: Rate = Rate(60, 60)
    #: QR images rendered (not served from the cache) per client IP: a login page needs one per code
    qr_ip: Rate = Rate(60, 60)
    #: ``/wait`` parked at once on one session (one page polls; a few tabs or retries at most)
    wait_session: int = 5
    #: ``/wait`` parked at once from one client IP
    wait_ip: int = 500

    @classmethod
    def parse(cls, spec: str) -> RateLimits | None:
        """``"off"``: None; ``"on"`` or ``""``: the defaults; else ``"uuid_ip=30/60,wait_ip=50"`` overrides."""
        spec = spec.strip()
        if spec == "off":
            return None
        if spec in ("", "on"):
            return cls()
        overrides: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for item in spec.split(","):
            name, _, value = item.strip().partition("=")
            if name not in known or not value:
                raise ValueError(f"unknown rate limit {item.strip()!r}; known: {', '.join(sorted(known))}")
            if name.startswith("wait_"):
                cap = int(value)
                if cap < 1:
                    raise ValueError(f"rate limit {name} must be >= 1")
                overrides[name] = cap
            else:
                overrides[name] = Rate.parse(value)
        return cls(**overrides)
