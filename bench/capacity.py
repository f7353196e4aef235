"""A machine's capacity: N long-polls parked over ``--processes 2``, from several client processes.

One process holds at most as many sockets as its open-files limit allows, so
a machine's capacity comes from several service processes behind one
listening socket.  Here the service runs with ``--processes`` (the kernel
spreads the connections over its workers), and the reference as as many bare
Tornado processes, each on its own port, holding the same share of waiters.
Each client process (``bench/capacity_client.py``) holds its share of the
connections from a loopback source address of its own (127.0.0.2, .3, …), so
no client passes the open-files limit and no source address runs out of ports.

``python -m bench.capacity`` runs this scenario alone (``--quick``: a few
hundred waiters, seconds); ``python -m bench`` runs it among the others.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.client_tools import progress, summary
from bench.procs import (
    ROOT,
    Server,
    children,
    cpu_seconds,
    fd_limit,
    kernel_counters,
    open_fds,
    rss_bytes,
    stop_on_sigterm,
)
from runtime.process import LISTEN_BACKLOG

if TYPE_CHECKING:
    from bench.run import Bench

#: where ``python -m bench.capacity`` writes its figures unless --out says otherwise (gitignored)
DEFAULT_OUT = ROOT / "bench" / "results-capacity.json"
#: the first client's source address is 127.0.0.FIRST_SOURCE, the next client's the next one
FIRST_SOURCE = 2
#: longest one command of a client may take
COMMAND_TIMEOUT = 600.0
#: longest the service's workers may take to be forked
WORKERS_TIMEOUT = 30.0
#: seconds between looks for the service's workers (a fork has no event the conductor can wait on)
WORKERS_POLL = 0.05
#: the kernel's counters read around the parking: a full listen backlog (its accept queue, its SYN queue),
#: a loopback packet dropped, and the retransmissions that follow (a lost SYN is sent again after 1 s)
KERNEL_COUNTERS = (
    "ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "SyncookiesSent", "SoftnetDropped", "TCPSynRetrans",
    "RetransSegs",
)  # fmt: skip


@dataclass
class Capacity:
    """The scenario's sizes; the defaults are the full benchmark's."""

    #: long-polls parked over all the service's processes
    waiters: int = 30_000
    #: the service's ``--processes``, and the number of reference processes
    processes: int = 2
    #: client processes, each holding an equal share of the waiters
    clients: int = 3
    #: waiters woken one at a time and timed, spread over all of them
    wakes: int = 1_000
    #: waiters each client parks and wakes first, so every process is warm
    warmup: int = 100


#: the tiny configuration the tests run, in seconds
QUICK = Capacity(waiters=200, clients=2, wakes=20, warmup=10)


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares differing by at most one."""
    share, extra = divmod(total, parts)
    return [share + (i < extra) for i in range(parts)]


class Clients:
    """The client processes: each command goes to one or all, each answers with one JSON line."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        for job in jobs:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.capacity_client"],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            self.processes.append(process)
            self._send(process, job)

    def all(self, command: str, **args: Any) -> list[dict[str, Any]]:
        """``command`` run by every client at once; their answers."""
        for process in self.processes:
            self._send(process, {"command": command, **args})
        return [self._answer(process) for process in self.processes]

    def one(self, index: int, command: str, **args: Any) -> dict[str, Any]:
        self._send(self.processes[index], {"command": command, **args})
        return self._answer(self.processes[index])

    @staticmethod
    def _send(process: subprocess.Popen[str], message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()

    @staticmethod
    def _answer(process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(COMMAND_TIMEOUT):
                raise RuntimeError(f"a capacity client gave no answer in {COMMAND_TIMEOUT:.0f}s")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a capacity client ended ({process.wait()}) without answering")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        """Ends every client (each closes its connections at the end of its stdin)."""
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def counted(answers: list[dict[str, Any]], key: str = "errors") -> dict[str, int]:
    """The counters ``key`` of every answer, added up."""
    total: Counter[str] = Counter()
    for answer in answers:
        total.update(answer[key])
    return dict(total)


def drive(config: Capacity, kind: str, ports: list[int], pids: dict[str, int]) -> dict[str, Any]:
    """The scenario against one side: ``pids`` are its server processes, by the name clients know them by."""
    jobs = [
        {"kind": kind, "ports": ports, "source": f"127.0.0.{FIRST_SOURCE + i}", "label": f"{kind} client {i}",
         "n": n, "warmup": config.warmup}
        for i, n in enumerate(split(config.waiters, config.clients))
    ]  # fmt: skip
    result: dict[str, Any] = {"n": config.waiters, "processes": len(pids), "clients": config.clients}
    with Clients(jobs) as clients:
        progress(f"capacity {kind}: {config.clients} clients preparing {config.waiters} waiters")
        started = time.perf_counter()
        prepared = clients.all("prepare", servers=list(pids))
        result["prepare_seconds"] = time.perf_counter() - started
        result["rss_before"] = sum(rss_bytes(pid) for pid in pids.values())
        before = kernel_counters()
        progress(f"capacity {kind}: parking {config.waiters} waiters over {len(pids)} processes")
        parking = clients.all("park")
        expected = counted(parking, "by_server")
        stats = clients.one(0, "parked", counts=expected)
        after = kernel_counters()
        result.update(
            park_seconds=max(answer["seconds"] for answer in parking),
            slowest_connect_ms=max(answer["slowest_connect_ms"] for answer in parking),
            parked=sum(answer["waiters"] for answer in stats.values()),
            parked_by_process=[stats[server]["waiters"] for server in pids],
            rss_parked=sum(rss_bytes(pid) for pid in pids.values()),
            open_fds=[open_fds(pid) for pid in pids.values()],
            fd_limit=min(fd_limit(pid) for pid in pids.values()),
            backlog=LISTEN_BACKLOG,
            kernel={name: after.get(name, 0) - before.get(name, 0) for name in KERNEL_COUNTERS},
        )
        if all("gc_max_ms" in answer for answer in stats.values()):  # the service's probe, since it started
            result["gc_max_ms"] = max(answer["gc_max_ms"] for answer in stats.values())
        result["rss_per_waiter"] = (result["rss_parked"] - result["rss_before"]) / max(1, result["parked"])
        result["errors_parking"] = counted(prepared) | counted(parking)

        progress(f"capacity {kind}: {config.wakes} wakes, one at a time")
        timed = [clients.one(i, "timed", count=count) for i, count in enumerate(split(config.wakes, config.clients))]
        latencies = [ms for answer in timed for ms in answer["wake"]]
        result["wake"] = summary(latencies)
        progress(f"capacity {kind}: waking the other {result['parked'] - len(latencies)}")
        cpu = sum(cpu_seconds(pid) for pid in pids.values())
        woken = clients.all("wake_all")
        cpu_ms = (sum(cpu_seconds(pid) for pid in pids.values()) - cpu) * 1000
        result.update(
            woken=len(latencies) + sum(answer["woken"] for answer in woken),
            woken_across=sum(answer["crossed"] for answer in timed + woken),
            wake_all_seconds=max(answer["seconds"] for answer in woken),
            server_cpu_ms_per_wake=cpu_ms / max(1, sum(answer["woken"] for answer in woken)),
            errors_waking=counted(timed) | counted(woken),
        )
    return result


def workers(supervisor: int, count: int) -> dict[str, int]:
    """The service's ``count`` worker processes, by pid, once forked."""
    deadline = time.monotonic() + WORKERS_TIMEOUT
    while len(found := children(supervisor)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service forked {len(found)} of {count} workers in {WORKERS_TIMEOUT:.0f}s")
        time.sleep(WORKERS_POLL)
    return {str(pid): pid for pid in found}


def limits() -> dict[str, int]:
    """This machine's limits that bound the scenario."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    available = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemAvailable:")
    )
    return {
        "open_files_per_process": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "ports_per_source_address": high - low + 1,
        "somaxconn": int(Path("/proc/sys/net/core/somaxconn").read_text()),
        "memory_available": available,
    }


def measure(bench: Bench, config: Capacity) -> dict[str, Any]:
    """The scenario on the bare Tornado reference, then on the service; both sides' figures."""
    results: dict[str, Any] = {"config": asdict(config), "limits": limits()}
    event_loop = bench.config.event_loop
    with ExitStack() as stack:
        references = [
            stack.enter_context(
                Server(f"reference-{i}", ["-m", "bench.reference", f"--event-loop={event_loop}"], bench.log_dir)
            )
            for i in range(config.processes)
        ]
        pids = {str(server.port): server.pid for server in references}
        results["reference"] = drive(config, "reference", [server.port for server in references], pids)
    with bench.service("service-capacity", extra=[f"--processes={config.processes}"]) as service:
        results["service"] = drive(config, "service", [service.port], workers(service.pid, config.processes))
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="", help="the Redis to use; none: an embedded one")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the JSON figures (default {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="a tiny run (200 waiters, seconds): checks it works")
    parser.add_argument("--waiters", type=int, help="long-polls parked over all processes (default 30000)")
    parser.add_argument("--clients", type=int, help="client processes (default 3)")
    parser.add_argument("--event-loop", help="the servers' event loop: uvloop (default) or asyncio")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # bench.run calls this module's measure(): imported here, not at the top, to keep the import one-way.
    from bench.report import capacity_table, publish
    from bench.run import Config, machine, running
    from bench.targets import capacity_targets, judge

    stop_on_sigterm()
    args = parse_args(argv)
    config = Capacity(**asdict(QUICK if args.quick else Capacity()))
    config.waiters = args.waiters or config.waiters
    config.clients = args.clients or config.clients
    bench_config = Config(capacity=config)
    bench_config.event_loop = args.event_loop or bench_config.event_loop
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine()}
    with running(bench_config, args.redis_url) as bench, bench.auth_server():
        results["capacity"] = measure(bench, config)
    results["machine"]["load_average_after"] = os.getloadavg()[0]
    results["targets"] = judge(capacity_targets(results["capacity"]))
    results["seconds"] = time.monotonic() - started
    publish(args.out, results, capacity_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
