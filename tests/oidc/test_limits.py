"""The token, revocation and introspection endpoints' abuse limits, on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from login.errors import RateLimited
from redis_map import connect
from redis_map.connection.connect import RedisClient
from redis_map.keys import KeySpace
from redis_map.provider_limits import ENDPOINT_CLIENT, ENDPOINT_IP, SECRET_FAILURES, ProviderLimits


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = connect(redis_url)
    yield client
    await client.aclose()


async def test_one_look_counts_the_ip_and_checks_its_failures_for_a_client(redis: RedisClient, namespace: str) -> None:
    limits = ProviderLimits(redis, KeySpace(namespace))
    for _ in range(ENDPOINT_IP):
        await limits.check("192.0.2.1", "acme")
    with pytest.raises(RateLimited) as over:
        await limits.check("192.0.2.1", "another-client")  # the IP's requests, whichever client they name
    assert over.value.retry_after > 0
    await limits.check("192.0.2.2", "acme")  # another IP is not touched

    for _ in range(SECRET_FAILURES):
        await limits.failed("192.0.2.3", "acme")
    with pytest.raises(RateLimited):
        await limits.check("192.0.2.3", "acme")
    await limits.check("192.0.2.3", "another-client")  # locked out of that client only


async def test_authenticated_token_requests_are_counted_against_their_client(
    redis: RedisClient, namespace: str
) -> None:
    limits = ProviderLimits(redis, KeySpace(namespace))
    addresses = [f"198.51.100.{index}" for index in range(1, 251)]  # each well under its own IP's limit
    for index in range(ENDPOINT_CLIENT):
        await limits.check(addresses[index % len(addresses)], "busy-site", count_client=True)
    with pytest.raises(RateLimited):
        await limits.check("203.0.113.1", "busy-site", count_client=True)
    await limits.check("203.0.113.1", "busy-site")  # revocation, introspection: not counted per client
    await limits.check("203.0.113.1", "quiet-site", count_client=True)


async def test_no_limits_no_redis(redis: RedisClient, namespace: str) -> None:
    limits = ProviderLimits(redis, KeySpace(namespace), enabled=False)
    for _ in range(ENDPOINT_IP + 1):
        await limits.check("192.0.2.1", "acme")
    assert await redis.keys(f"{namespace}:*") == []
