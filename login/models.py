"""The shapes the login flow passes around: statuses, identities, session views."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from login.useragent import describe

#: a session's uuid: 128 random bits as hex (public: it is in the QR)
UUID_PATTERN = re.compile(r"[0-9a-f]{32}")
#: the PC's cursor: ``<uuid>.<256 random bits>`` (secret: only the PC has it)
CURSOR_PATTERN = re.compile(r"([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")
#: the one-time code handed to the PC once confirmed (128 random bits)
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")


class Status(enum.IntEnum):
    """A login session's status; ``-1 < status < 2`` means still pending."""

    EXPIRED = -1  # also unknown or already exchanged
    WAITING = 0
    SCANNED = 1
    CONFIRMED = 2
    DENIED = 3

    @property
    def state(self) -> str:
        """The status as the word the API sends beside the number."""
        return self.name.lower()

    @property
    def pending(self) -> bool:
        return self in (Status.WAITING, Status.SCANNED)


class Action(enum.StrEnum):
    """What the app does to a session."""

    SCAN = "scan"
    CONFIRM = "confirm"
    CANCEL = "cancel"


class Outcome(enum.StrEnum):
    """How a session ended, as counted in the metrics and written to the audit stream."""

    CONFIRMED = "confirmed"
    DENIED = "denied"
    EXCHANGED = "exchanged"
    EXPIRED = "expired"  # from the audit sweep


@dataclass(frozen=True, slots=True)
class Moved:
    """A transition's result: the status now, and whether this call made the change (not a retry's echo)."""

    status: Status
    changed: bool


@dataclass(frozen=True, slots=True)
class Identity:
    """A user as the auth server describes them (OIDC UserInfo claims)."""

    sub: str
    name: str = ""
    picture: str = ""

    def as_json(self) -> dict[str, str]:
        return {"sub": self.sub, "name": self.name, "picture": self.picture}


@dataclass(frozen=True, slots=True)
class Requester:
    """The PC that asked for the login, recorded at ``/uuid``."""

    ip: str
    user_agent: str
    created_at: float  # unix time
    #: the service's URL as the PC reached it (or as configured): the QR sends phones there
    reached_at: str = ""

    def as_json(self) -> dict[str, str]:
        created = datetime.fromtimestamp(self.created_at, tz=UTC)
        agent = describe(self.user_agent)
        return {
            "ip": self.ip,
            "user_agent": self.user_agent,
            "browser": agent.browser,
            "os": agent.system,
            "created_at": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }


@dataclass(frozen=True, slots=True)
class Cursor:
    """The PC's secret handle on its session, ``<uuid>.<secret>``; parsed once, at the edge."""

    uuid: str
    secret: str = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """The cursor ``text`` spells, or None if it is malformed."""
        match = CURSOR_PATTERN.fullmatch(text)
        return cls(match.group(1), match.group(2)) if match else None

    def __str__(self) -> str:
        return f"{self.uuid}.{self.secret}"


@dataclass(frozen=True, slots=True)
class NewSession:
    """What ``/uuid`` hands the PC: the public uuid and the secret cursor."""

    uuid: str
    cursor: Cursor
    expires_in: int


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session as read from the store at one moment."""

    uuid: str
    status: Status
    expires_in: int = 0
    requester: Requester | None = None
    user: Identity | None = None
    code: str | None = field(default=None, repr=False)
    #: the TTL left, in ms, as read (0 when expired)
    ttl_ms: int = field(default=0, repr=False)

    @classmethod
    def expired(cls, uuid: str) -> SessionView:
        return cls(uuid=uuid, status=Status.EXPIRED)

    def wait_answer(self) -> dict[str, Any]:
        """The ``/wait`` answer: status, plus the user once known and the code once confirmed."""
        answer: dict[str, Any] = {
            "status": int(self.status),
            "state": self.status.state,
            "expires_in": self.expires_in,
        }
        if self.user is not None:
            answer["user"] = self.user.as_json()
        if self.status is Status.CONFIRMED and self.code:
            answer["code"] = self.code
        return answer
