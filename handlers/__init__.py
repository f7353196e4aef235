"""The Tornado handlers and the application that routes to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tornado.web import Application, url

from auth import TokenIssuer
from handlers.actions import CancelHandler, ConfirmHandler, ScanHandler
from handlers.base import MAX_JSON_BODY, BaseHandler, NotFoundHandler
from handlers.branding import DEFAULT_BRANDING, Branding
from handlers.middleware.accesslog import InFlight, RequestLog
from handlers.middleware.answers import answer_transform
from handlers.middleware.security import HttpPolicy
from handlers.oauth import oauth_routes
from handlers.ops import HealthHandler, MetricsHandler, Reachability, ReadyHandler
from handlers.page_routes import load_translations, page_routes, page_settings
from handlers.push import PING_INTERVAL, PING_TIMEOUT, OpenConnections
from handlers.session import CreateSessionHandler, QrImageHandler
from handlers.socket import SocketHandler
from handlers.stream import StreamHandler
from handlers.token import MeHandler, TokenHandler
from handlers.wait import WaitHandler
from login.service import LoginService
from login.waiters import WaiterRegistry
from login.waiting import ChangeWaiter
from oidc.provider import Provider
from redis_map import ChangeListener, SessionStore
from redis_map.ratelimit import RateLimiter
from runtime.metrics import Metrics
from runtime.shutdown import Shutdown


@dataclass(frozen=True)
class Services:
    """The collaborators the handlers are given through ``initialize()``."""

    #: the login flow's steps
    login: LoginService
    store: SessionStore
    registry: WaiterRegistry
    #: checks login tokens at /me
    tokens: TokenIssuer
    metrics: Metrics
    #: abuse limits (the /wait slots)
    limiter: RateLimiter
    #: the URL phones reach the service at; None: as the PC's request did
    public_url: str | None = None
    #: longest a /wait stays parked before answering with the current status
    wait_timeout: float = 25.0
    #: seconds between heartbeats: /ws pings, /events comments
    ping_interval: float = PING_INTERVAL
    #: seconds a /ws peer has to answer a ping before it is dropped
    ping_timeout: float = PING_TIMEOUT
    #: demo mode: the phone page offers demo identities (the auth accepts ``Bearer demo:<name>``)
    demo: bool = False
    #: fresh codes the PC page fetches on expiry with nobody scanning, before it stops and asks
    idle_codes: int = 5
    #: the product's name and logo on the pages, and where the PC goes once logged in
    branding: Branding = DEFAULT_BRANDING
    #: security headers and the origins allowed cross-origin
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    #: the change subscription, for /readyz
    listener: ChangeListener | None = None
    #: whether the auth server accepts connections, for /readyz (None: demo mode, no auth server)
    auth_check: Reachability | None = None
    #: /metrics on the main app (False: it has a port of its own)
    serve_metrics: bool = True
    #: the requests in flight, for a graceful stop
    in_flight: InFlight = field(default_factory=InFlight)
    #: whether the process is stopping
    shutdown: Shutdown = field(default_factory=Shutdown)
    #: the OpenID provider's parts (None: its routes are not mounted)
    provider: Provider | None = None
    #: the WebSockets and event streams open, for a graceful stop
    connections: OpenConnections = field(default_factory=OpenConnections)


def make_app(services: Services, **settings: Any) -> Application:
    """The qrlogin application, every handler wired to ``services``."""
    store = services.store
    metrics = services.metrics
    limiter = services.limiter
    actions = dict(login=services.login)
    # One waiter for every transport: /wait, /ws and /events park alike, woken by one subscription.
    waiter = ChangeWaiter(store, services.registry, limiter, metrics, services.wait_timeout, shutdown=services.shutdown)
    push = dict(waiter=waiter, connections=services.connections, metrics=metrics)
    routes = [
        url(
            r"/uuid",
            CreateSessionHandler,
            dict(login=services.login, public_url=services.public_url),
        ),
        url(
            r"/qr/([0-9a-f]{32})\.(svg|png)",
            QrImageHandler,
            dict(login=services.login, public_url=services.public_url),
        ),
        url(r"/wait", WaitHandler, dict(waiter=waiter)),
        url(r"/ws", SocketHandler, dict(push, policy=services.policy)),
        url(r"/events", StreamHandler, dict(push, heartbeat=services.ping_interval)),
        url(r"/scan", ScanHandler, actions),
        url(r"/confirm", ConfirmHandler, actions),
        url(r"/cancel", CancelHandler, actions),
        url(r"/token", TokenHandler, actions),
        url(r"/me", MeHandler, dict(tokens=services.tokens)),
        # The provider's first: its phone page names the site asking, for logins that answer one.
        *(
            oauth_routes(
                services.provider,
                store=store,
                public_url=services.public_url,
                demo=services.demo,
                idle_codes=services.idle_codes,
                branding=services.branding,
            )
            if services.provider is not None
            else []
        ),
        *page_routes(store, demo=services.demo, idle_codes=services.idle_codes, branding=services.branding),
        url(r"/healthz", HealthHandler),
        url(
            r"/readyz",
            ReadyHandler,
            dict(store=store, shutdown=services.shutdown, listener=services.listener, auth=services.auth_check),
        ),
        *([url(r"/metrics", MetricsHandler, dict(metrics=metrics))] if services.serve_metrics else []),
    ]
    settings.setdefault("log_function", RequestLog(metrics))
    settings.setdefault("http_policy", services.policy)
    # Tornado's own heartbeat for /ws: a ping every interval, a peer silent past the timeout is dropped.
    settings.setdefault("websocket_ping_interval", services.ping_interval)
    settings.setdefault("websocket_ping_timeout", services.ping_timeout)
    # A first message is a cursor and a status: refuse anything the size of a JSON body we would refuse.
    settings.setdefault("websocket_max_message_size", MAX_JSON_BODY)
    load_translations()
    app = Application(routes, default_handler_class=NotFoundHandler, **{**page_settings(), **settings})
    app.add_transform(answer_transform(services.policy, services.in_flight))
    return app


__all__ = ["BaseHandler", "Services", "make_app"]
