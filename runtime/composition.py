"""The composition root: every object the service runs on, built from Settings in one place.

``main.py`` serves what this builds, the tests build their instances here, and
the benchmark runs ``main.py``; nothing else constructs the service's parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from tornado.httputil import HTTPServerConnectionDelegate
from tornado.web import Application

import diagnostics
from auth import Authenticator, DemoAuthenticator, TokenIssuer, UserInfoClient
from auth.measured import MeasuredAuthenticator
from auth.tokens import ISSUER
from handlers import Services, make_app
from handlers.middleware.proxy import behind_proxies
from handlers.middleware.security import HttpPolicy
from handlers.ops import Reachability, metrics_app
from login.events import LoginEvents
from login.qr import QrRenderer
from login.service import LoginService
from login.waiters import WaiterRegistry
from redis_map import ChangeListener, SessionStore, connect, connect_pubsub
from redis_map.audit import AuditLog, AuditSweeper
from redis_map.connection.connect import RedisClient
from redis_map.keys import KeySpace
from redis_map.ratelimit import RateLimiter
from runtime.metrics import Metrics
from runtime.provider_parts import build_provider, open_key_ring
from runtime.settings import Settings
from runtime.shutdown import Shutdown

log = logging.getLogger("qrlogin")


def build_tokens(settings: Settings) -> TokenIssuer:
    """The login-token issuer (its TTL and issuer); ``open_service`` binds it to the shared signing keys."""
    if settings.secret:
        log.warning("--secret is deprecated and ignored: login tokens are RS256, signed with the shared keys")
    return TokenIssuer(ttl=settings.token_ttl, issuer=settings.oidc_issuer or ISSUER)


def build_authenticator(settings: Settings) -> Authenticator:
    """The check of the app's credential: the UserInfo endpoint, or demo identities (said loudly)."""
    if settings.auth_url:
        return UserInfoClient(settings.auth_url, timeout=settings.auth_timeout)
    log.warning("=" * 72)
    log.warning("DEMO MODE: no --auth-url; anyone sending 'Bearer demo:<name>' is <name>.")
    log.warning("Never expose this to real users.")
    log.warning("=" * 72)
    return DemoAuthenticator()


#: longest one part of the service (the listener, the sweep, a Redis client) may take to close at a
#: stop; past it the stop goes on without it, so one stuck part cannot hold the process
CLOSE_TIMEOUT = 3.0


class Closing:
    """What a stopping service is waiting for now: the stop deadline's last line names it."""

    def __init__(self) -> None:
        self.waiting_for = "the stop to begin"

    def bounded(self, what: str, close: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """``close`` as an exit callback that says what it waits for and gives up after CLOSE_TIMEOUT."""

        async def run() -> None:
            self.waiting_for = what
            task = asyncio.ensure_future(close())
            # asyncio.wait, not wait_for: wait_for waits for the cancelled close to end, which a task
            # that swallows its cancellation never does.
            done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
            if not done:
                task.add_done_callback(lambda finished: finished.cancelled() or finished.exception())
                log.warning("stopping: %s did not finish in %.0fs; going on without it", what, CLOSE_TIMEOUT)

        return run


@dataclass(frozen=True)
class Service:
    """One running instance's parts, for whoever serves or inspects it."""

    settings: Settings
    redis: RedisClient
    store: SessionStore
    registry: WaiterRegistry
    listener: ChangeListener
    metrics: Metrics
    audit: AuditLog
    login: LoginService
    #: what the handlers are given
    services: Services
    app: Application
    #: the app behind the trusted proxies: what the HTTP server serves
    delegate: HTTPServerConnectionDelegate
    #: /metrics alone, when it has a port of its own (--metrics-port); else None
    metrics_app: Application | None = None
    #: what a stop is waiting for
    closing: Closing = field(default_factory=Closing)


@asynccontextmanager
async def open_audit_log(settings: Settings) -> AsyncIterator[AuditLog]:
    """The audit stream of the service that ``settings`` describe, for reading it (``python main.py audit``)."""
    redis = connect(settings.redis_url)
    try:
        yield AuditLog(redis, KeySpace(settings.namespace))
    finally:
        await redis.aclose()


@asynccontextmanager
async def open_service(
    settings: Settings,
    redis_url: str,
    *,
    tokens: TokenIssuer | None = None,
    authenticator: Authenticator | None = None,
    demo: bool | None = None,
    listen: bool = True,
    sweep: bool = True,
    closing: Closing | None = None,
) -> AsyncIterator[Service]:
    """Build the service on ``redis_url``, start its background tasks, and close it all on exit.

    ``authenticator`` replaces the one the settings name (tests bring their
    own, with ``demo`` saying whether the phone page offers demo identities);
    ``listen`` and ``sweep`` start the change listener and the audit sweep.
    Each part closes within CLOSE_TIMEOUT, saying so on ``closing``.
    ``tokens`` gives the login token's terms (default: from ``settings``); it
    is bound to the signing keys here.
    """
    closing = closing or Closing()
    async with AsyncExitStack() as stack:
        redis = connect(redis_url)
        stack.push_async_callback(closing.bounded("the Redis client to close", redis.aclose))
        pubsub_redis = connect_pubsub(redis_url)
        stack.push_async_callback(closing.bounded("the pub/sub client to close", pubsub_redis.aclose))
        namespace = settings.namespace

        store = SessionStore(redis, namespace=namespace, session_ttl=settings.session_ttl, code_ttl=settings.code_ttl)
        registry = WaiterRegistry()
        listener = ChangeListener(pubsub_redis, store.keys, registry)
        if listen:
            await listener.start()
        stack.push_async_callback(closing.bounded("the change listener to stop", listener.stop))

        metrics = Metrics()
        audit = AuditLog(redis, store.keys)
        events = LoginEvents(metrics, audit, code_ttl=settings.code_ttl)
        if sweep:
            sweeper = AuditSweeper(audit, on_expired=events.expired)
            sweeper.start()
            stack.push_async_callback(closing.bounded("the audit sweep to stop", sweeper.stop))

        if authenticator is None:  # else the caller's, and the caller closes it
            authenticator = build_authenticator(settings)
            stack.callback(authenticator.close)
        limiter = RateLimiter(
            redis, namespace=namespace, limits=settings.rate_limits, wait_timeout=settings.wait_timeout
        )
        renderer = QrRenderer()
        keys = await stack.enter_async_context(open_key_ring(settings, redis))
        tokens = (tokens or build_tokens(settings)).bound(keys)
        login = LoginService(store, MeasuredAuthenticator(authenticator, metrics), limiter, events, tokens, renderer)
        provider = build_provider(settings, redis, keys, login, metrics)

        services = Services(
            login=login,
            store=store,
            registry=registry,
            tokens=tokens,
            metrics=metrics,
            limiter=limiter,
            public_url=settings.public_url,
            wait_timeout=settings.wait_timeout,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            demo=settings.demo if demo is None else demo,
            idle_codes=settings.idle_codes,
            branding=settings.branding,
            policy=HttpPolicy(cors_origins=settings.cors_origins),
            listener=listener,
            auth_check=Reachability(settings.auth_url) if settings.auth_url else None,
            serve_metrics=settings.metrics_port is None,
            shutdown=Shutdown(),
            provider=provider,
        )
        app = make_app(services)
        if settings.loop_probe:  # benchmarks: the diagnostics plug-in
            probe = diagnostics.start_probe()
            stack.callback(probe.stop)
            app.add_handlers(r".*", diagnostics.routes(registry, probe))
        yield Service(
            settings=settings,
            redis=redis,
            store=store,
            registry=registry,
            listener=listener,
            metrics=metrics,
            audit=audit,
            login=login,
            services=services,
            app=app,
            delegate=behind_proxies(app, settings.trusted_proxies),
            metrics_app=None if settings.metrics_port is None else metrics_app(metrics),
            closing=closing,
        )
