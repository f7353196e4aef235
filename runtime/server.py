"""Serving: bind the port, start (or reach) Redis, fork the workers, serve until a stop signal, stop gracefully.

Every mistake an operator can make at start (a port in use, an unreachable
Redis) is a ``StartupError``: ``main()`` prints its one line and exits non-zero,
before the service says it is listening.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from auth import TokenIssuer
from handlers.ops import Reachability
from redis_map import EmbeddedRedis, connect
from runtime.collector import Collector
from runtime.composition import Closing, Service, build_tokens, open_service
from runtime.http import ConnectionLimits, build_http_server
from runtime.metrics import mark_process_dead, prepare_multiprocess
from runtime.process import LISTEN_BACKLOG, event_loop_factory, raise_fd_limit
from runtime.settings import Settings
from runtime.supervisor import Supervisor, WorkersFailing, worker_count

log = logging.getLogger("qrlogin")

#: how long shutdown waits for in-flight requests (within --stop-timeout)
SHUTDOWN_GRACE = 10.0
#: the exit status of a stop that passed --stop-timeout, or was cut short by a second signal
EXIT_STOP_CUT = 1
#: how long the start-up check waits for Redis to answer
REDIS_CHECK_TIMEOUT = 5.0


class StartupError(Exception):
    """The service cannot start; the message is the one line to tell the operator."""


def listen(settings: Settings) -> list[socket.socket]:
    """The listening sockets; StartupError if the address cannot be bound."""
    return _bind(settings.port, settings.address, "--address/--port")


def listen_metrics(settings: Settings) -> list[socket.socket]:
    """The sockets /metrics is served on when it has a port of its own (else none)."""
    if settings.metrics_port is None:
        return []
    return _bind(settings.metrics_port, settings.metrics_address, "--metrics-address/--metrics-port")


def _bind(port: int, address: str, options: str) -> list[socket.socket]:
    where = f"{address or '*'}:{port}"
    try:
        return bind_sockets(port, address or None, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"{options.rpartition('/')[2]}: {where} is already in use by another program") from None
        reason = exc.strerror or str(exc)
        raise StartupError(f"{options}: cannot listen on {where}: {reason}") from None


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The bounds on every connection, as the settings give them."""
    return ConnectionLimits(per_ip=settings.max_connections_per_ip, uncounted=settings.trusted_proxies)


def warn_if_auth_unreachable(url: str) -> None:
    """A loud warning when the auth server does not accept connections: the service starts anyway.

    It may come up after us; until it does, /scan and /confirm answer 502 and
    /readyz names it.
    """
    check = Reachability(url)
    if asyncio.run(check.reachable()):
        return
    log.warning("=" * 72)
    log.warning("--auth-url: the auth server at %s cannot be reached: %s.", check.where, check.reason)
    log.warning("Starting anyway: /scan and /confirm fail (502) and /readyz says 'auth' until it answers.")
    log.warning("=" * 72)


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


class StopDeadline:
    """Once a stop begins, it ends: by itself, at the deadline, or at once on a second signal.

    Past ``timeout`` seconds a thread (not the event loop, which may be what
    is stuck) writes one line saying what the stop was still waiting for and
    ends the process with EXIT_STOP_CUT; so does a second SIGTERM or SIGINT.
    """

    def __init__(self, timeout: float, closing: Closing) -> None:
        self.timeout = timeout
        self.closing = closing
        self._timer: threading.Timer | None = None

    def begin(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = threading.Timer(self.timeout, self._cut, ("stop-timeout",))
        self._timer.daemon = True
        self._timer.start()
        # Replaced in place, not removed first: between a removal and the next
        # add, the signal would have its default action and kill the process.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._cut, signal.Signals(signum).name)

    def end(self) -> None:
        """The stop finished in time."""
        if self._timer is not None:
            self._timer.cancel()

    def _cut(self, why: str) -> None:
        if why == "stop-timeout":
            line = f"qrlogin: stop did not finish within {self.timeout:g}s (--stop-timeout)"
        else:
            line = f"qrlogin: a second {why}: stopping at once"
        # Straight to stderr, not through logging, whose lock the stuck thread may hold.
        os.write(2, f"{line}; still waiting for {self.closing.waiting_for}\n".encode())
        os._exit(EXIT_STOP_CUT)


async def serve(
    service: Service,
    sockets: list[socket.socket],
    deadline: StopDeadline,
    metrics_sockets: Sequence[socket.socket] = (),
    serving_line: str = "",
) -> None:
    """Serve on ``sockets`` (and /metrics on ``metrics_sockets``) until SIGINT or SIGTERM, then stop gracefully;
    ``serving_line`` is logged once either signal would stop it so (not before: a test or an operator may act on it).

    Stopping: no new connections; every parked wait answers at once with its
    current state; requests in flight (a confirm waiting on the auth server)
    finish, for up to SHUTDOWN_GRACE; all of it, and closing the service's
    parts, within ``deadline``.
    """
    limits = connection_limits(service.settings)
    server = build_http_server(service.delegate, limits)
    server.add_sockets(sockets)
    metrics_server: HTTPServer | None = None
    if service.metrics_app is not None and metrics_sockets:
        metrics_server = build_http_server(service.metrics_app, limits)
        metrics_server.add_sockets(metrics_sockets)
    # Start-up's objects, and whatever outlives the young generations (parked
    # requests), are kept out of the collector's full traversals, which would
    # otherwise stall the loop for as long as the heap is big.
    open_now = server._connections  # Tornado's set of open HTTP connections
    connections = service.services.connections
    collector = Collector(lambda: len(open_now) + len(connections))
    collector.install()
    try:
        await _serve_until_stopped(service, server, metrics_server, deadline, serving_line)
    finally:
        collector.uninstall()


async def _serve_until_stopped(
    service: Service,
    server: HTTPServer,
    metrics_server: HTTPServer | None,
    deadline: StopDeadline,
    serving_line: str,
) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    if serving_line:
        log.info("%s", serving_line)
    await stopping.wait()

    deadline.begin(loop)
    # Logged once a second signal would cut the stop short, so "shutting down" means it can be.
    log.info("shutting down")
    server.stop()
    if metrics_server is not None:
        metrics_server.stop()
    services = service.services
    closing = service.closing
    # Answer every parked wait now, so browsers re-poll another instance.
    services.shutdown.begin()
    service.registry.notify_all()
    # WebSockets and event streams (handlers/push.py), woken above: each pushes its session's state and closes.
    if not await services.connections.stop(SHUTDOWN_GRACE):
        log.warning("%d sockets and streams were still open after %.0fs", len(services.connections), SHUTDOWN_GRACE)
    closing.waiting_for = f"requests in flight ({services.in_flight.count} at the stop)"
    if not await services.in_flight.idle(SHUTDOWN_GRACE):
        log.warning("%d requests were still in flight after %.0fs", services.in_flight.count, SHUTDOWN_GRACE)
    closing.waiting_for = "open connections to close"
    try:
        await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)
        if metrics_server is not None:
            await asyncio.wait_for(metrics_server.close_all_connections(), SHUTDOWN_GRACE)
    except TimeoutError:
        log.warning("some connections were still open after %.0fs", SHUTDOWN_GRACE)


async def _run_instance(
    settings: Settings,
    redis_url: str,
    tokens: TokenIssuer,
    sockets: list[socket.socket],
    metrics_sockets: list[socket.socket],
    deadline: StopDeadline,
    serving_line: str,
) -> None:
    running = type(asyncio.get_running_loop())
    log.info("event loop: %s.%s", running.__module__, running.__qualname__)
    async with open_service(settings, redis_url, tokens=tokens, closing=deadline.closing) as service:
        await serve(service, sockets, deadline, metrics_sockets, serving_line)
    # What is left ends as the loop closes (its tasks are cancelled and awaited): name them in case one will not.
    left = sorted(task.get_name() for task in asyncio.all_tasks() if task is not asyncio.current_task())
    deadline.closing.waiting_for = f"tasks to end as the loop closes: {', '.join(left) or 'none'}"


def run(settings: Settings) -> None:
    """The whole life of ``python main.py``: StartupError for what the operator must fix."""
    new_loop = event_loop_factory(settings.event_loop)
    tokens = build_tokens(settings)
    log.info("open-files limit: %d", raise_fd_limit())
    sockets = listen(settings)
    metrics_sockets = listen_metrics(settings)
    port = sockets[0].getsockname()[1]
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if redis_url:
        check_redis(redis_url)
    else:
        embedded = EmbeddedRedis()
        redis_url = embedded.start()
        log.info("no --redis-url: started an embedded Redis at %s", redis_url)
    if settings.auth_url:
        warn_if_auth_unreachable(settings.auth_url)
    # Before any fork (--processes), so every process's metrics land in one place.
    metrics_dir = prepare_multiprocess(settings.processes)
    deadline = StopDeadline(settings.stop_timeout, Closing())
    serving_line = ""
    try:
        log.info("qrlogin listening on http://%s:%d", settings.address or "*", port)
        if metrics_sockets:
            where = f"{settings.metrics_address or '*'}:{metrics_sockets[0].getsockname()[1]}"
            log.info("/metrics served on http://%s/metrics only", where)
        if settings.processes != 1:
            try:
                worker = Supervisor(
                    worker_count(settings.processes), on_exit=mark_process_dead, stop_timeout=settings.stop_timeout
                ).run()
            except WorkersFailing as exc:
                raise StartupError(str(exc)) from None
            if worker is None:
                return  # the supervisor: every worker has stopped
            embedded = None  # a worker: the supervisor owns the embedded Redis
            serving_line = f"worker {worker} serving (pid {os.getpid()})"
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(_run_instance(settings, redis_url, tokens, sockets, metrics_sockets, deadline, serving_line))
    finally:
        deadline.closing.waiting_for = "the metrics directory and the embedded Redis to be removed"
        if metrics_dir is not None:
            metrics_dir.remove()
        if embedded is not None:
            embedded.stop()
    deadline.end()
    log.info("stopped")
