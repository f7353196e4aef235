"""A session's hash as stored, read and written: script replies to fields, fields to a SessionView (or EXPIRED
for a wrong cursor), a hash's fields as script arguments, and the digest a secret is stored as."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping

from login.models import Cursor, Identity, Requester, SessionView, Status

#: the stored status of a session whose code was exchanged: kept this long, read as expired
EXCHANGED = 4


def reply_fields(reply: list[str]) -> tuple[int, dict[str, str]]:
    """A ``{pttl_ms, field1, value1, ...}`` script reply as (TTL in ms, fields)."""
    flat = reply[1:]
    return int(reply[0]), dict(zip(flat[::2], flat[1::2], strict=True))


def flat_pairs(mapping: Mapping[str, str]) -> list[str]:
    """``mapping``'s names and values, alternating: a script's arguments for a hash's fields."""
    return [item for pair in mapping.items() for item in pair]


def digest(secret: str) -> str:
    """The hex SHA-256 a secret (a cursor's, a code) is stored and compared as."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _user(fields: Mapping[str, str]) -> Identity | None:
    """The user a session's fields name, if it was scanned."""
    if not fields.get("sub"):
        return None
    return Identity(sub=fields["sub"], name=fields.get("name", ""), picture=fields.get("picture", ""))


def cursor_view(cursor: Cursor, fields: Mapping[str, str], ttl_ms: int) -> SessionView:
    """The view of a session read for ``cursor``: EXPIRED if gone or the cursor is wrong."""
    if not fields or not _cursor_matches(cursor, fields):
        return SessionView.expired(cursor.uuid)
    return session_view(cursor.uuid, fields, ttl_ms)


def _cursor_matches(cursor: Cursor, fields: Mapping[str, str]) -> bool:
    return hmac.compare_digest(digest(cursor.secret).encode(), fields.get("cursor_hash", "").encode())


def session_view(uuid: str, fields: Mapping[str, str], ttl_ms: int) -> SessionView:
    """The view of the session ``uuid`` whose hash is ``fields``, with ``ttl_ms`` left (EXPIRED if gone: no fields,
    or once exchanged)."""
    if not fields:
        return SessionView.expired(uuid)
    stored = int(fields["status"])
    if stored == EXCHANGED:
        return SessionView.expired(uuid)  # kept only for a retried exchange
    requester = Requester(
        ip=fields.get("ip", ""),
        user_agent=fields.get("ua", ""),
        created_at=float(fields.get("created_at") or time.time()),
        reached_at=fields.get("base", ""),
    )
    return SessionView(
        uuid=uuid,
        status=Status(stored),
        expires_in=max(0, math.ceil(ttl_ms / 1000)),
        requester=requester,
        user=_user(fields),
        code=fields.get("code"),
        ttl_ms=max(0, ttl_ms),
    )
