"""``python main.py audit``: read the audit stream of login outcomes.

    python main.py audit --tail [N]        the last N outcomes (default 20)
    python main.py audit --tail --follow   then every new one as it comes (Ctrl-C stops)

The Redis URL and namespace are read as the service reads them (the same
options and ``QRLOGIN_*`` variables).  An embedded Redis (no ``--redis-url``)
dies with its service, so there is nothing to read then.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from login.errors import StorageUnavailable
from redis_map.audit import AuditEntry, AuditLog
from runtime.composition import open_audit_log
from runtime.options import options_named
from runtime.server import redacted
from runtime.settings import SettingsError
from runtime.settings_reader import build_parser, command_settings

#: how long one blocking read waits for new entries while following
FOLLOW_BLOCK = 5.0


#: the service's options the command reads
REDIS_OPTIONS = options_named("redis-url", "redis-cluster", "namespace")


def parser() -> argparse.ArgumentParser:
    parse = build_parser(REDIS_OPTIONS, prog="python main.py audit")
    parse.description = "Read the audit stream of login outcomes."
    parse.epilog = None
    reading = parse.add_argument_group("Reading")
    reading.add_argument("--tail", type=int, nargs="?", const=20, default=20, metavar="N", help="show the last N (20)")
    reading.add_argument("--follow", "-f", action="store_true", help="keep printing new outcomes")
    reading.add_argument("--json", action="store_true", help="one JSON object per line")
    return parse


def format_entry(entry: AuditEntry, as_json: bool) -> str:
    if as_json:
        stamp = entry.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json.dumps({"id": entry.id, "time": stamp, "outcome": entry.outcome, **entry.fields})
    return entry.line()


async def read(audit: AuditLog, tail: int, follow: bool, as_json: bool, out: TextIO) -> None:
    entries = await audit.tail(tail)
    for entry in entries:
        print(format_entry(entry, as_json), file=out, flush=True)
    last = entries[-1].id if entries else "0-0"
    while follow:
        for entry in await audit.follow(last, FOLLOW_BLOCK):
            print(format_entry(entry, as_json), file=out, flush=True)
            last = entry.id


def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """The ``audit`` command; its exit status."""
    try:
        args, settings = command_settings(parser(), argv, environ, REDIS_OPTIONS)
    except SettingsError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2

    async def go() -> None:
        async with open_audit_log(settings) as audit:
            await read(audit, args.tail, args.follow, args.json, out)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(go())
    except StorageUnavailable:
        print(f"audit: Redis at {redacted(settings.redis_url)} is unreachable", file=sys.stderr)
        return 1
    return 0
