"""The service's options: each one's flag, group, parser, default and help (``OPTIONS``), and the commands
``python main.py <command>`` runs instead of the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handlers.middleware.proxy import TrustedProxies
from handlers.middleware.security import parse_origins
from runtime.http import MAX_CONNECTIONS_PER_IP
from runtime.option_values import (
    MIN_SECRET_LENGTH,
    boolean,
    choice,
    http_url,
    logo,
    optional,
    optional_http_url,
    optional_port,
    pepper,
    positive_number,
    rate_limits,
    secret,
    whole,
)
from runtime.process import EVENT_LOOPS

#: prefix of the environment variables that set options
ENV_PREFIX = "QRLOGIN_"
#: the log levels --log-level accepts
LOG_LEVELS = ("debug", "info", "warning", "error")


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
    Option("port", "Listening", whole(0, 65535), "8080", "port to listen on (0: any free port)", "PORT"),
    Option("address", "Listening", str, "", "address to listen on (default: all interfaces)", "ADDR"),
    Option("processes", "Listening", whole(0), "1", "worker processes sharing the port (0: one per core)", "N"),
    Option(
        "public-url", "Listening", optional_http_url, "",
        "the URL phones reach the service at; the QR encodes <URL>/s/<uuid> (default: as the PC reached us)", "URL",
    ),
    Option(
        "trusted-proxies", "Listening", TrustedProxies.parse, "",
        "IPs/CIDRs of reverse proxies whose X-Forwarded-For / X-Real-IP are believed", "CIDRS",
    ),
    Option(
        "max-connections-per-ip", "Listening", whole(0), str(MAX_CONNECTIONS_PER_IP),
        "most open connections from one client address, past which new ones are closed (0: no cap; "
        "--trusted-proxies are not counted)", "N",
    ),
    Option(
        "metrics-port", "Operations", optional_port, "",
        "serve /metrics only on this port, not on --port (default: on --port)", "PORT",
    ),
    Option(
        "metrics-address", "Operations", str, "",
        "address for --metrics-port (default: all interfaces; e.g. 127.0.0.1)", "ADDR",
    ),
    Option(
        "stop-timeout", "Operations", positive_number, "20",
        "seconds a stop (SIGTERM, SIGINT) may take before the process exits anyway, non-zero", "S",
    ),
    Option(
        "redis-url", "Redis", str, "",
        "redis://, rediss://, unix://, redis+cluster:// or redis+sentinel:// URL (default: an embedded Redis)",
        "URL",
    ),
    Option("redis-cluster", "Redis", boolean, "false", "--redis-url names a node of a Redis Cluster", flag=True),
    Option("namespace", "Redis", str, "qrlogin", "prefix of every Redis key and channel", "NAME"),
    Option(
        "auth-url", "The app's credential", http_url, "",
        "the OpenID Connect UserInfo URL that checks the app's bearer token (default: demo mode)", "URL",
    ),
    Option("auth-timeout", "The app's credential", positive_number, "5", "seconds to wait for the auth server", "S"),
    Option("session-ttl", "The login flow", positive_number, "120", "seconds a session lives until confirmed", "S"),
    Option("wait-timeout", "The login flow", positive_number, "25", "seconds a /wait stays parked", "S"),
    Option(
        "ping-interval", "The login flow", positive_number, "20",
        "seconds between heartbeats on /ws (pings) and /events (comments)", "S",
    ),
    Option(
        "ping-timeout", "The login flow", positive_number, "10",
        "seconds a /ws peer has to answer a ping before it is dropped (at most --ping-interval)", "S",
    ),
    Option("code-ttl", "The login flow", positive_number, "60", "seconds the PC has to exchange its code", "S"),
    Option("token-ttl", "The login flow", whole(1), "3600", "seconds a login token stays valid", "S"),
    Option(
        "secret", "The login flow", secret, "",
        "deprecated and ignored: login tokens are now RS256, signed with the shared keys (python main.py keys)",
        "KEY",
    ),
    Option(
        "rate-limit", "Abuse limits and browsers", rate_limits, "on",
        "on, off, or overrides such as 'uuid_ip=30/60,wait_ip=50'", "SPEC", target="rate_limits",
    ),
    Option(
        "cors-origins", "Abuse limits and browsers", parse_origins, "",
        "comma-separated origins allowed to call the API from a page on another origin", "ORIGINS",
    ),
    Option(
        "idle-codes", "Pages", whole(1), "5",
        "fresh codes the PC page fetches when one expires with nobody scanning, before it asks", "N",
    ),
    Option("app-name", "Pages", str, "qrlogin", "the product name the pages show (\"Open <name> and scan\")", "NAME"),
    Option("logo", "Pages", logo, "", "an image file shown as the product's logo on both pages", "FILE"),
    Option(
        "after-login-url", "Pages", optional, "",
        "where the PC page goes once logged in: a path here or an http(s) URL (default: it says who is logged in)",
        "URL",
    ),
    Option(
        "event-loop", "Performance and diagnostics", choice(EVENT_LOOPS), "uvloop",
        "uvloop (faster), or asyncio for asyncio's own loop", "LOOP",
    ),
    Option(
        "loop-probe", "Performance and diagnostics", boolean, "false",
        "benchmarks: measure event-loop stalls, served at /debug/stats", flag=True,
    ),
    Option("log-level", "Performance and diagnostics", choice(LOG_LEVELS), "info", "debug, info, warning or error",
           "LEVEL"),
    Option(
        "issuer", "OpenID Connect provider", optional_http_url, "",
        "the issuer URL in tokens and discovery (default: --public-url, else as each request reached the service)",
        "URL",
    ),
    Option(
        "client-secret-pepper", "OpenID Connect provider", pepper, "",
        f"key (at least {MIN_SECRET_LENGTH} characters, kept outside Redis) of the HMAC storing client secrets; "
        "the same for the service and 'clients' (default: none)", "KEY",
    ),
    Option(
        "access-token-ttl", "OpenID Connect provider", whole(60, 86400), "600",
        "seconds an access token and an ID token stay valid", "S",
    ),
    Option(
        "refresh-token-ttl", "OpenID Connect provider", whole(60), str(30 * 86400),
        "seconds a login's refresh tokens stay usable, counted from the login", "S",
    ),
)  # fmt: skip

#: the commands ``python main.py <command>`` runs instead of the service
COMMANDS = {
    "audit": "read the audit stream of login outcomes (see: python main.py audit --help)",
    "keys": "list, rotate, remove or prune the token signing keys (see: python main.py keys --help)",
    "clients": "add, list, show, remove or rotate-secret the OpenID clients (see: python main.py clients --help)",
}


def options_named(*names: str) -> tuple[Option, ...]:
    """The service's options of these names, for a command that needs only them."""
    return tuple(option for option in OPTIONS if option.name in names)
