"""``python main.py keys``: the token signing keys every instance shares.

    python main.py keys list                  every key: state, when it signs, until when it is published
    python main.py keys rotate                a new key, published now, signing in 15 minutes (--activate-in)
    python main.py keys remove <kid>          unpublish a key (a pending one, or a compromised retired one)
    python main.py keys prune                 delete the keys nothing valid was signed with any more

The Redis URL, namespace and token lifetimes are read as the service reads
them (the same options and ``QRLOGIN_*`` variables): give the TTLs the
service runs with, as they decide how long a retired key stays published.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TextIO

from login.errors import StorageUnavailable
from oidc.key_set import KeySet, SigningKey
from oidc.keys import ACTIVATION_DELAY, JWKS_MAX_AGE, KEY_REFRESH_INTERVAL
from redis_map.signing_keys import SigningKeyStore
from runtime.options import options_named
from runtime.provider_parts import open_signing_keys
from runtime.server import redacted
from runtime.settings import SettingsError
from runtime.settings_reader import build_parser, command_settings

#: the service's options the command reads: where the keys are, and the lifetimes of what they sign
KEY_OPTIONS = options_named("redis-url", "redis-cluster", "namespace", "token-ttl", "access-token-ttl")


#: a kid as written: the key's RFC 7638 SHA-256 thumbprint, 43 base64url characters
KID_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class CommandError(Exception):
    """The operator asked for something that would break logins; the message says why."""


#: what the command can do, for its help
ACTIONS = {
    "list": "every key, its state and times",
    "rotate": "add a new key, published at once, signing after --activate-in",
    "remove": "unpublish the key KID now: what it signed stops verifying",
    "prune": "delete the keys that are no longer published",
}


def parser() -> argparse.ArgumentParser:
    parse = build_parser(KEY_OPTIONS, prog="python main.py keys")
    parse.description = "The token signing keys every instance shares (in Redis)."
    parse.epilog = "actions:\n" + "\n".join(f"  {name:<8} {text}" for name, text in ACTIONS.items())
    parse.add_argument("action", choices=list(ACTIONS), metavar="ACTION")
    parse.add_argument("kid", nargs="?", help="the key to remove")
    doing = parse.add_argument_group("Actions")
    doing.add_argument("--json", action="store_true", help="list: one JSON object per key")
    doing.add_argument(
        "--activate-in",
        type=float,
        default=ACTIVATION_DELAY,
        metavar="S",
        help=f"rotate: seconds until the new key signs ({ACTIVATION_DELAY:.0f}; 0 after a compromise)",
    )
    doing.add_argument("--force", action="store_true", help="remove: even the key signing now")
    return parse


def dash_kids(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``argv`` without the kids that begin with ``-``, and those kids.

    One thumbprint in 64 begins with ``-``; argparse would read it as an unknown option (or ``-h...`` as help).
    No option of the command has a kid's shape, so such a token can only be a kid.
    """
    kids = [arg for arg in argv if arg.startswith("-") and KID_SHAPE.fullmatch(arg)]
    return [arg for arg in argv if arg not in kids], kids


def _when(stamp: float) -> str:
    if stamp == float("inf"):
        return "-"
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def describe(keys: KeySet, key: SigningKey, now: float) -> dict[str, str]:
    return {
        "kid": key.kid,
        "state": keys.state(key, now),
        "created": _when(key.created_at),
        "signs_from": _when(key.signs_from),
        "published_until": _when(keys.published_until(key)),
    }


async def list_keys(keys: KeySet, now: float, as_json: bool, out: TextIO) -> None:
    for key in keys.keys:
        row = describe(keys, key, now)
        if as_json:
            print(json.dumps(row), file=out)
        else:
            print(
                f"{row['kid']}  {row['state']:<8} signs from {row['signs_from']}  published until "
                f"{row['published_until']}",
                file=out,
            )


async def rotate(store: SigningKeyStore, now: float, activate_in: float, out: TextIO, err: TextIO) -> None:
    if activate_in < 0:
        raise CommandError("--activate-in must be 0 or more seconds")
    key = SigningKey.generate(now=now, signs_from=now + activate_in)
    await store.add(key.kid, key.record())
    print(f"added {key.kid}: published now, signing from {_when(key.signs_from)}", file=out)
    if activate_in < JWKS_MAX_AGE + KEY_REFRESH_INTERVAL:
        print(
            f"note: it signs before every instance (within {KEY_REFRESH_INTERVAL:.0f}s) and every relying party "
            f"caching the JWKS (up to {JWKS_MAX_AGE}s) has seen it; some tokens may be refused meanwhile",
            file=err,
        )


async def remove(store: SigningKeyStore, keys: KeySet, now: float, kid: str, force: bool, out: TextIO) -> None:
    key = next((key for key in keys.keys if key.kid == kid), None)
    if key is None:
        raise CommandError(f"no key {kid!r}; 'python main.py keys list' shows them")
    if keys.signer(now) is key and not force:
        raise CommandError(
            f"{kid} is the key signing now: removing it would hand signing back to an older key. "
            "Rotate first ('keys rotate --activate-in 0'), then remove it; or give --force"
        )
    await store.remove(kid)
    print(f"removed {kid}: tokens it signed are refused from now on (instances re-read within "
          f"{KEY_REFRESH_INTERVAL:.0f}s)", file=out)  # fmt: skip


async def prune(store: SigningKeyStore, keys: KeySet, now: float, out: TextIO) -> None:
    gone = [key for key in keys.keys if keys.state(key, now) == "expired"]
    for key in gone:
        await store.remove(key.kid)
    print(f"pruned {len(gone)} key(s)", file=out)


def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The ``keys`` command; its exit status."""
    rest, kids = dash_kids(argv)
    try:
        args, settings = command_settings(parser(), rest, environ, KEY_OPTIONS)
        if kids:
            if args.kid or len(kids) > 1:
                raise SettingsError("one KID at most")
            args.kid = kids[0]
    except SettingsError as exc:
        print(f"keys: {exc}", file=err)
        return 2

    async def go() -> None:
        async with open_signing_keys(settings) as (store, ring):
            keys = await ring.refresh()
            now = ring.clock()
            if args.action == "list":
                await list_keys(keys, now, args.json, out)
            elif args.action == "rotate":
                await rotate(store, now, args.activate_in, out, err)
            elif args.action == "remove":
                if not args.kid:
                    raise CommandError("remove needs the KID of the key ('python main.py keys list' shows them)")
                await remove(store, keys, now, args.kid, args.force, out)
            else:
                await prune(store, keys, now, out)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(go())
    except CommandError as exc:
        print(f"keys: {exc}", file=err)
        return 1
    except StorageUnavailable:
        print(f"keys: Redis at {redacted(settings.redis_url)} is unreachable", file=err)
        return 1
    return 0
