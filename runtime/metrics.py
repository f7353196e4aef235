"""Prometheus metrics, per process, aggregated across ``--processes`` by prometheus-client's multiprocess mode.

Single process: each :class:`Metrics` has its own registry (tests build many).
Several processes: :func:`prepare_multiprocess` is called *before forking*;
every process then writes its values to files in one directory and any of
them answers ``/metrics`` with the sum over all (gauges: over live ones).
"""

from __future__ import annotations

import os

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values

from runtime.tempdirs import OwnedDir, make_owned_dir

#: the environment variable prometheus-client's multiprocess mode reads
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: buckets of the wake latency (from a change reaching this process to the waiter's answer)
WAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: buckets of the auth check and of request durations
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: the exposition's content type
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
#: how a shared metrics directory in the temp folder is named (then the supervisor's pid)
DIR_PREFIX = "qrlogin-metrics-"


def multiprocess_dir() -> str | None:
    """The multiprocess directory in use, if any."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess(processes: int) -> OwnedDir | None:
    """Before forking ``processes`` (0: one per core) children: a fresh shared metrics directory.

    Returns the directory it made, or None when there is nothing to do: a
    single process, or a directory already given in ``PROMETHEUS_MULTIPROC_DIR``
    (whoever set it owns it, and clears it before starting the service).
    Directories a killed run left in the temp folder are removed first; the
    workers inherit the new one's lock, so it is never taken for stale while
    one of them lives.
    """
    if processes == 1 or multiprocess_dir():
        return None
    shared = make_owned_dir(DIR_PREFIX)
    os.environ[MULTIPROC_ENV] = str(shared.path)
    # prometheus-client picks its value store when imported, and main.py
    # imports it before options are parsed: pick again now that the directory
    # is known (the store notices forks itself, by pid).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return shared


def mark_process_dead(pid: int) -> None:
    """For the forking parent: drop a dead child's live gauges (its counters stay counted)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class Metrics:
    """Every metric qrlogin exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.waiters = Gauge(
            "qrlogin_waiters_parked", "Long-polls (/wait) in progress", registry=r, multiprocess_mode="livesum"
        )
        self.sessions = Counter("qrlogin_sessions", "Login sessions by outcome", ["outcome"], registry=r)
        self.wake_latency = Histogram(
            "qrlogin_wake_latency_seconds",
            "From a session change reaching this process to its waiter's answer",
            registry=r,
            buckets=WAKE_BUCKETS,
        )
        self.auth_latency = Histogram(
            "qrlogin_auth_check_seconds", "Duration of the app credential check", registry=r, buckets=LATENCY_BUCKETS
        )
        self.auth_failures = Counter(
            "qrlogin_auth_failures", "Failed credential checks by reason", ["reason"], registry=r
        )
        self.redis_errors = Counter("qrlogin_redis_errors", "Redis failures by where they hit", ["where"], registry=r)
        self.rate_limited = Counter(
            "qrlogin_rate_limited", "Requests refused by an abuse limit", ["handler"], registry=r
        )
        self.requests = Counter(
            "qrlogin_http_requests", "Answered requests by handler and status", ["handler", "code"], registry=r
        )
        self.request_latency = Histogram(
            "qrlogin_http_request_duration_seconds",
            "Request durations by handler (a /wait's includes its parking)",
            ["handler"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )

        # The push transports (handlers/socket.py, handlers/stream.py), labelled websocket or sse.
        self.push_open = Gauge(
            "qrlogin_push_open",
            "WebSockets and event streams open",
            ["transport"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pushes = Counter(
            "qrlogin_pushes", "Session states pushed to a socket or stream", ["transport"], registry=r
        )
        self.heartbeats_missed = Counter(
            "qrlogin_heartbeats_missed",
            "Peers dropped for a missed heartbeat (a ping not answered in time, a heartbeat that could not be sent)",
            ["transport"],
            registry=r,
        )

    def exposition(self) -> bytes:
        """The text format of every metric; in multiprocess mode, summed over all processes."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return prometheus_client.generate_latest(registry)
        return prometheus_client.generate_latest(self.registry)
