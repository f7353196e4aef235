"""Redis URLs: one server, a Cluster, Sentinels; bad ones refused by name before anything starts."""

from __future__ import annotations

import pytest

from redis_map.connection.connect import cluster_url, parse_target, redis_url_of
from tests.procs import run_main

#: URL -> (kind, hosts, service, options)
GOOD = {
    "redis://127.0.0.1:6379/2": ("single", (), "", {}),
    "unix:///run/redis.sock": ("single", (), "", {}),
    "redis+cluster://10.0.0.1:7000,10.0.0.2:7001": ("cluster", (("10.0.0.1", 7000), ("10.0.0.2", 7001)), "", {}),
    "rediss+cluster://:s%40cret@node": ("cluster", (("node", 6379),), "", {"password": "s@cret", "ssl": True}),
    "redis+sentinel://s1,s2:26380/mymaster": ("sentinel", (("s1", 26379), ("s2", 26380)), "mymaster", {}),
    "redis+sentinel://:pw@[::1]:26379/mymaster/3": (
        "sentinel",
        (("::1", 26379),),
        "mymaster",
        {"password": "pw", "db": 3},
    ),
}

BAD = {
    "http://127.0.0.1": "unsupported Redis URL scheme",
    "redis+sentinel://127.0.0.1:26379": "needs the master's name",
    "redis+sentinel://127.0.0.1/mymaster/x": "is not a number",
    "redis+cluster://127.0.0.1:7000/1": "only database 0",
    "redis+cluster://127.0.0.1:99999": "bad port",
    "redis+cluster://127.0.0.1:²": "bad port",
    "redis+sentinel://127.0.0.1/mymaster/²": "is not a number",
    "redis+cluster://a,,b": "empty host",
    "unix+cluster:///tmp/sock": "must name TCP hosts",
}


@pytest.mark.parametrize("url", GOOD)
def test_good_urls(url: str) -> None:
    kind, hosts, service, options = GOOD[url]
    target = parse_target(url)
    assert (target.kind, target.hosts, target.service, target.options) == (kind, hosts, service, options)


@pytest.mark.parametrize("url", BAD)
def test_bad_urls_are_refused_with_the_reason(url: str) -> None:
    with pytest.raises(ValueError, match=BAD[url]):
        parse_target(url)


def test_the_cluster_flag_turns_redis_urls_into_cluster_urls() -> None:
    assert cluster_url("redis://n1:7000") == "redis+cluster://n1:7000"
    assert cluster_url("rediss://:pw@n1:7000") == "rediss+cluster://:pw@n1:7000"
    assert redis_url_of("redis://n1:7000", cluster=True) == "redis+cluster://n1:7000"
    assert redis_url_of("") == ""  # the embedded Redis
    with pytest.raises(ValueError, match="needs --redis-url"):
        redis_url_of("", cluster=True)
    with pytest.raises(ValueError, match="redis:// or rediss://"):
        redis_url_of("unix:///tmp/sock", cluster=True)


def test_main_refuses_a_bad_redis_url_before_it_starts() -> None:
    process = run_main("--redis-url=redis+sentinel://127.0.0.1:1")
    assert process.wait() != 0
    process.stop()  # its output read to the end
    assert any("needs the master's name" in line for line in process.lines)


def test_main_refuses_a_bad_trusted_proxy_before_it_starts() -> None:
    process = run_main("--trusted-proxies=10.0.0.0/99")
    assert process.wait() != 0
    process.stop()  # its output read to the end
    assert any("not an IP address or CIDR network: '10.0.0.0/99'" in line for line in process.lines)


def test_main_refuses_a_secret_too_short_to_sign_with() -> None:
    process = run_main("--secret=short")
    assert process.wait() != 0
    process.stop()  # its output read to the end
    assert any("at least 32 characters" in line for line in process.lines)
