"""The Tornado handlers and the application that routes to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tornado.web import Application, url

from auth import Authenticator, TokenIssuer
from auth.measured import MeasuredAuthenticator
from diagnostics.debug import DebugStatsHandler
from diagnostics.loopprobe import LoopLagProbe
from handlers.actions import CancelHandler, ConfirmHandler, ScanHandler
from handlers.base import BaseHandler, NotFoundHandler
from handlers.middleware.accesslog import InFlight, RequestLog
from handlers.middleware.security import HttpPolicy, security_transform
from handlers.ops import HealthHandler, MetricsHandler, ReadyHandler
from handlers.pages import LoginPageHandler, PageNotFoundHandler, PhonePageHandler, load_translations, page_settings
from handlers.session import CreateSessionHandler, QrImageHandler
from handlers.token import MeHandler, TokenHandler
from handlers.wait import WaitHandler
from login.events import LoginEvents
from login.qr import QrRenderer
from login.waiters import WaiterRegistry
from redis_map import ChangeListener, SessionStore
from redis_map.audit import AuditLog
from redis_map.ratelimit import RateLimiter
from runtime.metrics import Metrics


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
    #: demo mode: the phone page offers demo identities (the auth accepts ``Bearer demo:<name>``)
    demo: bool = False
    #: fresh codes the PC page fetches on expiry with nobody scanning, before it stops and asks
    idle_codes: int = 5
    #: abuse limits; None: none
    limiter: RateLimiter | None = None
    #: where login outcomes are appended; None: metrics only
    audit: AuditLog | None = None
    #: the metrics (a fresh set when None)
    metrics: Metrics | None = None
    #: security headers and the origins allowed cross-origin
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    #: the change subscription, for /readyz
    listener: ChangeListener | None = None
    #: the requests in flight, for a graceful stop
    in_flight: InFlight = field(default_factory=InFlight)
    #: benchmarks only: the loop-lag probe; when set, ``/debug/stats`` is served
    probe: LoopLagProbe | None = None


def make_app(services: Services, **settings: Any) -> Application:
    """The qrlogin application, every handler wired to ``services``."""
    store = services.store
    metrics = services.metrics or Metrics()
    limiter = services.limiter or RateLimiter.off()
    events = LoginEvents(metrics, services.audit, code_ttl=store.code_ttl)
    authenticator = MeasuredAuthenticator(services.authenticator, metrics)
    actions = dict(store=store, authenticator=authenticator, limiter=limiter, events=events)
    routes = [
        url(
            r"/uuid",
            CreateSessionHandler,
            dict(store=store, public_url=services.public_url, limiter=limiter, events=events),
        ),
        url(
            r"/qr/([0-9a-f]{32})\.(svg|png)",
            QrImageHandler,
            dict(store=store, renderer=services.renderer, public_url=services.public_url),
        ),
        url(
            r"/wait",
            WaitHandler,
            dict(
                store=store,
                registry=services.registry,
                wait_timeout=services.wait_timeout,
                limiter=limiter,
                metrics=metrics,
            ),
        ),
        url(r"/scan", ScanHandler, actions),
        url(r"/confirm", ConfirmHandler, actions),
        url(r"/cancel", CancelHandler, actions),
        url(r"/token", TokenHandler, dict(store=store, tokens=services.tokens, events=events)),
        url(r"/me", MeHandler, dict(tokens=services.tokens)),
        url(r"/", LoginPageHandler, dict(idle_codes=services.idle_codes)),
        url(r"/s/([0-9a-f]{32})", PhonePageHandler, dict(store=store, demo=services.demo)),
        url(r"/s/.*", PageNotFoundHandler),
        url(r"/healthz", HealthHandler),
        url(r"/readyz", ReadyHandler, dict(store=store, registry=services.registry, listener=services.listener)),
        url(r"/metrics", MetricsHandler, dict(metrics=metrics)),
    ]
    if services.probe is not None:
        routes.append(url(r"/debug/stats", DebugStatsHandler, dict(registry=services.registry, probe=services.probe)))
    settings.setdefault("log_function", RequestLog(metrics))
    settings.setdefault("http_policy", services.policy)
    load_translations()
    app = Application(routes, default_handler_class=NotFoundHandler, **{**page_settings(), **settings})
    app.add_transform(services.in_flight.transform())
    app.add_transform(security_transform(services.policy))
    return app


__all__ = ["BaseHandler", "Services", "make_app"]
