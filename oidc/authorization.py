"""The authorization endpoint's flow: check the request, log the person in by the scan, hand the client a code.

1. ``start``: the request through the guard steps (``oidc.authorize``); kept
   in Redis while its login page is open (REQUEST_TTL).
2. ``new_login``: the page asks for a login session (the QR), bound to the
   request, so the phone page can say which site asks.
3. ``complete``: the tab holding the session's cursor, once the phone
   confirmed, exchanges the session's one-time code (exactly once, retry-safe:
   ``LoginService.hand_over``) for the redirect back to the client with a new
   authorization code; once denied, for the redirect with ``access_denied``.
   Only that tab can: it alone has the cursor.

A process keeps the requests it stored and the sessions it bound to them
(RECENT_REQUESTS, each until its Redis key expires: neither ever changes), so a
hand-back on the process that served the page reads no copy from Redis.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from login.errors import InvalidRequest as LoginInvalidRequest
from login.models import Cursor, Identity, NewSession, Requester, Status
from login.service import LoginService
from oidc.authorize import AuthorizationRequest, Parameters, RedirectedError, validate
from oidc.authorize.respond import error_answer, redirect_to
from oidc.clients import ClientRegistry
from oidc.errors import AccessDenied, OAuthError
from oidc.events import Authorization, Event, ProviderEvents
from oidc.grant import Grant, new_grant_id, new_token, token_hash
from oidc.recent import Recent
from redis_map.store_types import Copy, Record

#: seconds an authorization request stays usable: its page fetches fresh codes as they expire (5 by
#: default, 2 minutes each), so this outlives them
REQUEST_TTL = 900.0
#: seconds an authorization code may be redeemed in (RFC 6749 §4.1.2: short, 10 minutes at most; ours <= 60)
CODE_TTL = 60.0
#: a request id: 192 random bits, base64url
REQUEST_ID_BYTES = 24
#: requests, and login sessions' requests, a process keeps after writing them (a page's calls mostly come back to
#: the process that served it: its QR and its hand-back then read no copy from Redis)
RECENT_REQUESTS = 4096


class RequestGone(LoginInvalidRequest):
    """The page's authorization request expired (or never was): the person starts again from the site."""

    description = "This login page has expired. Go back to the site and log in again."


class AuthorizationStore(Protocol):
    async def save_request(self, request_id: str, record: str, ttl: float) -> None: ...

    def login_copy(self, request_id: str, ttl: float, gone: Callable[[], Exception]) -> Copy:
        """What a new login session carries: the request's record, copied for ``ttl`` (``gone()`` if expired)."""
        ...

    async def bound(self, uuid: str) -> str | None: ...


class CodeStore(Protocol):
    async def issue_code(self, grant: Grant, code_hash: str, expires_at_ms: int, ttl_ms: int, ip: str) -> bool:
        """Stores the grant's code; whether its ``code_issued`` audit entry was written with it."""
        ...

    def code_record(self, grant: Grant, code_hash: str, expires_at_ms: int, ttl_ms: int, ip: str) -> Record | None:
        """The grant's code (and its audit entry) for the login's exchange to write, its user the session's;
        None when the exchange cannot (then `issue_code` after it)."""
        ...


class Authorizations:
    """The authorization endpoint's steps; raises OAuthErrors, RedirectedErrors and the login flow's errors."""

    def __init__(
        self,
        clients: ClientRegistry,
        store: AuthorizationStore,
        grants: CodeStore,
        login: LoginService,
        events: ProviderEvents,
        *,
        session_ttl: float,
        code_ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.store = store
        self.grants = grants
        self.login = login
        self.events = events
        #: a login session lives this long at most: waiting, then confirmed until exchanged
        self._binding_ttl = session_ttl + code_ttl
        # What was written here, until (at the latest) Redis forgets it too; neither record ever changes.
        #: request id -> the request, as this process stored it
        self._requests: Recent[str, AuthorizationRequest] = Recent(RECENT_REQUESTS, clock)
        #: login session uuid -> the request it answers, as this process bound it
        self._logins: Recent[str, AuthorizationRequest] = Recent(RECENT_REQUESTS, clock)

    async def start(self, params: Parameters) -> tuple[str, AuthorizationRequest]:
        """The checked request and the id its page carries; an OAuthError for our page, a RedirectedError."""
        try:
            request = await validate(params, self.clients)
        except RedirectedError:
            self.events.authorization(Authorization.ERROR)
            raise
        except OAuthError:
            self.events.authorization(Authorization.REFUSED)
            raise
        request_id = secrets.token_urlsafe(REQUEST_ID_BYTES)
        until = self._requests.now() + REQUEST_TTL
        await self.store.save_request(request_id, request.record(), REQUEST_TTL)
        self._requests.put(request_id, request, until)
        self.events.authorization(Authorization.PAGE)
        return request_id, request

    async def new_login(self, request_id: str, requester: Requester) -> NewSession:
        """A login session (its QR) for the page of the request ``request_id``."""
        if not request_id:
            raise RequestGone()
        until = self._logins.now() + self._binding_ttl
        # The request itself, not its id, copied by the session's creation: the phone page and the hand-back
        # read it in one round trip (none, on this process, which keeps what it bound).
        session = await self.login.create(requester, self.store.login_copy(request_id, self._binding_ttl, RequestGone))
        request = self._requests.get(request_id)
        if request is not None:
            self._logins.put(session.uuid, request, until)
        return session

    async def asked_by(self, uuid: str) -> AuthorizationRequest | None:
        """The request the login session ``uuid`` answers (None: a first-party login, or gone)."""
        bound = self._logins.get(uuid)
        if bound is not None:
            return bound
        record = await self.store.bound(uuid)
        if record is None:
            return None
        try:
            return AuthorizationRequest.from_record(record)
        except ValueError:
            return None

    async def complete(self, cursor: Cursor, code: str | None, ip: str, issuer: str) -> str:
        """Where the tab with ``cursor`` goes back to: the client's redirect URI with a code, or with the denial.

        ``code`` is the session's one-time code once confirmed (None: denied).
        A retry after a lost answer gets the same redirect.
        """
        request = await self.asked_by(cursor.uuid)
        if request is None:
            raise RequestGone()
        if code is None:
            view = await self.login.store.read_for_cursor(cursor)
            if view.status is not Status.DENIED:
                raise LoginInvalidRequest("This login was not denied.")
            self.events.authorization(Authorization.DENIED)
            return redirect_to(request.redirect_uri, error_answer(AccessDenied()), state=request.state, issuer=issuer)
        grant_id = new_grant_id()
        authorization_code = new_token(grant_id)
        back = redirect_to(request.redirect_uri, {"code": authorization_code}, state=request.state, issuer=issuer)
        now = time.time()
        # The grant as it will be stored: its user is the session's, which the exchange learns.
        pending = Grant(
            grant_id=grant_id,
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            user=Identity(sub=""),
            auth_time=int(now),
            issuer=issuer,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
        )
        code_terms = (token_hash(authorization_code), math.floor((now + CODE_TTL) * 1000), int(CODE_TTL * 1000), ip)
        # A code exists only for a login handed over once.  On one server the exchange writes it (and its audit
        # entry) in the same step, and the redirect does not depend on the user: one round trip.
        record = self.grants.code_record(pending, *code_terms)
        handed = await self.login.hand_over(cursor, code, ip, back, record)
        if handed.first:
            grant = replace(pending, user=handed.user)
            written = record is not None
            if record is None:
                # After the hand-over.  Should this write fail, the (retried) redirect carries a code the token
                # endpoint refuses: the site says so.
                written = await self.grants.issue_code(grant, *code_terms)
            self.events.authorization(Authorization.CODE)
            await self.events.record(
                Event.CODE_ISSUED,
                written=written,
                grant=grant_id,
                client=request.client_id,
                user=handed.user.sub,
                ip=ip,
            )
        return handed.login
