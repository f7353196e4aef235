"""The benchmark's ratios, its targets and its table, all from the measured figures."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.logins import LOGIN_SHAPE

#: RSS per parked waiter, at most this many times the bare-Tornado figure
RSS_RATIO_LIMIT = 1.3
#: wake p99 at the largest N, at most this many times the p99 at the smallest
WAKE_GROWTH_LIMIT = 2.0
#: wake p99 at the largest N, in milliseconds
WAKE_P99_LIMIT_MS = 10.0
#: the longest garbage collection while the largest N park and wake, in milliseconds
GC_PAUSE_LIMIT_MS = 20.0
#: the slowest of the timed wakes (max, not p99) at N = WAKE_MAX_AT, in milliseconds
WAKE_MAX_LIMIT_MS = 50.0
WAKE_MAX_AT = 10_000
#: full-login requests per second, at least this share of bare Tornado's
RPS_RATIO_LIMIT = 0.5
#: issue 15: a full login's server CPU per request against bare Tornado's, both on a login's connections
LOGIN_CPU_RATIO_LIMIT = 3.0
#: HTTP requests in a first-party login (uuid, QR, wait, scan, wait, confirm, token)
LOGIN_REQUESTS = len(LOGIN_SHAPE)
#: the longest event-loop stall during the full logins, in milliseconds
LOOP_STALL_LIMIT_MS = 5.0
#: server CPU of a site's login through the OpenID provider, at most this many times a first-party login's
OIDC_CPU_RATIO_LIMIT = 1.5
#: a target: its name, the measured value, the comparison and the limit
Target = tuple[str, float, str, float]


def publish(out: Path, results: dict[str, Any], tables: str) -> None:
    """Write ``results`` as JSON to ``out`` and print ``tables`` (the Markdown for the README)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(tables)
    print(f"\nfigures written to {out}")


def ratio(ours: float, reference: float) -> float:
    return ours / reference if reference else math.nan


def closest(entries: list[dict[str, Any]], n: int) -> dict[str, Any]:
    return min(entries, key=lambda entry: abs(entry["n"] - n))


def login_cpu_ratio(cpu_round: dict[str, Any]) -> float:
    """A round's server CPU per full-login request against its bare-Tornado run's."""
    logins, bare = cpu_round["logins"], cpu_round["reference"]
    return ratio(logins["server_cpu_ms_per_request"], bare["server_cpu_ms_per_request"])


def oidc_cpu_ratio(cpu_round: dict[str, Any]) -> float:
    """A round's server CPU per OIDC login against its first-party run's."""
    return ratio(cpu_round["oidc_logins"]["server_cpu_ms_per_login"], cpu_round["logins"]["server_cpu_ms_per_login"])


def median_round(rounds: list[dict[str, Any]], figure: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
    """The round whose ``figure`` is the median (the upper one of an even count: the less flattering)."""
    return sorted(rounds, key=figure)[len(rounds) // 2]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Adds the ratios to ``results`` and returns each target with its measured value."""
    parked = results["parked"]
    for entry in parked:
        ours, bare = entry["service"], entry["reference"]
        entry["ratios"] = {
            "rss_per_waiter": ratio(ours["rss_per_waiter"], bare["rss_per_waiter"]),
            "wake_p50": ratio(ours["wake"]["p50_ms"], bare["wake"]["p50_ms"]),
            "wake_p99": ratio(ours["wake"]["p99_ms"], bare["wake"]["p99_ms"]),
        }
    cross = results["cross_process"]
    bare_wake = closest(parked, cross["service"]["n"])["reference"]["wake"]
    cross["ratios"] = {
        "wake_p50": ratio(cross["service"]["wake"]["p50_ms"], bare_wake["p50_ms"]),
        "wake_p99": ratio(cross["service"]["wake"]["p99_ms"], bare_wake["p99_ms"]),
    }
    login = results["full_login"]
    login["ratios"] = {
        "rps": ratio(login["service"]["rps"], login["reference"]["rps"]),
        "p99": ratio(login["service"]["latency"]["p99_ms"], login["reference"]["latency"]["p99_ms"]),
        "server_cpu_per_request": ratio(
            login["service"]["server_cpu_ms_per_request"], login["reference"]["server_cpu_ms_per_request"]
        ),
    }
    floor = login["floor"]
    # Bare Tornado's requests plus the login's unavoidable calls, per request: what this stack cannot go below.
    floor["server_cpu_ms_per_request"] = (
        login["reference"]["server_cpu_ms_per_request"] + floor["calls_ms_per_login"] / LOGIN_REQUESTS
    )
    login["ratios"]["floor_cpu_per_request"] = ratio(
        floor["server_cpu_ms_per_request"], login["reference"]["server_cpu_ms_per_request"]
    )
    login["ratios"]["server_cpu_per_request_vs_floor"] = ratio(
        login["service"]["server_cpu_ms_per_request"], floor["server_cpu_ms_per_request"]
    )

    login["ratios"]["server_cpu_per_request_rounds"] = [login_cpu_ratio(each) for each in results["cpu_rounds"]]

    oidc = results["oidc_login"]
    # The OIDC logins are new PCs and phones on fresh connections too: the same like-for-like reference.
    reference, first_party = oidc["reference"], oidc["first_party"]
    oidc["ratios"] = {
        "rps": ratio(oidc["service"]["rps"], reference["rps"]),
        "server_cpu_per_request": ratio(
            oidc["service"]["server_cpu_ms_per_request"], reference["server_cpu_ms_per_request"]
        ),
        "server_cpu_per_login_vs_first_party": ratio(
            oidc["service"]["server_cpu_ms_per_login"], first_party["server_cpu_ms_per_login"]
        ),
        "logins_per_s_vs_first_party": ratio(oidc["service"]["logins_per_s"], first_party["logins_per_s"]),
        "server_cpu_per_login_vs_first_party_rounds": [oidc_cpu_ratio(each) for each in results["cpu_rounds"]],
    }

    smallest, largest = parked[0], parked[-1]
    n = largest["n"]
    near = closest(parked, WAKE_MAX_AT)
    p99_small, p99_large = smallest["service"]["wake"]["p99_ms"], largest["service"]["wake"]["p99_ms"]
    targets: list[Target] = [
        (f"{n} parked long-polls in one process", largest["service"]["parked"], ">=", n),
        (f"RSS per parked waiter / bare Tornado (N={n})", largest["ratios"]["rss_per_waiter"], "<=", RSS_RATIO_LIMIT),
        (f"wake p99 N={n} / N={smallest['n']}", ratio(p99_large, p99_small), "<=", WAKE_GROWTH_LIMIT),
        (f"wake p99 at N={n} (ms)", p99_large, "<", WAKE_P99_LIMIT_MS),
        (f"longest garbage collection at N={n} (ms)", largest["service"]["gc_max_ms"], "<", GC_PAUSE_LIMIT_MS),
        (f"wake max at N={near['n']} (ms)", near["service"]["wake"]["max_ms"], "<", WAKE_MAX_LIMIT_MS),
        (
            f"longest loop stall (one callback) while {n} park (ms)",
            largest["asyncio_loop"]["callback_max_ms"],
            "<",
            LOOP_STALL_LIMIT_MS,
        ),
        ("full-login req/s / bare Tornado req/s", login["ratios"]["rps"], ">=", RPS_RATIO_LIMIT),
        (
            "server CPU per full-login request / bare Tornado's (same connections)",
            login["ratios"]["server_cpu_per_request"],
            "<=",
            LOGIN_CPU_RATIO_LIMIT,
        ),
        (
            "longest loop stall (one callback) in full logins (ms)",
            login["asyncio_loop"]["callback_max_ms"],
            "<",
            LOOP_STALL_LIMIT_MS,
        ),
        (
            "OIDC login server CPU / first-party login's",
            oidc["ratios"]["server_cpu_per_login_vs_first_party"],
            "<=",
            OIDC_CPU_RATIO_LIMIT,
        ),
        (
            "longest loop stall (one callback) in OIDC logins (ms)",
            oidc["asyncio_loop"]["callback_max_ms"],
            "<",
            LOOP_STALL_LIMIT_MS,
        ),
    ]
    return judge(targets + capacity_targets(results["capacity"]))


def judge(targets: list[Target]) -> list[dict[str, Any]]:
    """Each target with its measured value, and whether it is met."""
    checks = {">=": float.__ge__, "<=": float.__le__, "<": float.__lt__}
    return [
        {"target": name, "value": value, "limit": f"{op} {limit:g}", "met": checks[op](float(value), float(limit))}
        for name, value, op, limit in targets
    ]


def capacity_targets(capacity: dict[str, Any]) -> list[Target]:
    """A machine's capacity: N parked over several processes, RSS, the wake p99 across processes, nothing refused."""
    ours, bare = capacity["service"], capacity["reference"]
    where = f"N={ours['n']} over --processes {ours['processes']}"
    parking_failures = sum(ours["errors_parking"].values()) + ours["kernel"]["ListenOverflows"]
    return [
        (f"{ours['n']} parked long-polls over --processes {ours['processes']}", ours["parked"], ">=", ours["n"]),
        (f"RSS per parked waiter / bare Tornado ({where})", ratio(ours["rss_per_waiter"], bare["rss_per_waiter"]),
         "<=", RSS_RATIO_LIMIT),
        (f"wake p99, confirmed through another process ({where}) (ms)", ours["wake"]["p99_ms"], "<",
         WAKE_P99_LIMIT_MS),
        (f"woken, each by a confirm sent to another process ({where})", ours["woken_across"], ">=", ours["n"]),
        (f"refused, reset or failed while parking, listen overflows ({where})", parking_failures, "<=", 0),
    ]  # fmt: skip


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for entry in results["parked"]:
        ours, bare, ratios = entry["service"], entry["reference"], entry["ratios"]
        label = f"parked N={entry['n']:,}"
        rows += [
            (label, "RSS per parked waiter (KiB)", _kib(ours["rss_per_waiter"]), _kib(bare["rss_per_waiter"]),
             _x(ratios["rss_per_waiter"])),
            ("", "wake p50 (ms)", _ms(ours["wake"]["p50_ms"]), _ms(bare["wake"]["p50_ms"]), _x(ratios["wake_p50"])),
            ("", "wake p99 (ms)", _ms(ours["wake"]["p99_ms"]), _ms(bare["wake"]["p99_ms"]), _x(ratios["wake_p99"])),
            ("", "wake max (ms)", _ms(ours["wake"]["max_ms"]), _ms(bare["wake"]["max_ms"]), ""),
            ("", "longest garbage collection, parking and waking (ms)", _ms(ours["gc_max_ms"]), "", ""),
            ("", "garbage collections, parking and waking", f"{ours['gc_count']:,}", "", ""),
        ]  # fmt: skip
        rows += [
            ("", "after all were counted parked, busy for (s)", f"{ours.get('settle_seconds', 0):.2f}",
             f"{bare.get('settle_seconds', 0):.2f}", ""),
        ]  # fmt: skip
        if "loop_busy_max_ms" in ours:
            rows += [
                ("", "longest timer lateness, parking and waking: process busy / wall clock (ms)",
                 f"{_ms(ours['loop_busy_max_ms'])} / {_ms(ours['loop_lag_max_ms'])}", "", ""),
            ]  # fmt: skip
        full = ours.get("full_collection")
        if full is not None:
            rows += [
                ("", "then a full collection of everything, frozen or not (ms)", _ms(full["collect_ms"]), "", ""),
                ("", "unreachable objects it found (frozen cyclic garbage)", f"{full['collected']:,}", "", ""),
            ]
        burst = entry.get("asyncio_loop")
        if burst is not None:
            rows += [
                ("", "longest loop stall while parking: one callback, CPU (ms; asyncio's loop)",
                 _ms(burst["callback_max_ms"]), "", ""),
                ("", "longest callback while parking, wall clock (ms; asyncio's loop)",
                 _ms(burst["callback_wall_max_ms"]), "", ""),
                ("", "longest garbage collection while parking (ms; asyncio's loop)",
                 _ms(burst["parking_gc_max_ms"]), "", ""),
            ]  # fmt: skip
    cross = results["cross_process"]
    rows += [
        (f"across processes N={cross['service']['n']:,}", "wake p50 (ms)", _ms(cross["service"]["wake"]["p50_ms"]),
         "", _x(cross["ratios"]["wake_p50"])),
        ("", "wake p99 (ms)", _ms(cross["service"]["wake"]["p99_ms"]), "", _x(cross["ratios"]["wake_p99"])),
    ]  # fmt: skip
    login = results["full_login"]
    ours, bare, stdloop, floor = login["service"], login["reference"], login["asyncio_loop"], login["floor"]
    rows += [
        (f"full logins C={results['config']['concurrency']}", "requests/s", f"{ours['rps']:,.0f}",
         f"{bare['rps']:,.0f}", _x(login["ratios"]["rps"])),
        ("", "logins/s", f"{ours['logins_per_s']:,.1f}", "", ""),
        ("", "requests/s, the service on asyncio's own loop", f"{stdloop['rps']:,.0f}", "", ""),
        ("", "server CPU per request (ms)", _ms(ours["server_cpu_ms_per_request"]),
         _ms(bare["server_cpu_ms_per_request"]), _x(login["ratios"]["server_cpu_per_request"])),
        ("", f"  each of the {len(results['cpu_rounds'])} rounds, ratio to its own reference (the median above)",
         "", "", " / ".join(_x(each) for each in login["ratios"]["server_cpu_per_request_rounds"])),
        ("", "  the reference on kept-alive connections (ms)", "",
         _ms(login["reference_kept_alive"]["server_cpu_ms_per_request"]), ""),
        ("", "  the stack's floor: bare Tornado + a login's calls alone (ms per request)", "",
         _ms(floor["server_cpu_ms_per_request"]), _x(login["ratios"]["floor_cpu_per_request"])),
        ("", "  the service / the floor", "", "", _x(login["ratios"]["server_cpu_per_request_vs_floor"])),
        ("", f"  floor's calls: {floor['per_login']['redis_trips']} Redis trips, {floor['per_login']['auth_calls']} "
         "auth calls, RS256, QR (ms each)", "",
         " / ".join(f"{floor[key]:.3f}" for key in ("redis_trip_ms", "auth_call_ms", "signature_ms", "qr_render_ms")),
         ""),
        ("", "per-request p99 (ms)", _ms(ours["latency"]["p99_ms"]), _ms(bare["latency"]["p99_ms"]),
         _x(login["ratios"]["p99"])),
        ("", "wait answer p99 (ms)", _ms(ours["wait"]["p99_ms"]), "", ""),
        ("", "longest loop stall: one callback, CPU (ms; asyncio's loop)", _ms(stdloop["callback_max_ms"]), "", ""),
        ("", "longest callback, wall clock (ms; asyncio's loop)", _ms(stdloop["callback_wall_max_ms"]), "", ""),
        ("", "longest timer lateness, process busy (ms; asyncio's loop)", _ms(stdloop["loop_busy_max_ms"]), "", ""),
        ("", "longest timer lateness, wall clock (ms; asyncio's loop)", _ms(stdloop["loop_lag_max_ms"]), "", ""),
        ("", "longest garbage collection (ms)", _ms(ours["gc_max_ms"]), "", ""),
        ("", "garbage collections", f"{ours['gc_count']:,}", "", ""),
    ]  # fmt: skip
    oidc = results["oidc_login"]
    site, site_stdloop = oidc["service"], oidc["asyncio_loop"]
    bare = oidc["reference"]
    rows += [
        (f"OIDC logins C={results['config']['concurrency']}", "requests/s", f"{site['rps']:,.0f}",
         f"{bare['rps']:,.0f}", _x(oidc["ratios"]["rps"])),
        ("", "logins/s (first-party's ratio)", f"{site['logins_per_s']:,.1f}", "",
         _x(oidc["ratios"]["logins_per_s_vs_first_party"])),
        ("", "server CPU per request (ms)", _ms(site["server_cpu_ms_per_request"]),
         _ms(bare["server_cpu_ms_per_request"]), _x(oidc["ratios"]["server_cpu_per_request"])),
        ("", "server CPU per login (ms; first-party's ratio)", _ms(site["server_cpu_ms_per_login"]), "",
         _x(oidc["ratios"]["server_cpu_per_login_vs_first_party"])),
        ("", "  each round, first-party's ratio (the median above)", "", "",
         " / ".join(_x(each) for each in oidc["ratios"]["server_cpu_per_login_vs_first_party_rounds"])),
        ("", "server CPU per first-party login, the same round (ms)",
         _ms(oidc["first_party"]["server_cpu_ms_per_login"]), "", ""),
        ("", "per-request p99 (ms)", _ms(site["latency"]["p99_ms"]), "", ""),
        ("", "longest loop stall: one callback, CPU (ms; asyncio's loop)", _ms(site_stdloop["callback_max_ms"]), "",
         ""),
        ("", "longest callback, wall clock (ms; asyncio's loop)", _ms(site_stdloop["callback_wall_max_ms"]), "", ""),
    ]  # fmt: skip
    return rows + capacity_rows(results["capacity"])


def capacity_rows(capacity: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    ours, bare = capacity["service"], capacity["reference"]
    box = capacity["limits"]
    backlog = min(ours["backlog"], box["somaxconn"])

    def errors(side: dict[str, Any], key: str) -> str:
        found = side[key]
        return f"{sum(found.values()):,}" + (f" ({', '.join(f'{k} {v}' for k, v in found.items())})" if found else "")

    def kernel(side: dict[str, Any]) -> str:
        return "; ".join(f"{side['kernel'][name]:,}" for name in ("ListenOverflows", "SoftnetDropped", "TCPSynRetrans"))

    def spread(side: dict[str, Any]) -> str:
        return f"{side['parked']:,} ({' + '.join(f'{count:,}' for count in side['parked_by_process'])})"

    return [
        (f"capacity N={ours['n']:,}, --processes {ours['processes']}, {ours['clients']} clients",
         "parked (per process)", spread(ours), spread(bare), ""),
        ("", "RSS per parked waiter, all processes (KiB)", _kib(ours["rss_per_waiter"]), _kib(bare["rss_per_waiter"]),
         _x(ratio(ours["rss_per_waiter"], bare["rss_per_waiter"]))),
        ("", "wake p50 (ms; confirmed through another process)", _ms(ours["wake"]["p50_ms"]),
         _ms(bare["wake"]["p50_ms"]), _x(ratio(ours["wake"]["p50_ms"], bare["wake"]["p50_ms"]))),
        ("", "wake p99 (ms)", _ms(ours["wake"]["p99_ms"]), _ms(bare["wake"]["p99_ms"]),
         _x(ratio(ours["wake"]["p99_ms"], bare["wake"]["p99_ms"]))),
        ("", "wake max (ms)", _ms(ours["wake"]["max_ms"]), _ms(bare["wake"]["max_ms"]), ""),
        ("", "woken (of them through another process)", f"{ours['woken']:,} ({ours['woken_across']:,})",
         f"{bare['woken']:,}", ""),
        ("", "waking all: seconds; server CPU per wake (ms)",
         f"{ours['wake_all_seconds']:.1f}; {ours['server_cpu_ms_per_wake']:.2f}",
         f"{bare['wake_all_seconds']:.1f}; {bare['server_cpu_ms_per_wake']:.2f}",
         _x(ratio(ours["server_cpu_ms_per_wake"], bare["server_cpu_ms_per_wake"]))),
        ("", "parking: seconds; slowest connection answered (ms)",
         f"{ours['park_seconds']:.1f}; {ours['slowest_connect_ms']:.0f}",
         f"{bare['park_seconds']:.1f}; {bare['slowest_connect_ms']:.0f}", ""),
        ("", "longest garbage collection, start to all parked (ms)", _ms(ours["gc_max_ms"]), "", ""),
        ("", "refused, reset or failed while parking", errors(ours, "errors_parking"), errors(bare, "errors_parking"),
         ""),
        ("", f"while parking, machine-wide: listen queue overflows (backlog {backlog:,}); "
         "loopback packets dropped; SYNs sent again", kernel(ours), kernel(bare), ""),
        ("", "failed while waking", errors(ours, "errors_waking"), errors(bare, "errors_waking"), ""),
        ("", f"open files, fullest process (limit {ours['fd_limit']:,})", f"{max(ours['open_fds']):,}",
         f"{max(bare['open_fds']):,}", ""),
        ("", "machine: ports per source address; memory available (GiB)",
         f"{box['ports_per_source_address']:,}; {box['memory_available'] / 2**30:.1f}", "", ""),
    ]  # fmt: skip


def markdown(rows: list[tuple[str, str, str, str, str]], targets: list[dict[str, Any]]) -> list[str]:
    """The figures' table, then the targets'."""
    lines = ["| scenario | figure | qrlogin | bare Tornado | ratio |", "|---|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "| target | measured | limit | met |", "|---|---:|---|---|"]
    for target in targets:
        met = "yes" if target["met"] else "**NO**"
        lines.append(f"| {target['target']} | {target['value']:,.2f} | {target['limit']} | {met} |")
    return lines


def machine_line(box: dict[str, Any]) -> str:
    return (
        f"Machine: {box['cpus']} CPUs ({box['cpu_model']}), {box['memory_gib']} GiB, {box['system']}, "
        f"Python {box['python']}; load average {box['load_average']:.2f} before, "
        f"{box['load_average_after']:.2f} after"
    )


def table(results: dict[str, Any]) -> str:
    """The figures and targets as a plain-text (and Markdown) table."""
    return "\n".join([machine_line(results["machine"]), "", *markdown(_rows(results), results["targets"])])


def capacity_table(results: dict[str, Any]) -> str:
    """The capacity scenario's figures and targets alone (``python -m bench.capacity``)."""
    rows = capacity_rows(results["capacity"])
    return "\n".join([machine_line(results["machine"]), "", *markdown(rows, results["targets"])])


def _kib(value: float) -> str:
    return f"{value / 1024:.2f}"


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _x(value: float) -> str:
    return f"{value:.2f}x"
