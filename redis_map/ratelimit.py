"""Abuse limits kept in Redis, so they hold across processes and machines.

Two kinds, each one Lua call on one key (so Redis Cluster serves them too),
each key under ``<namespace>:rl:`` and always with a TTL:

- request rates: a fixed-window counter per rule and client (``INCR``, and
  ``PEXPIRE`` when the window opens);
- concurrent long-polls: a sorted set of holders scored by when their slot
  lapses, so a process that dies while holding slots leaks none for longer
  than one wait.

Clients are named in keys by a hash, never by their IP or user id. This module holds the limiter
(``RateLimiter``, ``RateCount``); the limits' values are in ``limit_rules.py``, a ``/wait``'s slots in
``wait_slots.py``, the Lua functions in ``limit_scripts.py``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from login.errors import RateLimited, StorageUnavailable
from redis_map.batch import in_one_trip
from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace, client_tag
from redis_map.limit_rules import Rate, RateLimits
from redis_map.limit_scripts import RATE_HIT_SCRIPT, SLOT_TAKE_LUA
from redis_map.wait_slots import UNLIMITED_SLOTS, WaitSlots

_SCRIPTS = resources.files(__package__) / "scripts"

#: how much longer than the longest wait a slot is held if never released
SLOT_SLACK = 10.0


@dataclass(frozen=True, slots=True)
class RateCount:
    """One request to count on a rule's counter for one client: in the script of the step it guards (``rate_hit``
    of RATE_HIT_LUA, then ``refused(ms)`` if it answered non-zero), or on its own by ``check()`` (a Cluster, where
    the counter is in another slot than the step's key)."""

    key: str
    window_ms: int
    limit: int
    check: Callable[[], Awaitable[None]]

    @staticmethod
    def refused(wait_ms: int) -> RateLimited:
        return RateLimited(wait_ms / 1000)


class RateLimiter:
    """Checks the limits; raises RateLimited (429) past one.  ``limits=None``: no limits, no Redis calls."""

    def __init__(
        self,
        redis: RedisClient | None,
        *,
        namespace: str = "qrlogin",
        limits: RateLimits | None = None,
        wait_timeout: float = 25.0,
    ) -> None:
        self.limits = limits if redis is not None else None
        self._redis = redis
        self._keys = KeySpace(namespace)
        #: how long a /wait slot lives if its holder never releases it
        self.slot_hold = wait_timeout + SLOT_SLACK
        if redis is not None:
            self._hit = Script(redis, RATE_HIT_SCRIPT)
            self._acquire = Script(redis, SLOT_TAKE_LUA + (_SCRIPTS / "slot_acquire.lua").read_text())

    @classmethod
    def off(cls) -> RateLimiter:
        return cls(None)

    def session_request(self, ip: str) -> RateCount | None:
        """One ``POST /uuid`` from ``ip``, counted by the script creating its session; None: no limits."""
        return None if self.limits is None else self._counted("uuid_ip", self.limits.uuid_ip, ip)

    def user_action(self, sub: str) -> RateCount | None:
        """One app action by the user ``sub``, counted by its transition's script; None: no limits."""
        return None if self.limits is None else self._counted("action_user", self.limits.action_user, sub)

    def qr_render(self, ip: str) -> RateCount | None:
        """One QR image rendered for ``ip``, counted by the script reading its session; None: no limits."""
        return None if self.limits is None else self._counted("qr_ip", self.limits.qr_ip, ip)

    async def check_qr_render(self, ip: str) -> None:
        """One QR image rendered for ``ip``, counted on its own (one served from the cache is free)."""
        count = self.qr_render(ip)
        if count is not None:
            await count.check()

    async def check_action(self, ip: str) -> None:
        """One app action from ``ip``, before its credential is checked."""
        if self.limits is not None:
            await self._count("action_ip", self.limits.action_ip, ip)

    def wait_slots(self, ip: str) -> WaitSlots:
        """The slots one ``/wait`` holds: its client IP's on entry, its session's on :meth:`WaitSlots.admit`."""
        if self.limits is None:
            return UNLIMITED_SLOTS  # shared: a parked waiter then carries nothing for the limits
        return WaitSlots(self, self.limits, ip)

    def key(self, rule: str, tag: str) -> str:
        """The key of one rule for one client or session; ``tag`` is its Cluster hash tag."""
        return self._keys.rate_limit(rule, tag)

    def _counted(self, rule: str, rate: Rate, who: str) -> RateCount:
        return RateCount(
            self.key(rule, client_tag(who)),
            math.ceil(rate.period * 1000),
            rate.count,
            functools.partial(self._count, rule, rate, who),
        )

    async def _count(self, rule: str, rate: Rate, who: str) -> None:
        key = self.key(rule, client_tag(who))
        async with storage_errors():
            wait_ms = await self._hit(keys=[key], args=[math.ceil(rate.period * 1000), rate.count])
        if wait_ms:
            raise RateCount.refused(int(wait_ms))

    async def take_slot(self, key: str, limit: int, holder: str) -> bool:
        """Takes one of ``key``'s ``limit`` slots for ``holder``; False: none is free."""
        now_ms = int(time.time() * 1000)
        hold_ms = int(self.slot_hold * 1000)
        async with storage_errors():
            return bool(await self._acquire(keys=[key], args=[now_ms, hold_ms, limit, holder]))

    async def give_back(self, keys: list[str], holder: str) -> None:
        """Releases ``holder``'s slots of ``keys``, in one round trip."""
        # Best effort: a slot that cannot be released lapses on its own.
        assert self._redis is not None
        with contextlib.suppress(StorageUnavailable):
            async with storage_errors():
                await in_one_trip(self._redis, [("ZREM", [key, holder]) for key in keys])
