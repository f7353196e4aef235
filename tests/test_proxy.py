"""The client's address behind trusted proxies: believed only from them, never forgeable."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from handlers import make_app
from handlers.middleware.proxy import TrustedProxies, behind_proxies, parse_address
from tests.pool import Client
from tests.service import Instance

PROXIES = TrustedProxies.parse("10.0.0.0/8, 192.0.2.1 ::1")

#: name -> (peer, X-Forwarded-For, X-Real-IP, the client address to conclude)
SCENARIOS = {
    "direct-client-forging-headers": ("203.0.113.9", "6.6.6.6", "6.6.6.6", "203.0.113.9"),
    "one-proxy": ("10.1.2.3", "198.51.100.7", None, "198.51.100.7"),
    "forged-entry-left-of-the-real-client": ("10.1.2.3", "6.6.6.6, 198.51.100.7", None, "198.51.100.7"),
    "two-trusted-hops": ("10.1.2.3", "6.6.6.6, 198.51.100.7, 192.0.2.1", None, "198.51.100.7"),
    "only-trusted-hops": ("10.1.2.3", "10.9.9.9, 192.0.2.1", None, "10.9.9.9"),
    "garbage-hop-stops-the-walk": ("10.1.2.3", "198.51.100.7, not-an-ip, 192.0.2.1", None, "192.0.2.1"),
    "real-ip-when-no-forwarded-for": ("10.1.2.3", None, "198.51.100.7", "198.51.100.7"),
    "bad-real-ip-keeps-the-peer": ("10.1.2.3", None, "nonsense", "10.1.2.3"),
    "ipv6-proxy-and-client": ("::1", "2001:db8::5", None, "2001:db8::5"),
    "hop-with-a-port": ("10.1.2.3", "198.51.100.7:50312", None, "198.51.100.7"),
    "ipv4-mapped-peer": ("::ffff:10.1.2.3", "198.51.100.7", None, "198.51.100.7"),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_client_ip(scenario: str) -> None:
    peer, forwarded_for, real_ip, expected = SCENARIOS[scenario]
    assert PROXIES.client_ip(peer, forwarded_for, real_ip) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:443", "192.0.2.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),  # a dual-stack socket's IPv4 peer counts as its IPv4 address
        (" 10.0.0.1 ", "10.0.0.1"),
        ("not-an-ip", None),
        ("", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    """The one parser of addresses, for a TCP peer (per-IP connection cap) and the forwarding headers alike."""
    parsed = parse_address(text)
    assert parsed == (None if expected is None else ipaddress.ip_address(expected))


def test_nothing_trusted_by_default() -> None:
    assert not TrustedProxies.parse("")
    assert TrustedProxies.parse("").client_ip("10.1.2.3", "6.6.6.6", "6.6.6.6") == "10.1.2.3"


@pytest.mark.parametrize("spec", ["10.0.0.0/33", "localhost", "10.0.0.1/8/9"])
def test_bad_proxy_specs_are_refused_by_name(spec: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        TrustedProxies.parse(spec)


@pytest.fixture
async def proxied(service: Instance) -> AsyncIterator[str]:
    """The test instance's app served once more, behind ``127.0.0.1`` as a trusted proxy."""
    sock, port = bind_unused_port()
    server = HTTPServer(behind_proxies(make_app(service.services), TrustedProxies.parse("127.0.0.1")))
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}"
    server.stop()
    await server.close_all_connections()


async def test_the_phone_sees_the_ip_the_trusted_proxy_reports(proxied: str, service: Instance) -> None:
    client = Client(proxied)
    try:
        created = await client.post("/uuid", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
        assert created.body["qr_content"].startswith("http://")
        https = await client.post("/uuid", headers={"X-Forwarded-Proto": "https"})
        assert https.body["qr_content"].startswith("https://")
    finally:
        client.close()
    scanned = await service.post("/scan", {"uuid": created.body["uuid"]}, user="alice-token")
    assert scanned.body["requester"]["ip"] == "198.51.100.7"


async def test_a_direct_client_cannot_forge_its_address(service: Instance) -> None:
    created = await service.post("/uuid", headers={"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"})
    scanned = await service.post("/scan", {"uuid": created.body["uuid"]}, user="alice-token")
    assert scanned.body["requester"]["ip"] == "127.0.0.1"
