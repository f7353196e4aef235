"""The benchmark's command line (``python -m bench``): its options read into a Config, the run, its table."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from bench.procs import ROOT, stop_on_sigterm
from bench.report import publish, table
from bench.run import QUICK, Config, running

#: where the figures go unless --out says otherwise (gitignored)
DEFAULT_OUT = ROOT / "bench" / "results.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark qrlogin against bare Tornado.")
    parser.add_argument("--redis-url", default="", help="the Redis to use; none: an embedded one")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the JSON figures (default {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="a tiny run (N=100, seconds): checks the bench works")
    parser.add_argument("--sizes", help="comma-separated numbers of parked long-polls (default 100,1000,10000,15000)")
    parser.add_argument("--concurrency", type=int, help="concurrent PCs in the full-login scenario (default 16)")
    parser.add_argument("--duration", type=float, help="seconds of each closed loop (default 10)")
    parser.add_argument("--rounds", type=int, help="rounds of the CPU comparisons, each ratio their median (default 5)")
    parser.add_argument("--event-loop", help="the servers' event loop: uvloop (default) or asyncio")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    args = parse_args(argv)
    config = replace(QUICK if args.quick else Config())
    if args.sizes:
        config.sizes = [int(size) for size in args.sizes.split(",")]
    if args.concurrency:
        config.concurrency = args.concurrency
    if args.duration:
        config.duration = args.duration
    if args.rounds:
        config.rounds = args.rounds
    if args.event_loop:
        config.event_loop = args.event_loop
    started = time.monotonic()
    with running(config, args.redis_url) as bench:
        results = bench.run()
    results["seconds"] = time.monotonic() - started
    publish(args.out, results, table(results))
    return 0
