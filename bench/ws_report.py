"""The WebSocket benchmark's figures: its targets (``evaluate``) and its Markdown tables (``table``)."""

from __future__ import annotations

from typing import Any

#: the servers, in the order each size runs them
KINDS = ("reference", "service")
#: RSS per socket at most this many times the reference's; wake p99 under this, and growing at most this much
RSS_LIMIT = 1.3
WAKE_P99_LIMIT_MS = 10.0
WAKE_GROWTH_LIMIT = 2.0
#: the CPU windows' figures shown: (key, label)
CPU_ROWS = (
    ("idle_cpu_ms_per_s", "CPU, nothing connected"),
    ("heartbeat_cpu_ms_per_s", "CPU, the sockets parked"),
    ("sockets_cpu_ms_per_s", "CPU of the parked sockets (the difference)"),
)
#: the full-login figures shown: (key, label, format)
LOGIN_ROWS = (
    ("logins_per_s", "logins/s", ".1f"),
    ("server_cpu_ms_per_login", "server CPU per login (ms)", ".2f"),
    ("requests_per_login", "HTTP requests per login (an upgrade counts as one)", ".2f"),
    ("messages_sent_per_login", "WebSocket messages sent per login", ".2f"),
    ("messages_pushed_per_login", "WebSocket messages pushed per login", ".2f"),
)


def evaluate(results: dict[str, Any]) -> list[tuple[str, float, str, float, bool]]:
    """Adds the ratios to ``results``; the targets as (name, measured, operator, limit, met)."""
    targets: list[tuple[str, float, str, float]] = []
    parked = results.get("parked", [])
    for entry in parked:
        ours, bare = entry["service"], entry["reference"]
        entry["ratios"] = {
            "rss_per_socket": ours["rss_per_socket"] / bare["rss_per_socket"],
            "wake_p99": ours["wake"]["p99_ms"] / bare["wake"]["p99_ms"],
        }
    if parked:
        small, large = parked[0], parked[-1]
        n = large["n"]
        if all("idle_cpu_ms_per_s" in large[kind] and "heartbeat_cpu_ms_per_s" in large[kind] for kind in KINDS):
            # What the parked sockets cost beyond the server's own timers (the service's loop probe).
            for kind in KINDS:
                large[kind]["sockets_cpu_ms_per_s"] = (
                    large[kind]["heartbeat_cpu_ms_per_s"] - large[kind]["idle_cpu_ms_per_s"]
                )
            bare_cost = large["reference"]["sockets_cpu_ms_per_s"]
            large["ratios"]["sockets_cpu"] = large["service"]["sockets_cpu_ms_per_s"] / bare_cost if bare_cost else 0
        growth = {kind: large[kind]["wake"]["p99_ms"] / small[kind]["wake"]["p99_ms"] for kind in KINDS}
        results["wake_p99_growth"] = growth
        targets += [
            (f"RSS per socket / bare tornado.websocket (N={n})", large["ratios"]["rss_per_socket"], "<=", RSS_LIMIT),
            (f"wake p99 at N={n} (ms)", large["service"]["wake"]["p99_ms"], "<", WAKE_P99_LIMIT_MS),
            (f"wake p99 N={n} / N={small['n']}", growth["service"], "<=", WAKE_GROWTH_LIMIT),
        ]
    logins = results.get("logins")
    if logins:
        ws, poll = logins["websocket"], logins["long-poll"]
        logins["ratios"] = {
            name: ws[name] / poll[name] for name in ("server_cpu_ms_per_login", "logins_per_s", "requests_per_login")
        }
    return [
        (name, value, op, limit, value <= limit if op == "<=" else value < limit) for name, value, op, limit in targets
    ]


def table(results: dict[str, Any], targets: list[tuple[str, float, str, float, bool]]) -> str:
    """The figures and the targets as Markdown tables."""
    lines = ["| scenario | figure | qrlogin | bare tornado.websocket | ratio |", "|---|---|---:|---:|---:|"]
    for entry in results.get("parked", []):
        ours, bare = entry["service"], entry["reference"]
        lines.append(
            f"| sockets N={entry['n']:,} | RSS per socket (KiB) | {ours['rss_per_socket'] / 1024:.2f} | "
            f"{bare['rss_per_socket'] / 1024:.2f} | {entry['ratios']['rss_per_socket']:.2f}x |"
        )
        for q in ("p50", "p99"):
            line = f"|  | wake {q} (ms) | {ours['wake'][f'{q}_ms']:.2f} | {bare['wake'][f'{q}_ms']:.2f} |"
            lines.append(line + (f" {entry['ratios']['wake_p99']:.2f}x |" if q == "p99" else "  |"))
        lines.append(f"|  | wake max (ms) | {ours['wake']['max_ms']:.2f} | {bare['wake']['max_ms']:.2f} |  |")
        if "gc_max_ms" in ours:
            lines.append(
                f"|  | garbage collections while waking: count, longest (ms) | "
                f"{ours['gc_count']}, {ours['gc_max_ms']:.2f} |  |  |"
            )
            lines.append(  # lateness with the process busy is ours; the rest, the OS running something else
                f"|  | loop late at most while waking: wall clock / process busy (ms) | "
                f"{ours['loop_lag_max_ms']:.2f} / {ours['loop_busy_max_ms']:.2f} |  |  |"
            )
        for name, figure in CPU_ROWS:
            if name in ours:
                ratio = f"{entry['ratios']['sockets_cpu']:.2f}x" if name == "sockets_cpu_ms_per_s" else ""
                lines.append(f"|  | {figure} (ms per s) | {ours[name]:.1f} | {bare[name]:.1f} | {ratio} |")
    if "wake_p99_growth" in results:
        growth = results["wake_p99_growth"]
        lines.append(
            f"| N={results['parked'][0]['n']:,} to {results['parked'][-1]['n']:,} | wake p99 growth | "
            f"{growth['service']:.2f}x | {growth['reference']:.2f}x |  |"
        )
    logins = results.get("logins")
    if logins:
        lines += ["", "| full logins | over /ws | over /wait long-polls | ratio |", "|---|---:|---:|---:|"]
        ws, poll, ratios = logins["websocket"], logins["long-poll"], logins["ratios"]
        for name, figure, fmt in LOGIN_ROWS:
            ratio = f"{ratios[name]:.2f}x" if name in ratios else ""
            lines.append(f"| {figure} | {ws.get(name, 0):{fmt}} | {poll.get(name, 0):{fmt}} | {ratio} |")
    if targets:
        lines += ["", "| target | measured | limit | met |", "|---|---:|---|---|"]
        for name, value, op, limit, met in targets:
            lines.append(f"| {name} | {value:.2f} | {op} {limit:g} | {'yes' if met else '**NO**'} |")
    return "\n".join(lines)
