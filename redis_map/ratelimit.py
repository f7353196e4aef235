"""Abuse limits kept in Redis, so they hold across processes and machines.

Two kinds, each one Lua call on one key (so Redis Cluster serves them too),
each key under ``<namespace>:rl:`` and always with a TTL:

- request rates: a fixed-window counter per rule and client (``INCR``, and
  ``PEXPIRE`` when the window opens);
- concurrent long-polls: a sorted set of holders scored by when their slot
  lapses, so a process that dies while holding slots leaks none for longer
  than one wait.

Clients are named in keys by a hash, never by their IP or user id.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from importlib import resources
from types import TracebackType
from typing import Any

from login.errors import RateLimited, StorageUnavailable
from redis_map.batch import in_one_trip
from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace

_SCRIPTS = resources.files(__package__) / "scripts"

#: Lua function for a script that counts a request before what it does, put before it: ``rate_hit(key,
#: window_ms, limit)`` counts one request on a fixed-window counter (the window opens with the first, and
#: every counter carries a TTL, so nothing outlives its window); 0 when allowed, else the ms until it closes
RATE_HIT_LUA = """
local function rate_hit(key, window_ms, limit)
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window_ms)
    ttl = tonumber(window_ms)
  end
  if count > tonumber(limit) then
    return ttl
  end
  return 0
end
"""

#: Lua function for a script that takes a concurrency slot with what it does, put before it: ``slot_take(key,
#: now_ms, hold_ms, limit, holder)`` takes one slot of a sorted set of holders scored by when their slot lapses
#: (so a process that dies holding slots leaks none for longer than ``hold_ms``), if one is free: 1, else 0
SLOT_TAKE_LUA = """
local function slot_take(key, now_ms, hold_ms, limit, holder)
  local now, hold = tonumber(now_ms), tonumber(hold_ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(limit) then
    return 0
  end
  redis.call('ZADD', key, now + hold, holder)
  -- The set outlives its newest holder by nothing: every key has a TTL.
  redis.call('PEXPIRE', key, hold)
  return 1
end
"""

#: the script counting one request on its own: KEYS[1] the counter; ARGV window_ms, limit
RATE_HIT_SCRIPT = RATE_HIT_LUA + (_SCRIPTS / "rate_hit.lua").read_text()

#: Retry-After of a refused /wait: a slot frees as soon as any parked wait answers
WAIT_RETRY_AFTER = 2
#: how much longer than the longest wait a slot is held if never released
SLOT_SLACK = 10.0


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


def _client_id(who: str) -> str:
    return hashlib.sha256(who.encode()).hexdigest()[:32]


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

    async def check_qr_render(self, ip: str) -> None:
        """One QR image rendered for ``ip`` (one served from the cache is free)."""
        if self.limits is not None:
            await self._count("qr_ip", self.limits.qr_ip, ip)

    async def check_action(self, ip: str) -> None:
        """One app action from ``ip``, before its credential is checked."""
        if self.limits is not None:
            await self._count("action_ip", self.limits.action_ip, ip)

    def wait_slots(self, ip: str) -> WaitSlots:
        """The slots one ``/wait`` holds: its client IP's on entry, its session's on :meth:`WaitSlots.admit`."""
        if self.limits is None:
            return UNLIMITED_SLOTS  # shared: a parked waiter then carries nothing for the limits
        return WaitSlots(self, self.limits, ip)

    def _key(self, rule: str, tag: str) -> str:
        """The key of one rule for one client or session; ``tag`` is its Cluster hash tag."""
        return self._keys.rate_limit(rule, tag)

    def _counted(self, rule: str, rate: Rate, who: str) -> RateCount:
        return RateCount(
            self._key(rule, _client_id(who)),
            math.ceil(rate.period * 1000),
            rate.count,
            functools.partial(self._count, rule, rate, who),
        )

    async def _count(self, rule: str, rate: Rate, who: str) -> None:
        key = self._key(rule, _client_id(who))
        async with storage_errors():
            wait_ms = await self._hit(keys=[key], args=[math.ceil(rate.period * 1000), rate.count])
        if wait_ms:
            raise RateCount.refused(int(wait_ms))

    async def _take(self, key: str, limit: int, holder: str) -> bool:
        now_ms = int(time.time() * 1000)
        hold_ms = int(self.slot_hold * 1000)
        async with storage_errors():
            return bool(await self._acquire(keys=[key], args=[now_ms, hold_ms, limit, holder]))

    async def _give_back(self, keys: list[str], holder: str) -> None:
        """Releases ``holder``'s slots of ``keys``, in one round trip."""
        # Best effort: a slot that cannot be released lapses on its own.
        assert self._redis is not None
        with contextlib.suppress(StorageUnavailable):
            async with storage_errors():
                await in_one_trip(self._redis, [("ZREM", [key, holder]) for key in keys])


@dataclass(frozen=True, slots=True)
class WaitClaim:
    """What a script reading a wait's session needs to take its slots in the same step (``slot_take`` of
    SLOT_TAKE_LUA): the IP's slots and the session's, their caps, the holder, now and how long a slot is held."""

    ip_key: str
    session_key: str
    args: list[str | int]


@dataclass(frozen=True, slots=True)
class WaitRelease:
    """What a script reading a woken wait's session needs to give its slots back in the same step: the slots'
    keys and the holder."""

    keys: list[str]
    holder: str


class WaitSlots:
    """An async context holding a ``/wait``'s concurrency slots; releases them on exit, in one round trip.

    The client IP's slot is taken first (:meth:`enter`), the session's once the cursor proved right
    (:meth:`admit`); or both by the script of the wait's first read (:meth:`claim`, then :meth:`taken`).
    A script reading the session after a wake may give them back instead (:meth:`held`, then :meth:`given_back`),
    so the exit has nothing left to do.
    """

    def __init__(self, limiter: RateLimiter, limits: RateLimits, ip: str) -> None:
        self._limiter = limiter
        self._limits = limits
        self._ip = ip
        self._holder = secrets.token_hex(8)
        self._held: list[str] = []
        self._admitted: str | None = None

    async def __aenter__(self) -> WaitSlots:
        return self

    async def enter(self) -> None:
        """Take the client IP's slot."""
        await self._take(self._ip_key(), self._limits.wait_ip)

    async def admit(self, uuid: str) -> None:
        """Take the session's slot (once): call it only with a cursor known to be right.

        The uuid is public, so counting waits with wrong cursors would let anyone
        who saw the QR crowd out the real PC.
        """
        if self._admitted == uuid:
            return
        await self._take(self._session_key(uuid), self._limits.wait_session)
        self._admitted = uuid

    def claim(self, uuid: str) -> WaitClaim | None:
        """The slots of a wait on ``uuid`` for its first read's script to take; None: no limits, nothing to take."""
        args: list[str | int] = [
            int(time.time() * 1000), int(self._limiter.slot_hold * 1000),
            self._limits.wait_ip, self._limits.wait_session, self._holder,
        ]  # fmt: skip
        return WaitClaim(self._ip_key(), self._session_key(uuid), args)

    def taken(self, claim: WaitClaim, uuid: str, count: int) -> None:
        """What the script took: 2 both slots, 1 the IP's (the session's not wanted), 0 none (RateLimited)."""
        if count == 0:
            raise _too_many()
        self._held.append(claim.ip_key)
        if count == 2:
            self._held.append(claim.session_key)
            self._admitted = uuid

    def held(self) -> WaitRelease | None:
        """The slots held now, for a script to give back with its read; None: none held."""
        return WaitRelease(list(self._held), self._holder) if self._held else None

    def given_back(self) -> None:
        """The script given :meth:`held` gave every slot back: nothing is left to give back on exit."""
        self._held.clear()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._held:
            await self._limiter._give_back(self._held, self._holder)
            self._held.clear()

    def _ip_key(self) -> str:
        return self._limiter._key("wait_ip", _client_id(self._ip))

    def _session_key(self, uuid: str) -> str:
        return self._limiter._key("wait_session", uuid)

    async def _take(self, key: str, limit: int) -> None:
        if not await self._limiter._take(key, limit, self._holder):
            raise _too_many()
        self._held.append(key)


def _too_many() -> RateLimited:
    return RateLimited(WAIT_RETRY_AFTER, "Too many long-polls at once; try again shortly.")


class _UnlimitedSlots(WaitSlots):
    """The slots of a ``/wait`` when limits are off: holds nothing, shared by all."""

    def __init__(self) -> None:
        pass

    async def __aenter__(self) -> WaitSlots:
        return self

    async def enter(self) -> None:
        return None

    async def admit(self, uuid: str) -> None:
        return None

    def claim(self, uuid: str) -> WaitClaim | None:
        return None

    def held(self) -> WaitRelease | None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


UNLIMITED_SLOTS = _UnlimitedSlots()
