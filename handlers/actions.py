"""The app's actions on a session: ``/scan``, ``/confirm``, ``/cancel``.

Each reads as: validate the input, check the app's credential with the auth
server, then make the one atomic transition.  If any step fails, the session
is unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from auth import Authenticator
from handlers.base import MAX_CREDENTIAL, BaseHandler
from login.errors import InvalidRequest, MissingCredential
from login.events import LoginEvents
from login.models import UUID_PATTERN, Identity
from redis_map import SessionStore
from redis_map.ratelimit import RateLimiter

#: a bearer credential, RFC 6750's token68 syntax
BEARER = re.compile(r"Bearer +([A-Za-z0-9._~+/:@-]+=*) *", re.IGNORECASE)


class ActionHandler(BaseHandler):
    """Shared flow of the app's actions; subclasses make the transition."""

    def initialize(
        self, store: SessionStore, authenticator: Authenticator, limiter: RateLimiter, events: LoginEvents
    ) -> None:
        self.store = store
        self.authenticator = authenticator
        self.limiter = limiter
        self.events = events

    async def post(self) -> None:
        body = self.json_body()
        uuid = self.str_field(body, "uuid", UUID_PATTERN)
        credential = self.credential(body)
        await self.limiter.check_action(self.request.remote_ip or "")
        user = await self.authenticator.identify(credential)
        await self.limiter.check_user_action(user.sub)
        self.write_json(await self.act(uuid, user))

    async def record(self, outcome: str, uuid: str, user: Identity) -> None:
        await self.events.outcome(outcome, uuid, user=user.sub, ip=self.request.remote_ip or "")

    def credential(self, body: dict[str, Any]) -> str:
        """The app's ``Authorization`` header, or the body's ``authorization`` field."""
        value = self.request.headers.get("Authorization")
        if value is None:
            value = body.get("authorization")
            if value is not None and not isinstance(value, str):
                raise InvalidRequest("'authorization' must be a string.")
            if value and " " not in value.strip():
                value = f"Bearer {value.strip()}"
        if not value:
            raise MissingCredential()
        match = BEARER.fullmatch(value) if len(value) <= MAX_CREDENTIAL else None
        if match is None:
            raise MissingCredential("The credential must be 'Bearer <token>'.")
        return f"Bearer {match.group(1)}"

    async def act(self, uuid: str, user: Identity) -> dict[str, Any]:
        raise NotImplementedError


class ScanHandler(ActionHandler):
    """waiting -> scanned; answers with the requesting PC (and who scanned) so the app can show it."""

    async def act(self, uuid: str, user: Identity) -> dict[str, Any]:
        view = await self.store.scan(uuid, user)
        requester = view.requester.as_json() if view.requester else None
        return {
            "status": int(view.status),
            "state": view.status.state,
            "requester": requester,
            "user": user.as_json(),
            "expires_in": view.expires_in,
        }


class ConfirmHandler(ActionHandler):
    """waiting/scanned -> confirmed; the PC's waiters wake with a one-time code."""

    async def act(self, uuid: str, user: Identity) -> dict[str, Any]:
        status = await self.store.confirm(uuid, user)
        await self.record("confirmed", uuid, user)
        return {"status": 200, "state": status.state}


class CancelHandler(ActionHandler):
    """waiting/scanned -> denied; final."""

    async def act(self, uuid: str, user: Identity) -> dict[str, Any]:
        status = await self.store.cancel(uuid, user)
        await self.record("denied", uuid, user)
        return {"status": int(status), "state": status.state}
