"""The benchmark's ratios and targets, all from the measured figures: ``evaluate`` adds the ratios to the results
and judges each target."""

from __future__ import annotations

import math
from collections.abc import Callable
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
