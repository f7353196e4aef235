"""``python main.py clients``: the sites (OpenID clients) that may send people here to log in.

    python main.py clients add --name "Acme" --redirect-uri https://acme.example/callback [--public]
    python main.py clients list
    python main.py clients show <client id>
    python main.py clients remove <client id>
    python main.py clients rotate-secret <client id>

A confidential client's secret is printed once, by ``add`` and
``rotate-secret``, and stored only as a hash: keep it then, or rotate it.
The Redis URL, namespace and ``--client-secret-pepper`` are read as the
service reads them (the same options and ``QRLOGIN_*`` variables): the pepper
must be the service's, or the secrets printed here will not match there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TextIO

from login.errors import StorageUnavailable
from oidc.client_rules import ClientError
from oidc.clients import Client, ClientRegistry, UnknownClient
from oidc.scopes import SUPPORTED_SCOPES
from runtime.options import options_named
from runtime.provider_parts import open_clients
from runtime.server import redacted
from runtime.settings import SettingsError
from runtime.settings_reader import build_parser, command_settings

#: the service's options the command reads
CLIENT_OPTIONS = options_named("redis-url", "redis-cluster", "namespace", "client-secret-pepper")
#: what the command can do, for its help
ACTIONS = {
    "add": "register a client (--name, --redirect-uri ..., --public, --scopes); prints its secret once",
    "list": "every client",
    "show": "one client (CLIENT_ID)",
    "remove": "delete a client (CLIENT_ID): its codes and tokens stop working",
    "rotate-secret": "a new secret for a confidential client (CLIENT_ID); the old one stops working at once",
}


def parser() -> argparse.ArgumentParser:
    parse = build_parser(CLIENT_OPTIONS, prog="python main.py clients")
    parse.description = "The OpenID clients (relying parties) that may send people here to log in."
    parse.epilog = "actions:\n" + "\n".join(f"  {name:<14} {text}" for name, text in ACTIONS.items())
    parse.add_argument("action", choices=list(ACTIONS), metavar="ACTION")
    parse.add_argument("client_id", nargs="?", metavar="CLIENT_ID", help="the client to show, remove or rotate")
    adding = parse.add_argument_group("Adding")
    adding.add_argument("--name", help="what the phone shows as the site asking")
    adding.add_argument(
        "--redirect-uri", action="append", default=[], metavar="URI", help="an exact redirect URI (repeatable)"
    )
    adding.add_argument("--public", action="store_true", help="a single-page or native app: no secret, PKCE only")
    adding.add_argument(
        "--scopes", default="openid profile", help=f"allowed scopes, of: {' '.join(sorted(SUPPORTED_SCOPES))}"
    )
    adding.add_argument("--id", dest="new_id", metavar="CLIENT_ID", help="the client id (default: a random one)")
    parse.add_argument("--json", action="store_true", help="JSON output")
    return parse


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _line(client: Client) -> str:
    uris = " ".join(client.redirect_uris)
    return f"{client.client_id}  {client.kind:<12} {client.name!r}  scopes={' '.join(sorted(client.scopes))}  {uris}"


async def act(registry: ClientRegistry, args: argparse.Namespace, out: TextIO) -> None:
    """One action; ClientError or UnknownClient for what the operator must fix."""
    if args.action == "add":
        if not args.name:
            raise ClientError("add needs --name")
        client, secret = await registry.register(
            name=args.name,
            redirect_uris=args.redirect_uri,
            public=args.public,
            scopes=args.scopes.split(),
            client_id=args.new_id,
        )
        _print_new(client, secret, args.json, out)
        return
    if args.action == "list":
        for client in await registry.all():
            print(json.dumps(client.shown()) if args.json else _line(client), file=out)
        return
    if not args.client_id:
        raise ClientError(f"{args.action} needs the CLIENT_ID ('python main.py clients list' shows them)")
    if args.action == "show":
        client = await registry.require(args.client_id)
        shown = client.shown()
        if registry.secret_needs_rotation(client):
            shown["warning"] = "its secret was hashed under another --client-secret-pepper: rotate-secret"
        if args.json:
            print(json.dumps(shown), file=out)
        else:
            for key, value in shown.items():
                value = _when(float(str(value))) if key == "created_at" else value
                print(f"{key}: {' '.join(value) if isinstance(value, list) else value}", file=out)
    elif args.action == "remove":
        await registry.remove(args.client_id)
        print(f"removed {args.client_id}", file=out)
    else:
        secret = await registry.rotate_secret(args.client_id)
        _print_new(await registry.require(args.client_id), secret, args.json, out)


def _print_new(client: Client, secret: str | None, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps({**client.shown(), "client_secret": secret}), file=out)
        return
    print(f"client_id:     {client.client_id}", file=out)
    if secret is None:
        print("client_secret: none (a public client: PKCE with S256 on every login)", file=out)
        return
    print(f"client_secret: {secret}", file=out)
    print("This secret is shown once and stored only as a hash: keep it now.", file=out)


def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The ``clients`` command; its exit status."""
    try:
        args, settings = command_settings(parser(), argv, environ, CLIENT_OPTIONS)
    except SettingsError as exc:
        print(f"clients: {exc}", file=err)
        return 2

    async def go() -> None:
        async with open_clients(settings) as registry:
            await act(registry, args, out)

    try:
        asyncio.run(go())
    except ClientError as exc:
        print(f"clients: {exc}", file=err)
        return 1
    except UnknownClient as exc:
        print(f"clients: no client {exc.args[0]!r}", file=err)
        return 1
    except StorageUnavailable:
        print(f"clients: Redis at {redacted(settings.redis_url)} is unreachable", file=err)
        return 1
    return 0
