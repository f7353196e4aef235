"""``python main.py audit``: read the audit stream of login outcomes.

    python main.py audit --tail [N]        the last N outcomes (default 20)
    python main.py audit --tail --follow   then every new one as it comes (Ctrl-C stops)

The Redis URL and namespace come from ``--redis-url``/``--namespace`` or the
service's environment (``QRLOGIN_REDIS_URL``, ``QRLOGIN_NAMESPACE``).  An
embedded Redis (no ``--redis-url``) dies with its service, so there is
nothing to read then.
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
from redis_map import SessionStore, connect
from redis_map.audit import AuditEntry, AuditLog

#: how long one blocking read waits for new entries while following
FOLLOW_BLOCK = 5.0


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python main.py audit", description="Read the audit stream of login outcomes.")
    parse.add_argument("--tail", type=int, nargs="?", const=20, default=20, metavar="N", help="show the last N (20)")
    parse.add_argument("--follow", "-f", action="store_true", help="keep printing new outcomes")
    parse.add_argument("--json", action="store_true", help="one JSON object per line")
    parse.add_argument("--redis-url", default=None, help="the service's Redis (default: $QRLOGIN_REDIS_URL)")
    parse.add_argument("--namespace", default=None, help="its namespace (default: $QRLOGIN_NAMESPACE or qrlogin)")
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
    args = parser().parse_args(list(argv))
    url = args.redis_url or environ.get("QRLOGIN_REDIS_URL")
    if not url:
        print("audit: give --redis-url (or QRLOGIN_REDIS_URL): an embedded Redis keeps no audit", file=sys.stderr)
        return 2
    namespace = args.namespace or environ.get("QRLOGIN_NAMESPACE") or "qrlogin"

    async def go() -> None:
        redis = connect(url)
        try:
            store = SessionStore(redis, namespace=namespace)
            await read(
                AuditLog(redis, namespace=namespace, session_key=store.key), args.tail, args.follow, args.json, out
            )
        finally:
            await redis.aclose()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(go())
    except StorageUnavailable:
        print(f"audit: Redis at {url} is unreachable", file=sys.stderr)
        return 1
    return 0
