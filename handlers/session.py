"""``POST /uuid`` (a new login session for the PC) and its QR image."""

from __future__ import annotations

import re
import time
from typing import Any

from tornado.httputil import HTTPServerRequest

from handlers.base import BaseHandler
from login.errors import InvalidRequest
from login.models import NewSession, Requester
from login.service import LoginService, phone_url

_CONTENT_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
#: a Host header the QR may point phones at: a DNS name, an IPv4 address or a bracketed IPv6 one, and a port
HOST_PATTERN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)
#: longest Host taken from a request (a DNS name is at most 253 characters)
MAX_HOST = 260


def public_base(public_url: str | None, request: HTTPServerRequest) -> str:
    """The service's public URL: as configured, else as the PC reached us (its Host checked)."""
    if public_url:
        return public_url.rstrip("/")
    host = request.host
    if len(host) > MAX_HOST or not HOST_PATTERN.fullmatch(host):
        raise InvalidRequest("The Host header is not a host name the QR code can point to; set --public-url.")
    return f"{request.protocol}://{host}"


def requester_of(request: HTTPServerRequest, base: str) -> Requester:
    """The PC a request comes from, as the phone is shown it; ``base`` is where it reached us."""
    return Requester(
        ip=request.remote_ip or "",
        user_agent=request.headers.get("User-Agent", ""),
        created_at=time.time(),
        reached_at=base,
    )


def new_session_answer(session: NewSession, base: str) -> dict[str, Any]:
    """What the PC gets for a new session: the public uuid and QR, the secret cursor."""
    return {
        "uuid": session.uuid,
        "cursor": str(session.cursor),
        "status": 0,
        "state": "waiting",
        "expires_in": session.expires_in,
        "qr_content": phone_url(base, session.uuid),
        "qr_svg": f"/qr/{session.uuid}.svg",
        "qr_png": f"/qr/{session.uuid}.png",
    }


class CreateSessionHandler(BaseHandler):
    """Starts a session, recording who asks so the phone can show it."""

    def initialize(self, login: LoginService, public_url: str | None) -> None:
        self.login = login
        self.public_url = public_url

    async def post(self) -> None:
        self.json_body()  # nothing is read from it, but a malformed one is still refused
        base = public_base(self.public_url, self.request)
        requester = requester_of(self.request, base)
        session = await self.login.create(requester)
        self.write_json(new_session_answer(session, base))


class QrImageHandler(BaseHandler):
    """``GET /qr/<uuid>.svg|png``: the session's QR; 404 once it is gone."""

    def initialize(self, login: LoginService, public_url: str | None) -> None:
        self.login = login
        self.public_url = public_url

    async def get(self, uuid: str, kind: str) -> None:
        image = await self.login.qr_image(
            uuid, kind, self.request.remote_ip or "", lambda: public_base(self.public_url, self.request)
        )
        self.set_header("Content-Type", _CONTENT_TYPES[kind])
        self.set_header("Cache-Control", f"private, max-age={image.expires_in}")
        self.finish(image.data)
