"""The client's real address behind trusted reverse proxies (nginx, a load balancer).

The phone shows the IP of the PC that asked to log in, so that address must be
the PC's, not the proxy's, and nobody may forge it.  ``X-Forwarded-For`` and
``X-Real-IP`` are believed only when the TCP peer is a configured trusted
proxy.  ``X-Forwarded-For`` is then read from the right, skipping trusted hops:
the first untrusted address is the client.  Entries to its left were written
by the client itself and are never believed.

Tornado's own ``xheaders=True`` believes these headers from anyone, so it is
not used; ``ProxyAwareRouter`` rewrites ``request.remote_ip`` (and
``request.protocol`` from ``X-Forwarded-Proto``) before any handler runs, so
every handler, log line and limit sees the real client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from tornado.httputil import HTTPMessageDelegate, HTTPServerRequest
from tornado.routing import Router
from tornado.web import Application

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: most X-Forwarded-For entries read; a longer chain is a forgery or a loop
MAX_HOPS = 32
#: the schemes X-Forwarded-Proto may set
SCHEMES = ("http", "https")


def parse_address(text: str) -> IPAddress | None:
    """The IP ``text`` names (brackets and a port dropped, IPv4-mapped IPv6 as IPv4); None if it names none."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[IPNetwork] = ()) -> None:
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, spec: str) -> TrustedProxies:
        """From ``"10.0.0.0/8, 127.0.0.1, ::1"``; ValueError names a bad entry."""
        networks = []
        for item in spec.replace(" ", ",").split(","):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"not an IP address or CIDR network: {item!r}") from exc
        return cls(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client_ip(self, peer: str, forwarded_for: str | None, real_ip: str | None) -> str:
        """The client's address given the TCP peer and the forwarding headers."""
        proxy = parse_address(peer)
        if proxy is None or not self.trusts(proxy):
            return peer  # a client talking to us directly: its headers mean nothing
        return self._forwarded_client(peer, proxy, forwarded_for, real_ip)

    def apply(self, request: HTTPServerRequest) -> None:
        """Rewrites the request's remote_ip and protocol as the trusted proxies say."""
        peer = request.remote_ip or ""
        proxy = parse_address(peer)
        if proxy is None or not self.trusts(proxy):
            return
        headers = request.headers
        request.remote_ip = self._forwarded_client(
            peer, proxy, headers.get("X-Forwarded-For"), headers.get("X-Real-IP")
        )
        scheme = headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        if scheme in SCHEMES:
            request.protocol = scheme

    def _forwarded_client(self, peer: str, proxy: IPAddress, forwarded_for: str | None, real_ip: str | None) -> str:
        """The client a trusted ``proxy`` (the TCP peer ``peer``, parsed) forwards for."""
        last_trusted = proxy
        if forwarded_for:
            hops = forwarded_for.split(",")[-MAX_HOPS:]
            for hop in reversed(hops):
                address = parse_address(hop)
                if address is None:
                    break  # garbage: believe nothing further left
                if not self.trusts(address):
                    return str(address)
                last_trusted = address
            return str(last_trusted)
        address = parse_address(real_ip) if real_ip else None
        return str(address) if address is not None else peer


class ProxyAwareRouter(Router):
    """Routes to the application after correcting each request's client address."""

    def __init__(self, application: Application, proxies: TrustedProxies) -> None:
        self.application = application
        self.proxies = proxies

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> HTTPMessageDelegate | None:
        self.proxies.apply(request)
        return self.application.find_handler(request, **kwargs)


def behind_proxies(application: Application, proxies: TrustedProxies) -> Application | ProxyAwareRouter:
    """What to serve: the application itself when no proxy is trusted."""
    return ProxyAwareRouter(application, proxies) if proxies else application
