"""The benchmark's conductor: starts the servers, runs each job in a client process, reports.

Every server is a child process on the loopback: one Redis (given, or an
embedded one), the auth server, the service (``main.py``, fresh for each
scenario so its RSS starts clean) and the bare-Tornado reference.  Every job
runs in its own client process (``bench.client``).  The command line is ``bench/run_cli.py``.
"""

from __future__ import annotations

import os
import platform
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench.capacity import QUICK as QUICK_CAPACITY
from bench.capacity import Capacity, measure
from bench.oidc_logins import register_sites
from bench.procs import Server, run_client
from bench.stdloop import parking_bursts, timed_logins, timed_reference
from bench.targets import evaluate, login_cpu_ratio, median_round, oidc_cpu_ratio
from redis_map import EmbeddedRedis
from runtime.http import MAX_CONNECTIONS_PER_IP

#: the parked scenarios' load comes from one loopback address, far past any per-client abuse limit and
#: connection cap; an environment variable, as a version of the service without the option ignores it
SERVICE_ENV = {"QRLOGIN_RATE_LIMIT": "off", "QRLOGIN_MAX_CONNECTIONS_PER_IP": "0"}
#: full logins run as in production, the abuse limits and the per-IP connection cap on: each login comes
#: from addresses and a user of its own (bench.addresses.Addresses), so no limit is reached (a 429 fails the run)
LOGIN_ENV = {"QRLOGIN_RATE_LIMIT": "on", "QRLOGIN_MAX_CONNECTIONS_PER_IP": str(MAX_CONNECTIONS_PER_IP)}
#: the service's long-poll and session lifetimes: longer than any scenario
WAIT_TIMEOUT = 600
SESSION_TTL = 900
#: closed loops shorter than this (seconds; --quick's) time the floor's calls QUICK_FLOOR_CALLS times, once
QUICK_FLOOR_BELOW = 5.0
QUICK_FLOOR_CALLS = 20
#: what a run measuring CPU against bare Tornado asks of the service's probe: no lateness timer
CPU_RUN = {"lateness": False}


@dataclass
class Config:
    """What to run; the defaults are the full benchmark."""

    sizes: list[int] = field(default_factory=lambda: [100, 1_000, 10_000, 15_000])
    #: waiters woken (one at a time) per size
    wakes: int = 1_000
    #: waiters parked and woken before measuring, so both servers are warm
    warmup: int = 200
    #: waiters parked on one service process and woken from another
    cross: int = 1_000
    #: concurrent PCs in the full-login scenario (and connections on the reference)
    concurrency: int = 16
    #: seconds each closed loop runs
    duration: float = 10.0
    #: the CPU comparisons run this many times in turn (bare Tornado, first-party logins, OIDC logins, fresh
    #: processes each), every ratio from the round giving its median: a neighbour busy for part of the run
    #: moves one round, not the figure
    rounds: int = 5
    #: each CPU comparison's closed loop runs this share of ``duration``: more, shorter rounds in the same time,
    #: so the two sides of a ratio are measured closer together and one odd round weighs less in the median
    cpu_share: float = 0.6
    #: the event loop of the service and the reference (``--event-loop``)
    event_loop: str = "uvloop"
    #: a machine's capacity: waiters parked over several service processes, from several clients
    capacity: Capacity = field(default_factory=Capacity)


#: the tiny configuration the CI test runs, in a few seconds
QUICK = Config(
    sizes=[100], wakes=20, warmup=10, cross=20, concurrency=4, duration=1.5, rounds=2, cpu_share=0.6,
    capacity=QUICK_CAPACITY,
)  # fmt: skip


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "?")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": os.getloadavg()[0],
    }


class Bench:
    def __init__(self, config: Config, redis_url: str, log_dir: Path) -> None:
        self.config = config
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.namespace = f"bench-{secrets.token_hex(4)}"
        self.auth_url = ""
        #: the loopback address blocks (127.<block>.0.0/16) given to spread jobs so far: one each, never reused
        self.address_blocks = 0

    def service(
        self, name: str, event_loop: str = "", env: dict[str, str] | None = None, extra: Sequence[str] = ()
    ) -> Server:
        return Server(
            name,
            [
                "main.py",
                "--port=0",
                "--address=127.0.0.1",
                f"--redis-url={self.redis_url}",
                f"--auth-url={self.auth_url}",
                f"--namespace={self.namespace}",
                f"--wait-timeout={WAIT_TIMEOUT}",
                f"--session-ttl={SESSION_TTL}",
                "--loop-probe",
                f"--event-loop={event_loop or self.config.event_loop}",
                *extra,
            ],
            self.log_dir,
            env or SERVICE_ENV,
        )

    def reference(self, name: str = "reference", event_loop: str = "", extra: Sequence[str] = ()) -> Server:
        """Bare Tornado; ``extra`` options (``--loop-probe``, ``--collector``) are not for CPU comparisons."""
        argv = ["-m", "bench.reference", f"--event-loop={event_loop or self.config.event_loop}", *extra]
        return Server(name, argv, self.log_dir)

    def park(
        self, kind: str, server: Server, n: int, wake_port: int | None = None, *, time_callbacks: bool = False
    ) -> dict[str, Any]:
        return run_client(
            {
                "job": "park",
                "label": f"{server.name} N={n}",
                "kind": kind,
                "port": server.port,
                "wake_port": wake_port or server.port,
                "pid": server.pid,
                "n": n,
                # The timed parking burst is for its callbacks alone: no wakes after it.
                "wakes": 0 if time_callbacks else self.config.wakes,
                "time_callbacks": time_callbacks,
                # Fewer than N: memory freed by the warm-up would hide the parked waiters' RSS.
                "warmup": max(1, min(self.config.warmup, n // 10)),
            }
        )

    def loop(
        self,
        job: str,
        server: Server,
        *,
        time_callbacks: bool = False,
        share: float = 1.0,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return run_client(
            {
                "job": job,
                "label": f"{server.name} {job}",
                "port": server.port,
                "pid": server.pid,
                "concurrency": self.config.concurrency,
                "duration": self.config.duration * share,
                "time_callbacks": time_callbacks,
                **(extra or {}),
            }
        )

    def cpu_round(self, sites: dict[str, Any]) -> dict[str, Any]:
        """Bare Tornado like for like, then the first-party and the OIDC logins: one round of the CPU comparisons.

        The reference sends a login's shape (7 requests over 3 new connections a round, from fresh addresses).
        The service runs without the probe's lateness timer (the reference runs no probe; a tick wakes an idle
        loop): the lateness comes from the runs on asyncio's loop.
        """
        share = self.config.cpu_share
        with self.reference() as reference:
            hello = self.loop("hello", reference, share=share, extra=self.spread())
        with self.service("service", env=LOGIN_ENV) as service:
            logins = self.loop("logins", service, share=share, extra={**CPU_RUN, **self.spread()})
        with self.service("service-oidc", env=LOGIN_ENV) as service:
            oidc = self.loop("oidc_logins", service, share=share, extra={**sites, **CPU_RUN, **self.spread()})
        return {"reference": hello, "logins": logins, "oidc_logins": oidc}

    def floor(self) -> dict[str, Any]:
        """The CPU of the calls a login cannot do without, each timed alone (``bench.floor``)."""
        job: dict[str, Any] = {"label": "floor", "redis_url": self.redis_url, "namespace": self.namespace,
               "auth_url": self.auth_url, "event_loop": self.config.event_loop}  # fmt: skip
        if self.config.duration < QUICK_FLOOR_BELOW:
            job.update(calls=QUICK_FLOOR_CALLS, rounds=1)
        return run_client(job, "bench.floor")

    def spread(self) -> dict[str, Any]:
        """A job's share of the loopback: a block of fresh source addresses no other job of the run uses."""
        self.address_blocks += 1
        return {"address_block": self.address_blocks}

    @contextmanager
    def auth_server(self) -> Iterator[None]:
        """The auth server runs (and ``auth_url`` names it) for the block."""
        with Server("auth", ["-m", "bench.authserver"], self.log_dir) as auth:
            self.auth_url = f"http://127.0.0.1:{auth.port}/userinfo"
            yield

    def run(self) -> dict[str, Any]:
        results: dict[str, Any] = {"machine": machine(), "config": asdict(self.config)}
        with self.auth_server():
            parked = []
            for n in self.config.sizes:
                with self.reference() as reference:
                    bare = self.park("reference", reference, n)
                with self.service("service") as service:
                    ours = self.park("service", service, n)
                parked.append({"n": n, "service": ours, "reference": bare})
            # The longest single callback while the largest N park, timed on asyncio's own loop, and bare Tornado's.
            parked[-1].update(parking_bursts(self, self.config.sizes[-1]))
            results["parked"] = parked

            with self.service("service-a") as first, self.service("service-b") as second:
                results["cross_process"] = {"service": self.park("service", first, self.config.cross, second.port)}

            # The reference on kept-alive connections: the shape of earlier runs (informational).
            with self.reference() as reference:
                hello_kept_alive = self.loop("hello", reference)
            # As the first-party logins: limits on, every login a new PC and phone; one site per PC.
            sites = {"clients": register_sites(self.redis_url, self.namespace, self.config.concurrency)}
            results["cpu_rounds"] = rounds = [self.cpu_round(sites) for _ in range(self.config.rounds)]
            # The longest single callback, timed on asyncio's own loop, and bare Tornado's under the same load.
            stdloop = timed_logins(self, "logins", "service-asyncio", self.spread())
            stdloop_reference = timed_reference(self)
            first_party = median_round(rounds, login_cpu_ratio)
            results["full_login"] = {
                "service": first_party["logins"],
                "reference": first_party["reference"],
                "reference_kept_alive": hello_kept_alive,
                "asyncio_loop": stdloop,
                "reference_asyncio_loop": stdloop_reference,
                "floor": self.floor(),
            }
            oidc_stdloop = timed_logins(self, "oidc_logins", "service-oidc-asyncio", {**sites, **self.spread()})
            site = median_round(rounds, oidc_cpu_ratio)
            results["oidc_login"] = {
                "service": site["oidc_logins"],
                "first_party": site["logins"],
                "reference": site["reference"],
                "asyncio_loop": oidc_stdloop,
            }

            results["capacity"] = measure(self, self.config.capacity)
        results["machine"]["load_average_after"] = os.getloadavg()[0]
        results["targets"] = evaluate(results)
        return results

    def forget_keys(self) -> None:
        """Delete this run's keys (and only those) from the Redis."""
        forget_namespace(self.redis_url, self.namespace)


def forget_namespace(redis_url: str, namespace: str) -> None:
    """Delete the keys under ``namespace`` (and only those) from the Redis at ``redis_url``."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


@contextmanager
def running(config: Config, redis_url: str) -> Iterator[Bench]:
    """A Bench for the block: its Redis (``redis_url``, or an embedded one), its logs; its keys deleted after."""
    with tempfile.TemporaryDirectory(prefix="qrlogin-bench-") as tmp, ExitStack() as stack:
        bench = Bench(config, redis_url or stack.enter_context(EmbeddedRedis()).url, Path(tmp))
        stack.callback(bench.forget_keys)
        yield bench
