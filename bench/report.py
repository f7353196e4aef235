"""The benchmark's table, from the measured figures and the judged targets, and its publishing (JSON and Markdown)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.targets import ratio


def publish(out: Path, results: dict[str, Any], tables: str) -> None:
    """Write ``results`` as JSON to ``out`` and print ``tables`` (the Markdown for the README)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(tables)
    print(f"\nfigures written to {out}")


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
            # Bare Tornado's, parked alike with the same probe: what the platform's clock reads for no work of ours.
            bare_burst = entry["reference_asyncio_loop"]
            rows += [
                ("", "longest loop stall while parking: one callback, CPU (ms; asyncio's loop)",
                 _ms(burst["callback_max_ms"]), _ms(bare_burst["callback_max_ms"]), ""),
                ("", "longest callback while parking, wall clock (ms; asyncio's loop)",
                 _ms(burst["callback_wall_max_ms"]), _ms(bare_burst["callback_wall_max_ms"]), ""),
                ("", "longest garbage collection while parking (ms; asyncio's loop)",
                 _ms(burst["parking_gc_max_ms"]), _ms(bare_burst["parking_gc_max_ms"]), ""),
            ]  # fmt: skip
    cross = results["cross_process"]
    rows += [
        (f"across processes N={cross['service']['n']:,}", "wake p50 (ms)", _ms(cross["service"]["wake"]["p50_ms"]),
         "", _x(cross["ratios"]["wake_p50"])),
        ("", "wake p99 (ms)", _ms(cross["service"]["wake"]["p99_ms"]), "", _x(cross["ratios"]["wake_p99"])),
    ]  # fmt: skip
    login = results["full_login"]
    ours, bare, stdloop, floor = login["service"], login["reference"], login["asyncio_loop"], login["floor"]
    bare_stdloop = login["reference_asyncio_loop"]  # bare Tornado on asyncio's loop, the same probe, the same load
    rows += [
        (f"full logins C={results['config']['concurrency']}", "requests/s", f"{ours['rps']:,.0f}",
         f"{bare['rps']:,.0f}", _x(login["ratios"]["rps"])),
        ("", "logins/s", f"{ours['logins_per_s']:,.1f}", "", ""),
        ("", "requests/s, on asyncio's own loop", f"{stdloop['rps']:,.0f}", f"{bare_stdloop['rps']:,.0f}", ""),
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
        ("", "longest loop stall: one callback, CPU (ms; asyncio's loop)", _ms(stdloop["callback_max_ms"]),
         _ms(bare_stdloop["callback_max_ms"]), ""),
        ("", "longest callback, wall clock (ms; asyncio's loop)", _ms(stdloop["callback_wall_max_ms"]),
         _ms(bare_stdloop["callback_wall_max_ms"]), ""),
        ("", "longest timer lateness, process busy (ms; asyncio's loop)", _ms(stdloop["loop_busy_max_ms"]),
         _ms(bare_stdloop["loop_busy_max_ms"]), ""),
        ("", "longest timer lateness, wall clock (ms; asyncio's loop)", _ms(stdloop["loop_lag_max_ms"]),
         _ms(bare_stdloop["loop_lag_max_ms"]), ""),
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
