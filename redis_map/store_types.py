"""What the session store's operations take and give besides a session: the records made beside it (Copy at
its creation, Record at its exchange) and an exchange's result (Exchanged)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from login.models import Identity


@dataclass(frozen=True, slots=True)
class Copy:
    """A record a new session carries beside it: ``source``'s value copied to the key ``target(uuid)`` names, to
    expire in ``ttl_ms``; when ``source`` is gone, ``gone()`` is raised and nothing is created."""

    source: str
    target: Callable[[str], str]
    ttl_ms: int
    gone: Callable[[], Exception]


@dataclass(frozen=True, slots=True)
class Record:
    """A hash written by the exchange that hands a session's login over, in the same step, for ``ttl_ms``:
    ``fields`` plus the user's ``sub``, ``name`` and ``picture``, with the audit entry ``entry`` (plus ``user``).

    One server only (on a Cluster the key is in another slot than the session)."""

    key: str
    ttl_ms: int
    fields: Mapping[str, str]
    entry: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Exchanged:
    """An exchanged code: who logged in, the login kept for them, and whether this call exchanged it."""

    user: Identity
    login: str
    first: bool
