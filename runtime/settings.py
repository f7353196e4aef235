"""The service's settings: one typed object, read once (``runtime.settings_reader``) from the command line and the
environment.

Every option ``--some-name`` can also be set as ``QRLOGIN_SOME_NAME``; the
command line wins.  A wrong value, from either place, is a ``SettingsError``
whose message names the option (or the variable) and what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handlers.branding import Branding
from handlers.middleware.proxy import TrustedProxies
from redis_map.limit_rules import RateLimits
from runtime.http import MAX_CONNECTIONS_PER_IP


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
