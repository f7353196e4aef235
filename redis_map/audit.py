"""The audit trail: every login outcome appended to a capped Redis stream.

Outcomes: ``confirmed``, ``denied``, ``exchanged`` (recorded by the request
that caused them) and ``expired``.  Expiry is a TTL running out, which
produces no event (keyspace notifications are off by default, fire-and-forget
and would reach every process), so sessions are also entered in a sorted set
scored by their deadline; a periodic sweep, run by every process, takes the
sessions past their deadline whose key is gone, and the one sweep whose
``ZREM`` removes an entry records its expiry, so each is recorded once.
Denied and exchanged sessions leave the set when they reach that outcome.
Every command touches one key, so Redis Cluster serves them too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from login.errors import StorageUnavailable
from redis_map.connection.background import cancel_and_wait
from redis_map.connection.connect import RedisClient
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace

log = logging.getLogger("qrlogin.audit")

#: entries kept in the stream (approximately: MAXLEN ~ trims in whole nodes)
AUDIT_MAXLEN = 100_000
#: how long the stream outlives its last entry
AUDIT_RETENTION = 30 * 86400
#: how long the deadline set outlives its last new session
DEADLINES_RETENTION = 86400
#: sessions examined per sweep round: small, as one round's pipeline is built and
#: parsed in one loop callback (500 stalled the loop ~7 ms in the benchmark)
SWEEP_BATCH = 100
#: seconds between sweeps
SWEEP_INTERVAL = 5.0
#: outcomes after which a session is no longer watched for expiry
FINAL_OUTCOMES = frozenset({"denied", "exchanged"})


#: Lua functions for a script that records what it changed, put before it: ``audit(stream, entry)`` appends an
#: entry, ``watch(deadlines, uuid, at_ms)`` and ``unwatch(deadlines, uuid)`` start and end a session's expiry
#: watch.  Each does nothing when its key is nil (on a Cluster the stream and set are in other slots than the
#: change's key: the caller records then); a failing audit write never undoes or fails the change it records.
AUDIT_LUA = f"""
local function audit(stream, entry)
  if stream then
    redis.pcall('XADD', stream, 'MAXLEN', '~', {AUDIT_MAXLEN}, '*', unpack(entry))
    redis.pcall('EXPIRE', stream, {AUDIT_RETENTION})
  end
end
local function watch(deadlines, uuid, at_ms)
  if deadlines then
    redis.pcall('ZADD', deadlines, at_ms, uuid)
    redis.pcall('EXPIRE', deadlines, {DEADLINES_RETENTION})
  end
end
local function unwatch(deadlines, uuid)
  if deadlines then
    redis.pcall('ZREM', deadlines, uuid)
  end
end
"""


@dataclass(frozen=True)
class AuditEntry:
    """One stream entry: its id (``<ms>-<seq>``), outcome and fields."""

    id: str
    outcome: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(int(self.id.partition("-")[0]) / 1000, tz=UTC)

    def line(self) -> str:
        stamp = self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        details = " ".join(f"{k}={v}" for k, v in self.fields.items() if v)
        return f"{stamp} {self.outcome:<9} {details}".rstrip()


class AuditLog:
    """Appends outcomes to ``<namespace>:audit`` and finds expired sessions."""

    def __init__(self, redis: RedisClient, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        self.stream = keys.audit_stream
        self.deadlines = keys.audit_deadlines

    async def record(self, outcome: str, uuid: str, *, expires_in: float | None = None, **details: str) -> None:
        """Append one outcome; never a secret in ``details`` (user id and IP at most).

        ``expires_in``: the session lives on with a new TTL (a confirm), watched for expiry
        then; recorded in the same round trip.
        """
        entry = {"outcome": outcome, "uuid": uuid, **details}
        async with storage_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.stream, entry, maxlen=AUDIT_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.expire(self.stream, AUDIT_RETENTION)
            if outcome in FINAL_OUTCOMES:
                pipe.zrem(self.deadlines, uuid)
            if expires_in is not None:
                self._watch(pipe, uuid, expires_in)
            await pipe.execute()

    async def opened(self, uuid: str, ttl: float) -> None:
        """Watch a new session for expiry at ``ttl`` seconds from now."""
        async with storage_errors(), self._redis.pipeline(transaction=False) as pipe:
            self._watch(pipe, uuid, ttl)
            await pipe.execute()

    def _watch(self, pipe: Pipeline | ClusterPipeline, uuid: str, ttl: float) -> None:
        pipe.zadd(self.deadlines, {uuid: int((time.time() + ttl) * 1000)})
        pipe.expire(self.deadlines, DEADLINES_RETENTION)

    async def sweep(self, now: float | None = None) -> list[str]:
        """Record the expiry of watched sessions past their deadline; the uuids this call recorded."""
        now_ms = int((now if now is not None else time.time()) * 1000)
        async with storage_errors():
            due = cast(
                list[str], await self._redis.zrangebyscore(self.deadlines, "-inf", now_ms, start=0, num=SWEEP_BATCH)
            )
            if not due:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for uuid in due:
                    pipe.pttl(self._keys.session(uuid))
                ttls: list[int] = await pipe.execute()
            async with self._redis.pipeline(transaction=False) as pipe:
                for uuid, ttl_ms in zip(due, ttls, strict=True):
                    if ttl_ms > 0:
                        # Still alive (a confirm gave it a new TTL): look again then.
                        pipe.zadd(self.deadlines, {uuid: now_ms + ttl_ms}, xx=True)
                    else:
                        # Only the one ZREM that removes it records the expiry.
                        pipe.zrem(self.deadlines, uuid)
                outcomes: list[int] = await pipe.execute()
            expired = [
                uuid for uuid, ttl_ms, removed in zip(due, ttls, outcomes, strict=True) if ttl_ms <= 0 and removed
            ]
        for uuid in expired:
            await self.record("expired", uuid)
        return expired

    async def tail(self, count: int) -> list[AuditEntry]:
        """The last ``count`` entries, oldest first."""
        async with storage_errors():
            rows = cast(list[tuple[str, dict[str, str]]], await self._redis.xrevrange(self.stream, count=count))
        return [_entry(entry_id, values) for entry_id, values in reversed(rows)]

    async def follow(self, after: str, block: float) -> list[AuditEntry]:
        """Entries after id ``after`` ("$": from now), waiting up to ``block`` seconds for one."""
        async with storage_errors():
            answer = cast(
                list[tuple[str, list[tuple[str, dict[str, str]]]]],
                await self._redis.xread({self.stream: after}, block=int(block * 1000), count=100),
            )
        return [_entry(entry_id, values) for _stream, rows in answer for entry_id, values in rows]


def _entry(entry_id: str, values: dict[str, str]) -> AuditEntry:
    fields = dict(values)
    outcome = fields.pop("outcome", "?")
    return AuditEntry(id=entry_id, outcome=outcome, fields=fields)


class AuditSweeper:
    """Runs :meth:`AuditLog.sweep` every ``interval`` seconds until stopped."""

    def __init__(
        self, audit: AuditLog, *, interval: float = SWEEP_INTERVAL, on_expired: Callable[[int], None] | None = None
    ) -> None:
        self._audit = audit
        self._interval = interval
        self._on_expired = on_expired
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="qrlogin-audit-sweeper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                while expired := await self._audit.sweep():
                    if self._on_expired is not None:
                        self._on_expired(len(expired))
                    if len(expired) < SWEEP_BATCH:
                        break
            except StorageUnavailable:
                log.warning("audit sweep failed: Redis unreachable; retrying in %.0fs", self._interval)
