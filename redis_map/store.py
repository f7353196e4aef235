"""The Redis-backed status map: one hash per login session, atomic transitions.

A session lives at ``<namespace>:session:{<tag>}<uuid>`` with a TTL, where
``<tag>`` is the uuid's first two hex digits: a Redis Cluster hash tag, so a
Cluster spreads sessions over 256 slots and each session's key and its change
channel share a slot.  Every change goes through a Lua script that checks,
writes and publishes ``<uuid>:<status>`` in one step, so two racing confirms or
exchanges have exactly one winner and no change goes unannounced.  On one
server it PUBLISHes on ``<namespace>:events``; on a Cluster it SPUBLISHes on
the session's shard channel (see ``redis_map.connection.sharded``).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from typing import cast

from redis.asyncio.cluster import RedisCluster

from login.errors import (
    InvalidGrant,
    InvalidTransition,
    NotScanned,
    SessionNotFound,
    UserMismatch,
)
from login.models import Action, Cursor, Identity, Moved, NewSession, Requester, SessionView, Status
from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script
from redis_map.errors import change_errors, storage_errors
from redis_map.keys import KeySpace
from redis_map.ratelimit import RateCount
from redis_map.session_fields import cursor_view, digest, flat_pairs, reply_fields, session_view
from redis_map.session_scripts import script_source
from redis_map.store_types import Copy, Exchanged, Record
from redis_map.wait_slots import WaitSlots

#: longest user agent kept for the phone to show
MAX_USER_AGENT = 512
#: how long an exchanged session keeps its login for a retried exchange (whose first answer was lost)
EXCHANGE_GRACE = 30.0
#: create.lua's answer when the record a session is to carry (``Copy``) is gone
SOURCE_GONE = -1

_TRANSITION_ERRORS: Mapping[str, type[Exception]] = {
    "not_found": SessionNotFound,
    "invalid_state": InvalidTransition,
    "user_mismatch": UserMismatch,
    "not_scanned": NotScanned,
}


class SessionStore:
    """Creates, reads and moves login sessions; raises domain errors only."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        namespace: str = "qrlogin",
        session_ttl: float = 120.0,
        code_ttl: float = 60.0,
    ) -> None:
        self._redis = redis
        self.namespace = namespace
        self.session_ttl = session_ttl
        self.code_ttl = code_ttl
        #: every key and channel name
        self.keys = KeySpace(namespace)
        #: a Cluster announces on per-slot shard channels (Redis >= 7), one server on one channel
        self.sharded = isinstance(redis, RedisCluster)
        self._publish = "SPUBLISH" if self.sharded else "PUBLISH"
        self._transition = Script(redis, script_source("transition.lua"))
        self._exchange = Script(redis, script_source("exchange.lua"))
        self._read = Script(redis, script_source("read.lua"))
        self._read_counted = Script(redis, script_source("read_counted.lua"))
        self._create = Script(redis, script_source("create.lua"))
        self._wait_read = Script(redis, script_source("wait_read.lua"))
        self._wake_read = Script(redis, script_source("wake_read.lua"))
        #: whether the scripts changing a session record it in the audit stream themselves (one server; on a
        #: Cluster the stream and the deadline set are in other slots than the session: the caller records)
        self.audits = not self.sharded
        self._audit_keys = [self.keys.audit_stream, self.keys.audit_deadlines] if self.audits else []

    def key(self, uuid: str) -> str:
        return self.keys.session(uuid)

    def channel_for(self, uuid: str) -> str:
        """Where changes of the session ``uuid`` are announced as ``<uuid>:<status>``."""
        return self.keys.shard_channel(uuid) if self.sharded else self.keys.events

    async def ping(self) -> None:
        """Returns once Redis answers; StorageUnavailable if it does not."""
        async with storage_errors():
            await self._redis.ping()

    async def create(
        self, requester: Requester, count: RateCount | None = None, copy: Copy | None = None
    ) -> NewSession:
        """Start a waiting session for the PC described by ``requester``, watched for expiry when ``audits``.

        ``count``: the request counted on its client's rate limit first; past it, RateLimited and nothing created.
        ``copy``: a record made beside the session, in the same step (on a Cluster, where the source is in
        another slot, read before and written after it).
        """
        uuid = secrets.token_hex(16)
        secret = secrets.token_urlsafe(32)
        ttl_ms = int(self.session_ttl * 1000)
        copied: str | None = None  # on a Cluster, the copy's value, read before the session is made
        copy_keys: list[str] = []
        copy_ttl_ms = 0
        if copy is not None and self.sharded:
            async with storage_errors():
                copied = cast(str | None, await self._redis.get(copy.source))
            if copied is None:
                raise copy.gone()
        elif copy is not None:
            copy_keys, copy_ttl_ms = [copy.source, copy.target(uuid)], copy.ttl_ms
        count_keys, count_args = await self._counted(count)
        keys = [self.key(uuid), *self._audit_keys, *copy_keys, *count_keys]
        args: list[str | int] = [ttl_ms, int(time.time() * 1000) + ttl_ms, uuid, *count_args, copy_ttl_ms]
        args += [
            "status", int(Status.WAITING),
            "cursor_hash", digest(secret),
            "ip", requester.ip,
            "ua", requester.user_agent[:MAX_USER_AGENT],
            "created_at", repr(requester.created_at),
            "base", requester.reached_at,
        ]  # fmt: skip
        async with storage_errors():
            created = int(await self._create(keys=keys, args=args))
            if copy is not None and copied is not None and created == 0:  # the Cluster's copy, after the session
                await self._redis.set(copy.target(uuid), copied, px=copy.ttl_ms)
        if created == SOURCE_GONE and copy is not None:
            raise copy.gone()
        if created:
            raise RateCount.refused(created)
        return NewSession(uuid=uuid, cursor=Cursor(uuid, secret), expires_in=math.ceil(self.session_ttl))

    async def read(self, uuid: str) -> SessionView:
        """The session now; an EXPIRED view if it is unknown or gone."""
        fields, ttl_ms = await self._fetch(uuid)
        return session_view(uuid, fields, ttl_ms)

    async def read_for_cursor(self, cursor: Cursor) -> SessionView:
        """The session the cursor belongs to; EXPIRED if unknown or the cursor is wrong."""
        fields, ttl_ms = await self._fetch(cursor.uuid)
        return cursor_view(cursor, fields, ttl_ms)

    async def read_to_wait(self, cursor: Cursor, known: Status, slots: WaitSlots) -> SessionView:
        """``read_for_cursor()`` for a wait's first read, taking its concurrency slots (RateLimited past one).

        The client IP's slot first; the session's if the cursor is right and the session still ``known`` (the
        wait will park).  In the read's round trip on one server; on a Cluster (three slots) apart.
        """
        claim = None if self.sharded else slots.claim(cursor.uuid)
        if claim is None:
            await slots.enter()
            return await self.read_for_cursor(cursor)
        keys = [self.key(cursor.uuid), claim.ip_key, claim.session_key]
        async with storage_errors():
            reply = await self._wait_read(keys=keys, args=[digest(cursor.secret), int(known), *claim.args])
        slots.taken(claim, cursor.uuid, int(reply[0]))
        ttl_ms, fields = reply_fields(reply[1:])
        return cursor_view(cursor, fields, ttl_ms)

    async def read_after_wake(self, cursor: Cursor, known: Status, slots: WaitSlots) -> SessionView:
        """``read_for_cursor()`` for a wait woken after its first read, giving its slots back if it will answer.

        The wait answers when the view is not ``known`` (or expired); its slots are then given back in the read's
        round trip on one server, and kept when the session is still ``known`` (the wait parks again).  On a
        Cluster (the slots in other hash slots than the session) it only reads: the slots go back on exit.
        """
        held = None if self.sharded else slots.held()
        if held is None:
            return await self.read_for_cursor(cursor)
        async with storage_errors():
            reply = await self._wake_read(
                keys=[self.key(cursor.uuid), *held.keys], args=[digest(cursor.secret), int(known), held.holder]
            )
        if int(reply[0]):
            slots.given_back()
        ttl_ms, fields = reply_fields(reply[1:])
        return cursor_view(cursor, fields, ttl_ms)

    async def require(self, uuid: str, count: RateCount | None = None) -> SessionView:
        """The session now; SessionNotFound if it is unknown or gone.

        ``count``: a request counted on its client's rate limit once the session is found (none for one that is
        not); past it, RateLimited.  In the read's round trip on one server; on a Cluster (the counter in another
        slot) after the read.
        """
        if count is None or not self.audits:
            view = await self.read(uuid)
        else:
            async with storage_errors():
                reply = await self._read_counted(keys=[self.key(uuid), count.key], args=[count.window_ms, count.limit])
            if int(reply[0]):
                raise RateCount.refused(int(reply[0]))
            ttl_ms, fields = reply_fields(reply[1:])
            view = session_view(uuid, fields, ttl_ms)
        if view.status is Status.EXPIRED:
            raise SessionNotFound()
        if count is not None and not self.audits:
            await count.check()
        return view

    async def scan(self, uuid: str, user: Identity, count: RateCount | None = None) -> SessionView:
        """waiting -> scanned (or already scanned by ``user``); the session as it then is.

        ``count``, here and for confirm and cancel: the user's request counted on their rate limit first; past it,
        RateLimited and nothing changed.
        """
        _, reply = await self._move(uuid, Action.SCAN, user, count=count)
        ttl_ms, fields = reply_fields(reply)
        return session_view(uuid, fields, ttl_ms)

    async def confirm(self, uuid: str, user: Identity, ip: str = "", count: RateCount | None = None) -> Moved:
        """scanned -> confirmed with a new one-time code, audited (when ``audits``) as from ``ip``; a retry by
        ``user`` once confirmed changes nothing."""
        moved, _ = await self._move(uuid, Action.CONFIRM, user, code=secrets.token_urlsafe(16), ip=ip, count=count)
        return moved

    async def cancel(self, uuid: str, user: Identity, ip: str = "", count: RateCount | None = None) -> Moved:
        """waiting/scanned -> denied, audited (when ``audits``); a retry by ``user`` once denied changes nothing."""
        moved, _ = await self._move(uuid, Action.CANCEL, user, ip=ip, count=count)
        return moved

    async def exchange(
        self,
        cursor: Cursor,
        code: str,
        keep: str,
        ip: str = "",
        record: Record | None = None,
    ) -> Exchanged:
        """The confirmed session's one-time code, with its cursor, for ``keep`` and its user, in one round trip;
        exactly one exchange happens.

        A retry with the same cursor and code within EXCHANGE_GRACE gets what
        the exchange kept (``first`` False); anything else: InvalidGrant.
        ``record`` is written by the exchange itself, when it happens (not on a Cluster: ValueError).
        """
        if not keep:
            raise ValueError("an exchange keeps a login")
        if record is not None and not self.audits:
            raise ValueError("on a Cluster a record is in another slot than the session")
        args: list[str | int] = [
            code, digest(code), keep, int(EXCHANGE_GRACE * 1000),
            self.channel_for(cursor.uuid), cursor.uuid, self._publish, ip, digest(cursor.secret),
        ]  # fmt: skip
        keys = [self.key(cursor.uuid), *self._audit_keys]
        if record is not None:
            keys.append(record.key)
            args += [record.ttl_ms, len(record.fields), *flat_pairs(record.fields), *flat_pairs(record.entry)]
        async with change_errors():
            outcome, *rest = cast(list[str], await self._exchange(keys=keys, args=args))
        if outcome not in ("ok", "same"):
            raise InvalidGrant()
        login, sub, name, picture = rest
        return Exchanged(user=Identity(sub=sub, name=name, picture=picture), login=login, first=outcome == "ok")

    async def _fetch(self, uuid: str) -> tuple[dict[str, str], int]:
        """The session's fields and its TTL in ms, read together."""
        # One script rather than a MULTI pipeline: one command, and far fewer
        # objects per read (bursts of thousands of PCs parking at once read together).
        async with storage_errors():
            reply = await self._read(keys=[self.key(uuid)])
        ttl_ms, fields = reply_fields(reply)
        return fields, ttl_ms

    async def _counted(self, count: RateCount | None) -> tuple[list[str], list[int]]:
        """The key and (window ms, limit) arguments a change's script counts ``count`` with first (none: 0, 0).

        On a Cluster the counter is in another slot than the session: it is counted here, before the script.
        """
        if count is None:
            return [], [0, 0]
        if not self.audits:
            await count.check()
            return [], [0, 0]
        return [count.key], [count.window_ms, count.limit]

    async def _move(
        self, uuid: str, action: Action, user: Identity, code: str = "", ip: str = "", count: RateCount | None = None
    ) -> tuple[Moved, list[str]]:
        """Runs transition.lua; the status it left, whether it changed it, and what else it returned."""
        count_keys, count_args = await self._counted(count)
        args: list[str | int] = [
            action, user.sub, user.name, user.picture, code, int(self.code_ttl * 1000),
            self.channel_for(uuid), uuid, self._publish,
            ip, int((time.time() + self.code_ttl) * 1000), *count_args,
        ]  # fmt: skip
        keys = [self.key(uuid), *self._audit_keys, *count_keys]
        async with change_errors():
            outcome, status, *rest = await self._transition(keys=keys, args=args)
        if outcome == "rate_limited":
            raise RateCount.refused(int(status))
        error = _TRANSITION_ERRORS.get(outcome)
        if error is not None:
            raise error()
        return Moved(Status(int(status)), changed=outcome == "ok"), rest

    #: how long the write probe's key lives: it is only written, never read
    WRITE_PROBE_TTL_MS = 1000

    async def check_writes(self) -> None:
        """Returns once Redis accepts a write (a tiny SET with a short TTL under the namespace).

        A PING is answered by a full or read-only Redis too; this is what
        /readyz asks.  Raises the StorageUnavailable (full, read-only, ...)
        that says why not.  On a Cluster it checks the master of one slot.
        """
        async with storage_errors():
            await self._redis.set(self.keys.probe, "1", px=self.WRITE_PROBE_TTL_MS)
