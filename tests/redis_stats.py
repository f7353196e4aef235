"""What a test's own Redis says it has run: for tests that count round trips."""

from __future__ import annotations

from typing import Any


async def command_calls(redis: Any, *commands: str) -> int:
    """How many times Redis has run ``commands`` in all (its own count, INFO commandstats; a script's inner calls
    count under their own names)."""
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{command}", {}).get("calls", 0)) for command in commands)
