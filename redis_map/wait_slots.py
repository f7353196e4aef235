"""A ``/wait``'s concurrency slots, its client IP's and its session's: taken and given back through the limiter,
or by the scripts reading the wait's session."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from login.errors import RateLimited
from redis_map.keys import client_tag
from redis_map.limit_rules import RateLimits

if TYPE_CHECKING:
    from redis_map.ratelimit import RateLimiter

#: Retry-After of a refused /wait: a slot frees as soon as any parked wait answers
WAIT_RETRY_AFTER = 2


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
            await self._limiter.give_back(self._held, self._holder)
            self._held.clear()

    def _ip_key(self) -> str:
        return self._limiter.key("wait_ip", client_tag(self._ip))

    def _session_key(self, uuid: str) -> str:
        return self._limiter.key("wait_session", uuid)

    async def _take(self, key: str, limit: int) -> None:
        if not await self._limiter.take_slot(key, limit, self._holder):
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
