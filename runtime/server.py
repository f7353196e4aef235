"""Serving: bind the port, start (or reach) Redis, fork the workers, serve until a stop signal, stop gracefully.

Every mistake an operator can make at start (a port in use, an unreachable
Redis) is a ``StartupError``: ``main()`` prints its one line and exits non-zero,
before the service says it is listening.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import signal
import socket
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from auth import TokenIssuer
from redis_map import EmbeddedRedis, connect
from runtime.composition import Service, build_tokens, open_service
from runtime.metrics import mark_process_dead, prepare_multiprocess
from runtime.process import LISTEN_BACKLOG, event_loop_factory, raise_fd_limit
from runtime.settings import Settings
from runtime.supervisor import Supervisor, worker_count

log = logging.getLogger("qrlogin")

#: largest request body the server reads at all (the API refuses >16 KiB itself)
MAX_BODY_SIZE = 1024 * 1024
#: how long shutdown waits for in-flight requests
SHUTDOWN_GRACE = 10.0
#: how long the start-up check waits for Redis to answer
REDIS_CHECK_TIMEOUT = 5.0


class StartupError(Exception):
    """The service cannot start; the message is the one line to tell the operator."""


def listen(settings: Settings) -> list[socket.socket]:
    """The listening sockets; StartupError if the address cannot be bound."""
    where = f"{settings.address or '*'}:{settings.port}"
    try:
        return bind_sockets(settings.port, settings.address or None, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"--port: {where} is already in use by another program") from None
        reason = exc.strerror or str(exc)
        raise StartupError(f"--address/--port: cannot listen on {where}: {reason}") from None


def check_redis(url: str) -> None:
    """Returns once the Redis at ``url`` answers PING; StartupError naming it if it does not.

    Through the service's own client (one server, Cluster or Sentinel alike), in
    a loop of its own that is gone before any fork.
    """

    async def ping() -> None:
        client = connect(url)
        try:
            await asyncio.wait_for(client.ping(), REDIS_CHECK_TIMEOUT)
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
    except (RedisError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise StartupError(f"--redis-url: cannot reach Redis at {redacted(url)}: {reason}") from None


def redacted(url: str) -> str:
    """``url`` without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


async def serve(service: Service, sockets: list[socket.socket]) -> None:
    """Serve on ``sockets`` until SIGINT or SIGTERM, then stop gracefully.

    Stopping: no new connections; every parked wait answers at once with its
    current state; requests in flight (a confirm waiting on the auth server)
    finish, for up to SHUTDOWN_GRACE.
    """
    server = HTTPServer(service.delegate, max_body_size=MAX_BODY_SIZE)
    server.add_sockets(sockets)
    # Start-up's objects (modules, clients, the app) live as long as the
    # process: keep them out of every full garbage collection, which would
    # otherwise traverse them all and stall the loop.
    gc.freeze()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()

    log.info("shutting down")
    server.stop()
    services = service.services
    # Answer every parked wait now, so browsers re-poll another instance.
    services.shutdown.begin()
    service.registry.notify_all()
    # WebSockets and event streams (handlers/push.py), woken above: each pushes its session's state and closes.
    if not await services.connections.stop(SHUTDOWN_GRACE):
        log.warning("%d sockets and streams were still open after %.0fs", len(services.connections), SHUTDOWN_GRACE)
    if not await services.in_flight.idle(SHUTDOWN_GRACE):
        log.warning("%d requests were still in flight after %.0fs", services.in_flight.count, SHUTDOWN_GRACE)
    try:
        await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)
    except TimeoutError:
        log.warning("some connections were still open after %.0fs", SHUTDOWN_GRACE)


async def _run_instance(settings: Settings, redis_url: str, tokens: TokenIssuer, sockets: list[socket.socket]) -> None:
    running = type(asyncio.get_running_loop())
    log.info("event loop: %s.%s", running.__module__, running.__qualname__)
    async with open_service(settings, redis_url, tokens=tokens) as service:
        await serve(service, sockets)


def run(settings: Settings) -> None:
    """The whole life of ``python main.py``: StartupError for what the operator must fix."""
    new_loop = event_loop_factory(settings.event_loop)
    tokens = build_tokens(settings)
    log.info("open-files limit: %d", raise_fd_limit())
    sockets = listen(settings)
    port = sockets[0].getsockname()[1]
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if redis_url:
        check_redis(redis_url)
    else:
        embedded = EmbeddedRedis()
        redis_url = embedded.start()
        log.info("no --redis-url: started an embedded Redis at %s", redis_url)
    # Before any fork (--processes), so every process's metrics land in one place.
    metrics_dir = prepare_multiprocess(settings.processes)
    try:
        log.info("qrlogin listening on http://%s:%d", settings.address or "*", port)
        if settings.processes != 1:
            worker = Supervisor(worker_count(settings.processes), on_exit=mark_process_dead).run()
            if worker is None:
                return  # the supervisor: every worker has stopped
            embedded = None  # a worker: the supervisor owns the embedded Redis
            log.info("worker %d serving (pid %d)", worker, os.getpid())
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(_run_instance(settings, redis_url, tokens, sockets))
    finally:
        if metrics_dir is not None:
            metrics_dir.remove()
        if embedded is not None:
            embedded.stop()
    log.info("stopped")
