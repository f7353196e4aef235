"""``POST /uuid`` (a new login session for the PC) and its QR image."""

from __future__ import annotations

import time

from tornado.httputil import HTTPServerRequest

from handlers.base import BaseHandler
from login.models import Requester
from login.qr import QrRenderer
from login.service import LoginService
from redis_map import SessionStore

_CONTENT_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def public_base(public_url: str | None, request: HTTPServerRequest) -> str:
    """The service's public URL: as configured, else as the PC reached us."""
    if public_url:
        return public_url.rstrip("/")
    return f"{request.protocol}://{request.host}"


def qr_content(base: str, uuid: str) -> str:
    """What the QR encodes: the phone page of the session."""
    return f"{base}/s/{uuid}"


class CreateSessionHandler(BaseHandler):
    """Starts a session, recording who asks so the phone can show it."""

    def initialize(self, login: LoginService, public_url: str | None) -> None:
        self.login = login
        self.public_url = public_url

    async def post(self) -> None:
        self.json_body()  # nothing is read from it, but a malformed one is still refused
        requester = Requester(
            ip=self.request.remote_ip or "",
            user_agent=self.request.headers.get("User-Agent", ""),
            created_at=time.time(),
        )
        session = await self.login.create(requester)
        self.write_json(
            {
                "uuid": session.uuid,
                "cursor": str(session.cursor),
                "status": 0,
                "state": "waiting",
                "expires_in": session.expires_in,
                "qr_content": qr_content(public_base(self.public_url, self.request), session.uuid),
                "qr_svg": f"/qr/{session.uuid}.svg",
                "qr_png": f"/qr/{session.uuid}.png",
            }
        )


class QrImageHandler(BaseHandler):
    """``GET /qr/<uuid>.svg|png``: the session's QR; 404 once it is gone."""

    def initialize(self, store: SessionStore, renderer: QrRenderer, public_url: str | None) -> None:
        self.store = store
        self.renderer = renderer
        self.public_url = public_url

    async def get(self, uuid: str, kind: str) -> None:
        view = await self.store.require(uuid)
        content = qr_content(public_base(self.public_url, self.request), uuid)
        image = await self.renderer.image(content, kind)
        self.set_header("Content-Type", _CONTENT_TYPES[kind])
        self.set_header("Cache-Control", f"private, max-age={view.expires_in}")
        self.finish(image)
