"""The Redis-backed status map: one hash per login session, atomic transitions.

A session lives at ``<namespace>:session:{<tag>}<uuid>`` with a TTL, where
``<tag>`` is the uuid's first two hex digits: a Redis Cluster hash tag, so a
Cluster spreads sessions over 256 slots and each session's key and its change
channel share a slot.  Every change goes through a Lua script that checks,
writes and publishes ``<uuid>:<status>`` in one step, so two racing confirms or
exchanges have exactly one winner and no change goes unannounced.  On one
server it PUBLISHes on ``<namespace>:events``; on a Cluster it SPUBLISHes on
the session's shard channel (see ``redis_map.sharded``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from login.errors import (
    InvalidGrant,
    InvalidTransition,
    NotScanned,
    SessionNotFound,
    StorageFull,
    StorageReadOnly,
    StorageUnavailable,
    UserMismatch,
)
from login.models import Cursor, Identity, NewSession, Requester, SessionView, Status
from redis_map.connection.connect import RedisClient
from redis_map.connection.failures import STORAGE_ERRORS, Refusal, refusal_of, reply_code
from redis_map.connection.sharded import shard_channel, shard_tag

#: longest user agent kept for the phone to show
MAX_USER_AGENT = 512

_SCRIPTS = resources.files(__package__) / "scripts"

_TRANSITION_ERRORS: Mapping[str, type[Exception]] = {
    "not_found": SessionNotFound,
    "invalid_state": InvalidTransition,
    "user_mismatch": UserMismatch,
    "not_scanned": NotScanned,
}


def _fields(reply: list[str]) -> tuple[int, dict[str, str]]:
    """A ``{pttl_ms, field1, value1, ...}`` script reply as (TTL in ms, fields)."""
    flat = reply[1:]
    return int(reply[0]), dict(zip(flat[::2], flat[1::2], strict=True))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_storage_log = logging.getLogger("qrlogin.storage")

#: the domain error each kind of refusal is answered with
_REFUSAL_ERRORS: Mapping[Refusal, Callable[[], StorageUnavailable]] = {
    Refusal.FULL: StorageFull,
    Refusal.READ_ONLY: StorageReadOnly,
    Refusal.UNAVAILABLE: partial(StorageUnavailable, "The session store is busy; try again shortly."),
}


@asynccontextmanager
async def storage_errors() -> AsyncIterator[None]:
    """Turn Redis failing into a StorageUnavailable (503), saying which kind when that helps operators.

    Unreachable or slow: StorageUnavailable; out of memory: StorageFull; refusing
    writes (a replica, persistence failing): StorageReadOnly; busy (a long script,
    loading): StorageUnavailable.  Each failure is logged here as one line, without
    a traceback: it is Redis's state, not our bug.  Any other error reply is a bug
    of ours and goes on as it is (a 500 with its traceback).
    """
    try:
        yield
    except STORAGE_ERRORS as exc:
        _storage_log.warning("redis unreachable: %s: %.200s", type(exc).__name__, exc)
        raise StorageUnavailable() from exc
    except ResponseError as exc:
        refusal = refusal_of(exc)
        if refusal is None:
            raise
        error = _REFUSAL_ERRORS[refusal]()
        _storage_log.warning("redis refused a command: %s (answered %s)", reply_code(exc), error.error)
        raise error from exc


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
        #: where every change is announced as ``<uuid>:<status>`` (on a Cluster: the shard channels' stem)
        self.channel = f"{namespace}:events"
        #: a Cluster announces on per-slot shard channels (Redis >= 7), one server on one channel
        self.sharded = isinstance(redis, RedisCluster)
        self._publish = "SPUBLISH" if self.sharded else "PUBLISH"
        self._transition = redis.register_script((_SCRIPTS / "transition.lua").read_text())
        self._exchange = redis.register_script((_SCRIPTS / "exchange.lua").read_text())
        self._read = redis.register_script((_SCRIPTS / "read.lua").read_text())

    def key(self, uuid: str) -> str:
        return f"{self.namespace}:session:{{{shard_tag(uuid)}}}{uuid}"

    def channel_for(self, uuid: str) -> str:
        """Where changes of the session ``uuid`` are announced."""
        return shard_channel(self.channel, uuid) if self.sharded else self.channel

    async def ping(self) -> None:
        """Returns once Redis answers; StorageUnavailable if it does not."""
        async with storage_errors():
            await self._redis.ping()

    async def create(self, requester: Requester) -> NewSession:
        """Start a waiting session for the PC described by ``requester``."""
        uuid = secrets.token_hex(16)
        secret = secrets.token_urlsafe(32)
        ttl_ms = int(self.session_ttl * 1000)
        fields: list[str | int] = [
            "status", int(Status.WAITING),
            "cursor_hash", _digest(secret),
            "ip", requester.ip,
            "ua", requester.user_agent[:MAX_USER_AGENT],
            "created_at", repr(requester.created_at),
        ]  # fmt: skip
        async with storage_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(uuid), items=fields)
            pipe.pexpire(self.key(uuid), ttl_ms)
            await pipe.execute()
        return NewSession(uuid=uuid, cursor=Cursor(uuid, secret), expires_in=math.ceil(self.session_ttl))

    async def read(self, uuid: str) -> SessionView:
        """The session now; an EXPIRED view if it is unknown or gone."""
        fields, ttl_ms = await self._fetch(uuid)
        if not fields:
            return SessionView.expired(uuid)
        return self._view(uuid, fields, ttl_ms)

    async def read_for_cursor(self, cursor: Cursor) -> SessionView:
        """The session the cursor belongs to; EXPIRED if unknown or the cursor is wrong."""
        fields, ttl_ms = await self._fetch(cursor.uuid)
        if not fields or not self._cursor_matches(cursor, fields):
            return SessionView.expired(cursor.uuid)
        return self._view(cursor.uuid, fields, ttl_ms)

    async def require(self, uuid: str) -> SessionView:
        """The session now; SessionNotFound if it is unknown or gone."""
        view = await self.read(uuid)
        if view.status is Status.EXPIRED:
            raise SessionNotFound()
        return view

    async def scan(self, uuid: str, user: Identity) -> SessionView:
        """waiting -> scanned (or already scanned by ``user``); the session as it then is."""
        _, reply = await self._move(uuid, "scan", user)
        ttl_ms, fields = _fields(reply)
        return self._view(uuid, fields, ttl_ms)

    async def confirm(self, uuid: str, user: Identity) -> Status:
        status, _ = await self._move(uuid, "confirm", user, code=secrets.token_urlsafe(16))
        return status

    async def cancel(self, uuid: str, user: Identity) -> Status:
        status, _ = await self._move(uuid, "cancel", user)
        return status

    async def exchange(self, cursor: Cursor, code: str) -> Identity:
        """Consume the confirmed session's one-time code; exactly once, else InvalidGrant."""
        view = await self.read_for_cursor(cursor)
        if view.status is not Status.CONFIRMED or view.user is None or view.code is None:
            raise InvalidGrant()
        if not hmac.compare_digest(view.code.encode(), code.encode()):
            raise InvalidGrant()
        async with storage_errors():
            claimed = await self._exchange(
                keys=[self.key(view.uuid)], args=[code, self.channel_for(view.uuid), view.uuid, self._publish]
            )
        if not claimed:
            raise InvalidGrant()
        return view.user

    async def _fetch(self, uuid: str) -> tuple[dict[str, str], int]:
        """The session's fields and its TTL in ms, read together."""
        # One script rather than a MULTI pipeline: one command, and far fewer
        # objects per read (bursts of thousands of PCs parking at once read together).
        async with storage_errors():
            reply = await self._read(keys=[self.key(uuid)])
        ttl_ms, fields = _fields(reply)
        return fields, ttl_ms

    async def _move(self, uuid: str, action: str, user: Identity, code: str = "") -> tuple[Status, list[str]]:
        """Runs transition.lua; its new status, and what else it returned (a scan: the session)."""
        args: list[str | int] = [
            action,
            user.sub,
            user.name,
            user.picture,
            code,
            int(self.code_ttl * 1000),
            self.channel_for(uuid),
            uuid,
            self._publish,
        ]
        async with storage_errors():
            outcome, status, *rest = await self._transition(keys=[self.key(uuid)], args=args)
        error = _TRANSITION_ERRORS.get(outcome)
        if error is not None:
            raise error()
        return Status(int(status)), rest

    @staticmethod
    def _cursor_matches(cursor: Cursor, fields: Mapping[str, str]) -> bool:
        return hmac.compare_digest(_digest(cursor.secret).encode(), fields.get("cursor_hash", "").encode())

    @staticmethod
    def _view(uuid: str, fields: Mapping[str, str], ttl_ms: int) -> SessionView:
        user = None
        if fields.get("sub"):
            user = Identity(sub=fields["sub"], name=fields.get("name", ""), picture=fields.get("picture", ""))
        requester = Requester(
            ip=fields.get("ip", ""),
            user_agent=fields.get("ua", ""),
            created_at=float(fields.get("created_at") or time.time()),
        )
        return SessionView(
            uuid=uuid,
            status=Status(int(fields["status"])),
            expires_in=max(0, math.ceil(ttl_ms / 1000)),
            requester=requester,
            user=user,
            code=fields.get("code"),
            ttl_ms=max(0, ttl_ms),
        )

    #: how long the write probe's key lives: it is only written, never read
    WRITE_PROBE_TTL_MS = 1000

    async def check_writes(self) -> None:
        """Returns once Redis accepts a write (a tiny SET with a short TTL under the namespace).

        A PING is answered by a full or read-only Redis too; this is what
        /readyz asks.  Raises the StorageUnavailable (full, read-only, ...)
        that says why not.  On a Cluster it checks the master of one slot.
        """
        async with storage_errors():
            await self._redis.set(f"{self.namespace}:probe", "1", px=self.WRITE_PROBE_TTL_MS)
