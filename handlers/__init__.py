"""The Tornado handlers and the application that routes to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tornado.web import Application, url

from auth import Authenticator, TokenIssuer
from handlers.actions import CancelHandler, ConfirmHandler, ScanHandler
from handlers.base import BaseHandler, NotFoundHandler
from handlers.debug import DebugStatsHandler
from handlers.session import CreateSessionHandler, QrImageHandler
from handlers.token import MeHandler, TokenHandler
from handlers.wait import WaitHandler
from loopprobe import LoopLagProbe
from qrimage import QrRenderer
from redis_map import SessionStore, WaiterRegistry


@dataclass(frozen=True)
class Services:
    """The collaborators the handlers are given through ``initialize()``."""

    store: SessionStore
    registry: WaiterRegistry
    authenticator: Authenticator
    tokens: TokenIssuer
    renderer: QrRenderer
    #: the URL phones reach the service at; None: as the PC's request did
    public_url: str | None = None
    #: longest a /wait stays parked before answering with the current status
    wait_timeout: float = 25.0
    #: benchmarks only: the loop-lag probe; when set, ``/debug/stats`` is served
    probe: LoopLagProbe | None = None


def make_app(services: Services, **settings: Any) -> Application:
    """The qrlogin application, every handler wired to ``services``."""
    store = services.store
    actions = dict(store=store, authenticator=services.authenticator)
    routes = [
        url(r"/uuid", CreateSessionHandler, dict(store=store, public_url=services.public_url)),
        url(
            r"/qr/([0-9a-f]{32})\.(svg|png)",
            QrImageHandler,
            dict(store=store, renderer=services.renderer, public_url=services.public_url),
        ),
        url(r"/wait", WaitHandler, dict(store=store, registry=services.registry, wait_timeout=services.wait_timeout)),
        url(r"/scan", ScanHandler, actions),
        url(r"/confirm", ConfirmHandler, actions),
        url(r"/cancel", CancelHandler, actions),
        url(r"/token", TokenHandler, dict(store=store, tokens=services.tokens)),
        url(r"/me", MeHandler, dict(tokens=services.tokens)),
    ]
    if services.probe is not None:
        routes.append(url(r"/debug/stats", DebugStatsHandler, dict(registry=services.registry, probe=services.probe)))
    return Application(routes, default_handler_class=NotFoundHandler, **settings)


__all__ = ["BaseHandler", "Services", "make_app"]
