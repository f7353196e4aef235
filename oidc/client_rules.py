"""What a client's registration may hold: its id, its name, its redirect URIs (exact; https, or plain http to the
loopback interface; RFC 9700 §2.1, RFC 8252); ClientError when it may not."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

#: what a client id may look like (chosen by the operator, or made here)
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}")
#: longest redirect URI accepted (browsers and proxies cut URLs past ~2,000 characters)
MAX_REDIRECT_URI = 2000
#: most redirect URIs per client
MAX_REDIRECT_URIS = 20
#: longest client name (shown on the phone)
MAX_NAME = 64
#: hosts a redirect URI may name over plain http: the loopback interface (RFC 8252 §7.3, and development)
LOOPBACK_NAMES = frozenset({"localhost"})


class ClientError(ValueError):
    """A registration that cannot be: the message says what to fix."""


def check_redirect_uri(uri: str, *, public: bool) -> str:
    """``uri`` if it may be registered (RFC 9700 §2.1: exact, absolute, no fragment, https); else ClientError.

    Plain http only to the loopback interface (a native app's or a developer's
    machine); a private-use scheme (``com.example.app:/callback``, RFC 8252
    §7.1: a reverse domain name) only for a public client, a native app.
    """
    if len(uri) > MAX_REDIRECT_URI or not uri.isprintable() or any(ch.isspace() for ch in uri):
        raise ClientError(f"redirect URI {uri[:80]!r}: at most {MAX_REDIRECT_URI} printable characters, no spaces")
    try:
        parts = urlsplit(uri)
        port = parts.port  # ValueError for a port that is no number
    except ValueError as exc:
        raise ClientError(f"redirect URI {uri!r}: {exc}") from None
    del port
    if parts.fragment or "#" in uri:
        raise ClientError(f"redirect URI {uri!r}: no fragment (RFC 6749 §3.1.2)")
    if "*" in uri:
        raise ClientError(f"redirect URI {uri!r}: no wildcards; register each exact URI")
    scheme = parts.scheme.lower()
    if scheme in ("https", "http"):
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise ClientError(f"redirect URI {uri!r}: needs a host, and no user or password")
        if scheme == "http" and not _loopback(parts.hostname):
            raise ClientError(f"redirect URI {uri!r}: https is required (plain http only to the loopback interface)")
        return uri
    if public and "." in scheme and re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        return uri
    raise ClientError(
        f"redirect URI {uri!r}: must be https (or a private-use scheme like com.example.app: for a public client)"
    )


def _loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
