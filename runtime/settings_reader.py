"""Reading the settings: the command line over the environment (``QRLOGIN_SOME_NAME`` for ``--some-name``),
each value through its option's parser, into Settings; a wrong one is a SettingsError naming it."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from redis_map.connection.connect import redis_url_of
from runtime.options import COMMANDS, OPTIONS, Option
from runtime.settings import Settings, SettingsError


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting: one clear line is the caller's to print."""

    def error(self, message: str) -> Any:  # argparse's signature returns NoReturn
        raise SettingsError(message)


def build_parser(options: Sequence[Option] = OPTIONS, prog: str = "python main.py") -> argparse.ArgumentParser:
    """The parser for ``options``, grouped, each help line naming its variable and default."""
    commands = "\n".join(f"  {name:<8} {text}" for name, text in COMMANDS.items())
    parser = _Parser(
        prog=prog,
        description="qrlogin: scan a QR code with the mobile app to log in on the PC.",
        epilog=f"commands:\n{commands}\n\nWith no options: an embedded Redis, demo auth, port 8080.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        add_help=True,
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in options:
        group = groups.get(option.group) or groups.setdefault(option.group, parser.add_argument_group(option.group))
        shown = f"default: {option.default}" if option.default else "default: none"
        help_text = f"{option.help} [{option.env}; {shown}]"
        if option.flag:
            group.add_argument(f"--{option.name}", dest=option.dest, nargs="?", const="true", metavar="BOOL",
                               help=help_text)  # fmt: skip
        else:
            group.add_argument(f"--{option.name}", dest=option.dest, metavar=option.metavar, help=help_text)
    return parser


def _unknown(arguments: Sequence[str], options: Sequence[Option]) -> SettingsError:
    first = arguments[0]
    flag = first.partition("=")[0]
    if not flag.startswith("--"):
        return SettingsError(f"unexpected argument {first!r} (options are written --name=value; see --help)")
    close = difflib.get_close_matches(flag, [f"--{option.name}" for option in options], n=1)
    hint = f" (did you mean {close[0]}?)" if close else " (see --help)"
    return SettingsError(f"unknown option {flag}{hint}")


def read_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """The settings from ``argv`` (without the program name) over ``environ``; SettingsError if one is wrong."""
    parser = build_parser()
    given, rest = parser.parse_known_args(list(argv))
    if rest:
        raise _unknown(rest, OPTIONS)
    return settings_from(given, environ, OPTIONS)


def command_settings(
    parser: argparse.ArgumentParser, argv: Sequence[str], environ: Mapping[str, str], options: Sequence[Option]
) -> tuple[argparse.Namespace, Settings]:
    """A command's arguments and the service's ``options`` it reads; SettingsError if one is wrong or no Redis is named.

    The commands work on the service's own Redis: an embedded one lives and dies with its service.
    """
    args = parser.parse_args(list(argv))
    settings = settings_from(args, environ, options)
    if not settings.redis_url:
        raise SettingsError("give --redis-url (or QRLOGIN_REDIS_URL): an embedded Redis dies with its service")
    return args, settings


def settings_from(given: argparse.Namespace, environ: Mapping[str, str], options: Sequence[Option]) -> Settings:
    """Settings from parsed arguments over ``environ``, for ``options`` (the rest keep their defaults)."""
    values: dict[str, Any] = {}
    for option in options:
        text = getattr(given, option.dest)
        where = f"--{option.name}"
        if text is None:
            text = environ.get(option.env)
            where = option.env
        if text is None:
            continue
        try:
            values[option.dest] = option.parse(text)
        except ValueError as exc:
            raise SettingsError(f"{where}: {exc}") from None
    cluster = values.pop("redis_cluster", False)
    if "redis_url" in values or cluster:
        try:
            values["redis_url"] = redis_url_of(values.get("redis_url", ""), cluster=cluster)
        except ValueError as exc:
            raise SettingsError(f"--redis-url: {exc}") from None
    known = {item.name for item in fields(Settings)}
    settings = Settings(**{key: value for key, value in values.items() if key in known})
    try:
        settings.branding  # noqa: B018 (checks the pages' options together)
    except ValueError as exc:
        raise SettingsError(f"--app-name/--after-login-url: {exc}") from None
    return settings
