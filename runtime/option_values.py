"""How each option's text is read: one parser per kind of value, each returning the value or raising a
ValueError saying why (``runtime.options`` names the parser of every option)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from handlers.branding import Logo
from redis_map.limit_rules import RateLimits

#: shortest --secret accepted: HS256 wants at least 256 bits of key
MIN_SECRET_LENGTH = 32


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r} must be more than 0 seconds")
    return value


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise ValueError(f"{value} is out of range ({low}..{high if high is not None else ''})")
        return value

    return parse


def http_url(text: str) -> str:
    if not text:
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http:// or https:// URL (with a host)")
    return text.rstrip("/")


def optional_http_url(text: str) -> str | None:
    return http_url(text) or None


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not true or false")


def choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return parse


def secret(text: str) -> str:
    if text and len(text) < MIN_SECRET_LENGTH:
        raise ValueError(f"is too short to sign with: give at least {MIN_SECRET_LENGTH} characters")
    return text


def pepper(text: str) -> str:
    if text and len(text) < MIN_SECRET_LENGTH:
        raise ValueError(f"is too short to key an HMAC with: give at least {MIN_SECRET_LENGTH} characters")
    return text


def rate_limits(text: str) -> RateLimits | None:
    return RateLimits.parse(text)


def logo(text: str) -> Path | None:
    if not text:
        return None
    Logo.load(Path(text))  # ValueError says why it cannot be the logo
    return Path(text)


def optional_port(text: str) -> int | None:
    return whole(0, 65535)(text) if text else None


def optional(text: str) -> str | None:
    return text or None
