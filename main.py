"""qrlogin: scan a QR code with the mobile app to log in on the PC.

``python main.py`` runs on an embedded Redis with demo auth; see ``--help``.
Every option can also be set from the environment as ``QRLOGIN_<NAME>``
(``QRLOGIN_REDIS_URL``, ...); the command line wins.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.options import define, options, parse_command_line

from auth import Authenticator, DemoAuthenticator, TokenIssuer, UserInfoClient
from diagnostics.loopprobe import LoopLagProbe
from handlers import Services, make_app
from handlers.middleware.proxy import TrustedProxies, behind_proxies
from handlers.middleware.security import HttpPolicy, parse_origins
from login.events import LoginEvents
from login.qr import QrRenderer
from login.waiters import WaiterRegistry
from redis_map import ChangeListener, EmbeddedRedis, SessionStore, connect, connect_pubsub
from redis_map.audit import AuditLog, AuditSweeper
from redis_map.connection.connect import redis_url_of
from redis_map.ratelimit import RateLimiter, RateLimits
from runtime import audit_cli
from runtime.metrics import Metrics, mark_process_dead, prepare_multiprocess
from runtime.process import LISTEN_BACKLOG, event_loop_factory, raise_fd_limit
from runtime.supervisor import Supervisor, worker_count

log = logging.getLogger("qrlogin")

#: prefix of the environment variables that set options
ENV_PREFIX = "QRLOGIN_"
#: largest request body the server reads at all (the API refuses >16 KiB itself)
MAX_BODY_SIZE = 1024 * 1024
#: how long shutdown waits for in-flight requests
SHUTDOWN_GRACE = 10.0

define("port", default=8080, type=int, help="port to listen on (0: any free port)")
define("address", default="", type=str, help="address to listen on ('': all interfaces)")
define("redis_url", default="", type=str, help="Redis URL (redis+cluster://, redis+sentinel:// too); none: embedded")
define("redis_cluster", default=False, type=bool, help="--redis-url names a node of a Redis Cluster")
define("processes", default=1, type=int, help="worker processes sharing the port (0: one per core)")
define("trusted_proxies", default="", type=str, help="IPs/CIDRs of proxies whose X-Forwarded-For is believed")
define("auth_url", default="", type=str, help="the OIDC UserInfo URL that checks the app's token; none: demo mode")
define("public_url", default="", type=str, help="the URL phones reach the service at; none: as the PC's request")
define("secret", default="", type=str, help="HMAC secret signing login tokens (share it across instances)")
define("session_ttl", default=120.0, type=float, help="seconds a login session lives before it is confirmed")
define("wait_timeout", default=25.0, type=float, help="seconds a /wait stays parked before answering")
define("code_ttl", default=60.0, type=float, help="seconds the PC has to exchange the code once confirmed")
define("token_ttl", default=3600, type=int, help="seconds a login token from /token stays valid")
define("auth_timeout", default=5.0, type=float, help="seconds to wait for the auth server")
define("namespace", default="qrlogin", type=str, help="prefix of every Redis key and channel")
define("rate_limit", default="on", type=str, help="abuse limits: on, off, or overrides like 'uuid_ip=30/60,wait_ip=50'")
define("cors_origins", default="", type=str, help="comma-separated origins allowed to call the API cross-origin")
define("event_loop", default="uvloop", type=str, help="the event loop: uvloop (faster), or asyncio's own")
define("loop_probe", default=False, type=bool, help="benchmarks: measure event-loop stalls, served at /debug/stats")


def env_arguments(environ: Mapping[str, str]) -> list[str]:
    """Command-line arguments for the options set in the environment."""
    arguments = []
    for name in options.as_dict():
        value = environ.get(ENV_PREFIX + name.upper().replace("-", "_"))
        if value is not None:
            arguments.append(f"--{name}={value}")
    return arguments


def build_authenticator() -> Authenticator:
    if options.auth_url:
        return UserInfoClient(options.auth_url, timeout=options.auth_timeout)
    log.warning("=" * 72)
    log.warning("DEMO MODE: no --auth-url; anyone sending 'Bearer demo:<name>' is <name>.")
    log.warning("Never expose this to real users.")
    log.warning("=" * 72)
    return DemoAuthenticator()


def token_secret() -> str:
    if options.secret:
        return str(options.secret)
    log.warning("no --secret: login tokens are signed with a random key and die with this process")
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Startup:
    """The options main() read and checked before listening (and forking); ``serve()`` builds on them."""

    redis_url: str
    proxies: TrustedProxies
    limits: RateLimits | None  # None: the abuse limits are off
    cors_origins: frozenset[str]
    #: built before any fork, so every worker signs with the one key, even a random one
    tokens: TokenIssuer
    new_loop: Callable[[], asyncio.AbstractEventLoop]

    @classmethod
    def from_options(cls) -> Startup:
        """ValueError says which option is wrong."""
        return cls(
            redis_url=redis_url_of(options.redis_url, cluster=options.redis_cluster),
            proxies=TrustedProxies.parse(options.trusted_proxies),
            limits=RateLimits.parse(options.rate_limit),
            cors_origins=parse_origins(options.cors_origins),
            tokens=TokenIssuer(token_secret(), ttl=options.token_ttl),  # refuses a secret too short
            new_loop=event_loop_factory(options.event_loop),
        )


async def serve(startup: Startup, redis_url: str, sockets: list[socket.socket]) -> None:
    """Run the service on ``sockets`` until SIGINT or SIGTERM, then stop gracefully.

    Stopping: no new connections; every parked /wait answers at once with its
    current state; requests in flight (a confirm waiting on the auth server)
    finish, for up to SHUTDOWN_GRACE; then Redis is closed.
    """
    running = type(asyncio.get_running_loop())
    log.info("event loop: %s.%s", running.__module__, running.__qualname__)
    async with AsyncExitStack() as stack:
        redis = connect(redis_url)
        stack.push_async_callback(redis.aclose)
        pubsub_redis = connect_pubsub(redis_url)
        stack.push_async_callback(pubsub_redis.aclose)

        store = SessionStore(
            redis, namespace=options.namespace, session_ttl=options.session_ttl, code_ttl=options.code_ttl
        )
        registry = WaiterRegistry()
        listener = ChangeListener(pubsub_redis, store.channel, registry)
        await listener.start()
        stack.push_async_callback(listener.stop)

        metrics = Metrics()
        audit_log = AuditLog(redis, namespace=options.namespace, session_key=store.key)
        sweeper = AuditSweeper(audit_log, on_expired=LoginEvents(metrics).expired)
        sweeper.start()
        stack.push_async_callback(sweeper.stop)

        authenticator = build_authenticator()
        stack.callback(authenticator.close)

        probe = LoopLagProbe() if options.loop_probe else None
        if probe is not None:
            probe.start()
            stack.callback(probe.stop)

        services = Services(
            store=store,
            registry=registry,
            authenticator=authenticator,
            tokens=startup.tokens,
            renderer=QrRenderer(),
            public_url=options.public_url or None,
            wait_timeout=options.wait_timeout,
            demo=not options.auth_url,
            limiter=RateLimiter(
                redis,
                namespace=options.namespace,
                limits=startup.limits,
                wait_timeout=options.wait_timeout,
            ),
            audit=audit_log,
            metrics=metrics,
            policy=HttpPolicy(cors_origins=startup.cors_origins),
            listener=listener,
            probe=probe,
        )
        server = HTTPServer(behind_proxies(make_app(services), startup.proxies), max_body_size=MAX_BODY_SIZE)
        server.add_sockets(sockets)

        # Start-up's objects (modules, clients, the app) live as long as the
        # process: keep them out of every full garbage collection, which would
        # otherwise traverse them all and stall the loop (~20 ms in the bench).
        gc.freeze()

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()

        log.info("shutting down")
        server.stop()
        # Answer every parked /wait now, so browsers re-poll another instance.
        registry.closing = True
        registry.notify_all()
        if not await services.in_flight.idle(SHUTDOWN_GRACE):
            log.warning("%d requests were still in flight after %.0fs", services.in_flight.count, SHUTDOWN_GRACE)
        try:
            await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)
        except TimeoutError:
            log.warning("some connections were still open after %.0fs", SHUTDOWN_GRACE)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if argv[1:2] == ["audit"]:
        sys.exit(audit_cli.run(argv[2:], os.environ))
    parse_command_line([argv[0], *env_arguments(os.environ), *argv[1:]])
    try:
        startup = Startup.from_options()
    except ValueError as exc:
        sys.exit(f"qrlogin: {exc}")

    log.info("open-files limit: %d", raise_fd_limit())
    sockets = bind_sockets(options.port, options.address or None, backlog=LISTEN_BACKLOG)
    port = sockets[0].getsockname()[1]
    embedded: EmbeddedRedis | None = None
    redis_url = startup.redis_url
    if not redis_url:
        embedded = EmbeddedRedis()
        redis_url = embedded.start()
        log.info("no --redis-url: started an embedded Redis at %s", redis_url)
    # Before any fork (--processes), so every process's metrics land in one place.
    metrics_dir = prepare_multiprocess(options.processes)
    try:
        log.info("qrlogin listening on http://%s:%d", options.address or "*", port)
        if options.processes != 1:
            worker = Supervisor(worker_count(options.processes), on_exit=mark_process_dead).run()
            if worker is None:
                return  # the supervisor: every worker has stopped
            embedded = None  # a worker: the supervisor owns the embedded Redis
            log.info("worker %d serving (pid %d)", worker, os.getpid())
        with asyncio.Runner(loop_factory=startup.new_loop) as runner:
            runner.run(serve(startup, redis_url, sockets))
    finally:
        if metrics_dir is not None:
            metrics_dir.remove()
        if embedded is not None:
            embedded.stop()
    log.info("stopped")


if __name__ == "__main__":
    main()
