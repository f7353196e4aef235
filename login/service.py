"""The login flow as one service: what each step checks, changes and records, with no HTTP in sight.

Every step reads as guard clauses: over a limit? refused; credential
rejected? refused; the atomic transition refuses? refused; else the change is
made (in one Lua script) and its outcome recorded.  A step that fails leaves
the session as it was.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from auth import Authenticator
from auth.tokens import new_token_id
from login.errors import InvalidGrant
from login.events import LoginEvents, Outcome
from login.models import CODE_PATTERN, Cursor, Identity, Moved, NewSession, Requester, SessionView, Status
from login.qr import QrRenderer
from redis_map.ratelimit import RateCount, RateLimiter
from redis_map.store import SessionStore
from redis_map.store_types import Copy, Exchanged, Record


class TokenSigner(Protocol):
    """Signs the login token a PC gets for an exchanged code: the same token again for the same user,
    ``issued_at`` and ``token_id``."""

    ttl: int

    def issue(self, user: Identity, issued_at: int | None = None, token_id: str | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class Scanned:
    """A scanned session as the app is shown it: the requesting PC, and who scanned."""

    view: SessionView
    user: Identity


@dataclass(frozen=True, slots=True)
class QrImage:
    """A session's QR code as an image, and how long it stays good."""

    data: bytes
    expires_in: int


def phone_url(base: str, uuid: str) -> str:
    """What a session's QR encodes: its phone page at the service's public URL ``base``."""
    return f"{base}/s/{uuid}"


@dataclass(frozen=True, slots=True)
class Login:
    """What an exchanged code yields: who logged in, and their signed login token."""

    user: Identity
    token: str
    expires_in: int


class LoginService:
    """Creates sessions, moves them on the app's word, and exchanges their codes; raises LoginErrors."""

    def __init__(
        self,
        store: SessionStore,
        authenticator: Authenticator,
        limiter: RateLimiter,
        events: LoginEvents,
        tokens: TokenSigner,
        renderer: QrRenderer,
    ) -> None:
        self.store = store
        self.authenticator = authenticator
        self.limiter = limiter
        self.events = events
        self.tokens = tokens
        self.renderer = renderer

    async def create(self, requester: Requester, copy: Copy | None = None) -> NewSession:
        """A new waiting session for the PC ``requester`` describes (carrying ``copy``, made in the same step)."""
        session = await self.store.create(requester, self.limiter.session_request(requester.ip), copy)
        await self.events.opened(session.uuid, self.store.session_ttl, written=self.store.audits)
        return session

    async def qr_image(self, uuid: str, kind: str, ip: str, fallback_base: Callable[[], str]) -> QrImage:
        """The session's QR as ``kind`` ('svg' or 'png'), pointing where the PC reached us at ``/uuid``.

        ``fallback_base()`` serves sessions created before that was recorded.
        Renders are limited per IP; an image served from the cache is free.
        The cache is asked first, so a render is counted in the read's round trip.
        """
        cached = self.renderer.cached(uuid, kind)
        view = await self.store.require(uuid, None if cached is not None else self.limiter.qr_render(ip))
        base = view.requester.reached_at if view.requester and view.requester.reached_at else fallback_base()
        content = phone_url(base, uuid)
        if cached is not None and cached.content == content:
            return QrImage(cached.data, view.expires_in)
        if cached is not None:  # cached for another content (an old session's fallback base): counted on its own
            await self.limiter.check_qr_render(ip)
        return QrImage(await self.renderer.image(uuid, content, kind), view.expires_in)

    async def scan(self, uuid: str, authorization: str, ip: str) -> Scanned:
        """waiting -> scanned by the credential's user (again by the same user: unchanged)."""
        user = await self._identify(authorization, ip)
        return Scanned(await self.store.scan(uuid, user, self.limiter.user_action(user.sub)), user)

    async def confirm(self, uuid: str, authorization: str, ip: str) -> Status:
        """scanned -> confirmed, by the user who scanned; the PC's waiters wake with a one-time code.

        The same user's retry, once confirmed, is answered alike and recorded once.
        """
        return await self._decide(self.store.confirm, Outcome.CONFIRMED, uuid, authorization, ip)

    async def cancel(self, uuid: str, authorization: str, ip: str) -> Status:
        """waiting/scanned -> denied; final.  The same user's retry, once denied, is answered alike."""
        return await self._decide(self.store.cancel, Outcome.DENIED, uuid, authorization, ip)

    async def exchange(self, cursor: Cursor, code: str, ip: str) -> Login:
        """The confirmed session's one-time code, with its cursor, for a login token.

        Exactly one exchange happens; a retry with the same cursor and code
        shortly after (its first answer lost to a timeout) gets the same login.
        """
        # The exchange keeps when the token is issued and its id, not the token: the user comes back with
        # it, so the token is signed after the one round trip, and a retry signs the same token again.
        stamp = f"{int(time.time())} {new_token_id()}"
        exchanged = await self.hand_over(cursor, code, ip, stamp)
        first, _, second = exchanged.login.partition(" ")
        if second.count(".") == 2:
            # "<expires at> <token>": kept by a version that stored the signed token (a retry across an upgrade).
            token, expires_at = second, int(first)
        else:
            token, expires_at = self.tokens.issue(exchanged.user, int(first), second), int(first) + self.tokens.ttl
        return Login(user=exchanged.user, token=token, expires_in=max(0, expires_at - int(time.time())))

    async def hand_over(self, cursor: Cursor, code: str, ip: str, keep: str, record: Record | None = None) -> Exchanged:
        """The confirmed session's one-time code exchanged, exactly once, for ``keep``, in one round trip.

        ``/token`` keeps when its login token is issued and the token's id;
        the OpenID provider keeps the redirect back to the client with its
        authorization code.  What was kept is handed to a retry (same cursor
        and code, its first answer lost).  ``record`` is written by the
        exchange, when it happens.
        """
        if not CODE_PATTERN.fullmatch(code):
            raise InvalidGrant()
        exchanged = await self.store.exchange(cursor, code, keep, ip, record)
        if exchanged.first:
            await self.events.outcome(
                Outcome.EXCHANGED, cursor.uuid, user=exchanged.user.sub, ip=ip, written=self.store.audits
            )
        return exchanged

    async def _decide(
        self,
        move: Callable[[str, Identity, str, RateCount | None], Awaitable[Moved]],
        outcome: Outcome,
        uuid: str,
        authorization: str,
        ip: str,
    ) -> Status:
        """The app's decision on a session: made once by its user, recorded once, a retry answered alike."""
        user = await self._identify(authorization, ip)
        moved = await move(uuid, user, ip, self.limiter.user_action(user.sub))
        if moved.changed:
            await self.events.outcome(outcome, uuid, user=user.sub, ip=ip, written=self.store.audits)
        return moved.status

    async def _identify(self, authorization: str, ip: str) -> Identity:
        """The app's user, once the per-IP limit and the auth server agree (the per-user limit is counted by the
        step's transition, first: the user is known only now, and a refused step changes nothing)."""
        await self.limiter.check_action(ip)
        return await self.authenticator.identify(authorization)
