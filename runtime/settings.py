"""The service's settings: read once, from the command line and the environment, into one typed object.

Every option ``--some-name`` can also be set as ``QRLOGIN_SOME_NAME``; the
command line wins.  A wrong value, from either place, is a ``SettingsError``
whose message names the option (or the variable) and what is wrong with it.
"""

from __future__ import annotations

import argparse
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from handlers.branding import Branding, Logo
from handlers.middleware.proxy import TrustedProxies
from handlers.middleware.security import parse_origins
from redis_map.connection.connect import redis_url_of
from redis_map.ratelimit import RateLimits
from runtime.http import MAX_CONNECTIONS_PER_IP
from runtime.process import EVENT_LOOPS

#: prefix of the environment variables that set options
ENV_PREFIX = "QRLOGIN_"
#: shortest --secret accepted: HS256 wants at least 256 bits of key
MIN_SECRET_LENGTH = 32
#: the log levels --log-level accepts
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """A setting is wrong; the message names it and says why."""


@dataclass(frozen=True)
class Settings:
    """Everything the service is told at start, checked and typed."""

    port: int = 8080
    address: str = ""
    #: "" for an embedded Redis
    redis_url: str = ""
    processes: int = 1
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
    #: most open connections from one client address (0: no cap)
    max_connections_per_ip: int = MAX_CONNECTIONS_PER_IP
    #: None: /metrics is served on the main port
    metrics_port: int | None = None
    metrics_address: str = ""
    #: seconds a stop may take before the process exits anyway, non-zero
    stop_timeout: float = 20.0
    #: "" for demo mode
    auth_url: str = ""
    auth_timeout: float = 5.0
    #: the URL phones reach the service at; None: as the PC's request did
    public_url: str | None = None
    #: the OpenID provider's issuer URL; None: --public-url, else as each request reached the service
    issuer: str | None = None
    #: the key of the HMAC that stores client secrets, kept outside Redis ("": none)
    client_secret_pepper: str = ""
    #: seconds an access token (and an ID token) stays valid
    access_token_ttl: int = 600
    #: seconds a login's refresh tokens stay usable, from the login (rotation does not extend it)
    refresh_token_ttl: int = 30 * 86400
    #: deprecated and ignored: login tokens are RS256, signed with the shared keys
    secret: str = ""
    session_ttl: float = 120.0
    wait_timeout: float = 25.0
    #: seconds between WebSocket pings and SSE heartbeat comments
    ping_interval: float = 20.0
    #: seconds a WebSocket peer has to answer a ping (Tornado caps it at the interval)
    ping_timeout: float = 10.0
    code_ttl: float = 60.0
    token_ttl: int = 3600
    namespace: str = "qrlogin"
    #: None: the abuse limits are off
    rate_limits: RateLimits | None = field(default_factory=RateLimits)
    cors_origins: frozenset[str] = frozenset()
    #: fresh codes the PC page fetches on expiry with nobody scanning, before it stops and asks
    idle_codes: int = 5
    app_name: str = "qrlogin"
    logo: Path | None = None
    after_login_url: str | None = None
    event_loop: str = "uvloop"
    loop_probe: bool = False
    log_level: str = "info"

    @property
    def branding(self) -> Branding:
        """What the pages call the product, its logo, and where the PC goes once logged in."""
        return Branding(app_name=self.app_name, logo_path=self.logo, after_login_url=self.after_login_url)

    @property
    def oidc_issuer(self) -> str | None:
        """The issuer named in tokens and discovery: --issuer, else --public-url (None: per request)."""
        return self.issuer or self.public_url

    @property
    def demo(self) -> bool:
        """Demo mode: no auth server; ``Bearer demo:<name>`` is <name>."""
        return not self.auth_url


# -- value parsers: each takes the text and returns the value, or raises ValueError saying why ----------


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r} must be more than 0 seconds")
    return value


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise ValueError(f"{value} is out of range ({low}..{high if high is not None else ''})")
        return value

    return parse


def _http_url(text: str) -> str:
    if not text:
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http:// or https:// URL (with a host)")
    return text.rstrip("/")


def _optional_http_url(text: str) -> str | None:
    return _http_url(text) or None


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return parse


def _secret(text: str) -> str:
    if text and len(text) < MIN_SECRET_LENGTH:
        raise ValueError(f"is too short to sign with: give at least {MIN_SECRET_LENGTH} characters")
    return text


def _pepper(text: str) -> str:
    if text and len(text) < MIN_SECRET_LENGTH:
        raise ValueError(f"is too short to key an HMAC with: give at least {MIN_SECRET_LENGTH} characters")
    return text


def _rate_limits(text: str) -> RateLimits | None:
    return RateLimits.parse(text)


def _logo(text: str) -> Path | None:
    if not text:
        return None
    Logo.load(Path(text))  # ValueError says why it cannot be the logo
    return Path(text)


def _optional_port(text: str) -> int | None:
    return _whole(0, 65535)(text) if text else None


def _optional(text: str) -> str | None:
    return text or None


@dataclass(frozen=True)
class Option:
    """One option: its flag, where it lands in Settings, how it is read, and its help."""

    name: str
    group: str
    parse: Callable[[str], Any]
    default: str
    help: str
    metavar: str = "VALUE"
    #: a flag that may be given alone (``--loop-probe``) meaning true
    flag: bool = False
    #: the Settings field it sets (default: the name with '-' as '_')
    target: str = ""

    @property
    def dest(self) -> str:
        return self.target or self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper().replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("port", "Listening", _whole(0, 65535), "8080", "port to listen on (0: any free port)", "PORT"),
    Option("address", "Listening", str, "", "address to listen on (default: all interfaces)", "ADDR"),
    Option("processes", "Listening", _whole(0), "1", "worker processes sharing the port (0: one per core)", "N"),
    Option(
        "public-url", "Listening", _optional_http_url, "",
        "the URL phones reach the service at; the QR encodes <URL>/s/<uuid> (default: as the PC reached us)", "URL",
    ),
    Option(
        "trusted-proxies", "Listening", TrustedProxies.parse, "",
        "IPs/CIDRs of reverse proxies whose X-Forwarded-For / X-Real-IP are believed", "CIDRS",
    ),
    Option(
        "max-connections-per-ip", "Listening", _whole(0), str(MAX_CONNECTIONS_PER_IP),
        "most open connections from one client address, past which new ones are closed (0: no cap; "
        "--trusted-proxies are not counted)", "N",
    ),
    Option(
        "metrics-port", "Operations", _optional_port, "",
        "serve /metrics only on this port, not on --port (default: on --port)", "PORT",
    ),
    Option(
        "metrics-address", "Operations", str, "",
        "address for --metrics-port (default: all interfaces; e.g. 127.0.0.1)", "ADDR",
    ),
    Option(
        "stop-timeout", "Operations", _positive_number, "20",
        "seconds a stop (SIGTERM, SIGINT) may take before the process exits anyway, non-zero", "S",
    ),
    Option(
        "redis-url", "Redis", str, "",
        "redis://, rediss://, unix://, redis+cluster:// or redis+sentinel:// URL (default: an embedded Redis)",
        "URL",
    ),
    Option("redis-cluster", "Redis", _flag, "false", "--redis-url names a node of a Redis Cluster", flag=True),
    Option("namespace", "Redis", str, "qrlogin", "prefix of every Redis key and channel", "NAME"),
    Option(
        "auth-url", "The app's credential", _http_url, "",
        "the OpenID Connect UserInfo URL that checks the app's bearer token (default: demo mode)", "URL",
    ),
    Option("auth-timeout", "The app's credential", _positive_number, "5", "seconds to wait for the auth server", "S"),
    Option("session-ttl", "The login flow", _positive_number, "120", "seconds a session lives until confirmed", "S"),
    Option("wait-timeout", "The login flow", _positive_number, "25", "seconds a /wait stays parked", "S"),
    Option(
        "ping-interval", "The login flow", _positive_number, "20",
        "seconds between heartbeats on /ws (pings) and /events (comments)", "S",
    ),
    Option(
        "ping-timeout", "The login flow", _positive_number, "10",
        "seconds a /ws peer has to answer a ping before it is dropped (at most --ping-interval)", "S",
    ),
    Option("code-ttl", "The login flow", _positive_number, "60", "seconds the PC has to exchange its code", "S"),
    Option("token-ttl", "The login flow", _whole(1), "3600", "seconds a login token stays valid", "S"),
    Option(
        "secret", "The login flow", _secret, "",
        "deprecated and ignored: login tokens are now RS256, signed with the shared keys (python main.py keys)",
        "KEY",
    ),
    Option(
        "rate-limit", "Abuse limits and browsers", _rate_limits, "on",
        "on, off, or overrides such as 'uuid_ip=30/60,wait_ip=50'", "SPEC", target="rate_limits",
    ),
    Option(
        "cors-origins", "Abuse limits and browsers", parse_origins, "",
        "comma-separated origins allowed to call the API from a page on another origin", "ORIGINS",
    ),
    Option(
        "idle-codes", "Pages", _whole(1), "5",
        "fresh codes the PC page fetches when one expires with nobody scanning, before it asks", "N",
    ),
    Option("app-name", "Pages", str, "qrlogin", "the product name the pages show (\"Open <name> and scan\")", "NAME"),
    Option("logo", "Pages", _logo, "", "an image file shown as the product's logo on both pages", "FILE"),
    Option(
        "after-login-url", "Pages", _optional, "",
        "where the PC page goes once logged in: a path here or an http(s) URL (default: it says who is logged in)",
        "URL",
    ),
    Option(
        "event-loop", "Performance and diagnostics", _choice(EVENT_LOOPS), "uvloop",
        "uvloop (faster), or asyncio for asyncio's own loop", "LOOP",
    ),
    Option(
        "loop-probe", "Performance and diagnostics", _flag, "false",
        "benchmarks: measure event-loop stalls, served at /debug/stats", flag=True,
    ),
    Option("log-level", "Performance and diagnostics", _choice(LOG_LEVELS), "info", "debug, info, warning or error",
           "LEVEL"),
    Option(
        "issuer", "OpenID Connect provider", _optional_http_url, "",
        "the issuer URL in tokens and discovery (default: --public-url, else as each request reached the service)",
        "URL",
    ),
    Option(
        "client-secret-pepper", "OpenID Connect provider", _pepper, "",
        f"key (at least {MIN_SECRET_LENGTH} characters, kept outside Redis) of the HMAC storing client secrets; "
        "the same for the service and 'clients' (default: none)", "KEY",
    ),
    Option(
        "access-token-ttl", "OpenID Connect provider", _whole(60, 86400), "600",
        "seconds an access token and an ID token stay valid", "S",
    ),
    Option(
        "refresh-token-ttl", "OpenID Connect provider", _whole(60), str(30 * 86400),
        "seconds a login's refresh tokens stay usable, counted from the login", "S",
    ),
)  # fmt: skip

#: the commands ``python main.py <command>`` runs instead of the service
COMMANDS = {
    "audit": "read the audit stream of login outcomes (see: python main.py audit --help)",
    "keys": "list, rotate, remove or prune the token signing keys (see: python main.py keys --help)",
    "clients": "add, list, show, remove or rotate-secret the OpenID clients (see: python main.py clients --help)",
}


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


def options_named(*names: str) -> tuple[Option, ...]:
    """The service's options of these names, for a command that needs only them."""
    return tuple(option for option in OPTIONS if option.name in names)


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
