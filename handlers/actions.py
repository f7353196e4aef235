"""The app's actions on a session: ``/scan``, ``/confirm``, ``/cancel``.

Each parses the uuid and the app's credential, hands them to the LoginService
(which checks the credential with the auth server and makes the one atomic
transition), and serialises what it answers.
"""

from __future__ import annotations

import re
from typing import Any

from handlers.base import MAX_CREDENTIAL, BaseHandler
from login.errors import InvalidRequest, MissingCredential
from login.models import UUID_PATTERN
from login.service import LoginService

#: a bearer credential, RFC 6750's token68 syntax
BEARER = re.compile(r"Bearer +([A-Za-z0-9._~+/:@-]+=*) *", re.IGNORECASE)


class ActionHandler(BaseHandler):
    """Shared parsing of the app's actions; subclasses call their step of the flow."""

    def initialize(self, login: LoginService) -> None:
        self.login = login

    async def post(self) -> None:
        body = self.json_body()
        uuid = self.str_field(body, "uuid", UUID_PATTERN)
        credential = self.credential(body)
        self.write_json(await self.act(uuid, credential, self.request.remote_ip or ""))

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

    async def act(self, uuid: str, credential: str, ip: str) -> dict[str, Any]:
        raise NotImplementedError


class ScanHandler(ActionHandler):
    """waiting -> scanned; answers with the requesting PC (and who scanned) so the app can show it."""

    async def act(self, uuid: str, credential: str, ip: str) -> dict[str, Any]:
        scanned = await self.login.scan(uuid, credential, ip)
        view = scanned.view
        return {
            "status": int(view.status),
            "state": view.status.state,
            "requester": view.requester.as_json() if view.requester else None,
            "user": scanned.user.as_json(),
            "expires_in": view.expires_in,
        }


class ConfirmHandler(ActionHandler):
    """scanned -> confirmed; the PC's waiters wake with a one-time code."""

    async def act(self, uuid: str, credential: str, ip: str) -> dict[str, Any]:
        status = await self.login.confirm(uuid, credential, ip)
        return {"status": 200, "state": status.state}


class CancelHandler(ActionHandler):
    """waiting/scanned -> denied; final."""

    async def act(self, uuid: str, credential: str, ip: str) -> dict[str, Any]:
        status = await self.login.cancel(uuid, credential, ip)
        return {"status": int(status), "state": status.state}
