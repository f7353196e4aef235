"""A QR image's Redis round trip and its render count, at the domain level against a real Redis: the session's read
and, when the image is not cached, the render's count on the IP's rule, in one script; nothing counted for a
cached image or a session that is not there."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import pytest

from auth import DemoAuthenticator, TokenIssuer
from login.errors import RateLimited, SessionNotFound
from login.models import NewSession, Requester
from redis_map.limit_rules import Rate, RateLimits
from runtime.composition import Service, open_service
from runtime.settings import Settings
from tests.redis_stats import command_calls

IP = "192.0.2.10"
#: renders an IP may make in the tests' window
RENDERS = 2
ALICE = "Bearer demo:alice"


def base(of: str) -> str:
    """A fallback base the service would take from a request: never asked for a session that recorded its own."""
    raise AssertionError(f"no fallback for a session that recorded where it was reached ({of})")


@pytest.fixture
async def service(redis_url: str, namespace: str) -> AsyncIterator[Service]:
    settings = Settings(namespace=namespace, rate_limits=RateLimits(qr_ip=Rate(RENDERS, 60)))
    async with open_service(
        settings, redis_url, tokens=TokenIssuer(ttl=300), authenticator=DemoAuthenticator(), listen=False, sweep=False
    ) as built:
        yield built


async def session(service: Service) -> NewSession:
    return await service.login.create(Requester(IP, "TestBrowser/1.0", time.time(), "https://login.example.com"))


async def renders_counted(service: Service) -> int:
    """What the IP's QR-render counter holds in Redis."""
    count = service.login.limiter.qr_render(IP)
    assert count is not None
    return int(await service.redis.get(count.key) or 0)


async def scripts_run(service: Service) -> int:
    """The scripts the test's Redis has been sent (each a round trip: the read and the count are scripts)."""
    return await command_calls(service.redis, "evalsha", "eval")


async def qr(service: Service, uuid: str) -> bytes:
    return (await service.login.qr_image(uuid, "svg", IP, lambda: base(uuid))).data


async def test_a_render_past_the_ips_limit_is_refused_and_renders_nothing(service: Service) -> None:
    sessions = [await session(service) for _ in range(RENDERS + 1)]
    for new in sessions[:RENDERS]:
        await qr(service, new.uuid)
    held = service.login.renderer.cached_bytes
    with pytest.raises(RateLimited) as refused:
        await qr(service, sessions[-1].uuid)
    assert 0 < refused.value.retry_after <= 60
    assert service.login.renderer.cached(sessions[-1].uuid, "svg") is None
    assert service.login.renderer.cached_bytes == held
    assert await renders_counted(service) == RENDERS + 1  # the refused one counted, as every request past a limit


async def test_a_cached_image_is_served_at_the_limit_without_a_count(service: Service) -> None:
    sessions = [await session(service) for _ in range(RENDERS)]
    images = [await qr(service, new.uuid) for new in sessions]
    assert await renders_counted(service) == RENDERS
    for _ in range(3):
        assert await qr(service, sessions[0].uuid) is images[0]
    assert await renders_counted(service) == RENDERS
    with pytest.raises(RateLimited):  # another kind is a render: past the limit
        await service.login.qr_image(sessions[0].uuid, "png", IP, lambda: base("png"))
    assert await qr(service, sessions[1].uuid) is images[1]  # and the cached ones still served


async def test_an_unknown_or_exchanged_session_counts_nothing(service: Service) -> None:
    with pytest.raises(SessionNotFound):
        await qr(service, "0123456789abcdef" * 2)
    new = await session(service)
    await service.login.scan(new.uuid, ALICE, IP)
    await service.login.confirm(new.uuid, ALICE, IP)
    code = (await service.store.read(new.uuid)).code
    assert code is not None
    await service.login.exchange(new.cursor, code, IP)
    assert await service.redis.exists(service.store.key(new.uuid))  # kept for a retried exchange, yet gone
    with pytest.raises(SessionNotFound):
        await qr(service, new.uuid)
    assert await renders_counted(service) == 0


async def test_an_image_rendered_for_another_base_is_counted_on_its_own(service: Service) -> None:
    """A session made before its base was recorded takes the request's: a cached image for another is re-rendered,
    counted then (the read having counted nothing: the cache had an image)."""
    new = await session(service)
    await service.redis.hdel(service.store.key(new.uuid), "base")
    first = await service.login.qr_image(new.uuid, "svg", IP, lambda: "https://one.example")
    again = await service.login.qr_image(new.uuid, "svg", IP, lambda: "https://one.example")
    assert again.data is first.data and await renders_counted(service) == 1
    other = await service.login.qr_image(new.uuid, "svg", IP, lambda: "https://two.example")
    assert other.data != first.data and await renders_counted(service) == 2
    with pytest.raises(RateLimited):
        await service.login.qr_image(new.uuid, "svg", IP, lambda: "https://one.example")
    assert service.login.renderer.cached(new.uuid, "svg") == ("https://two.example/s/" + new.uuid, other.data)


async def test_an_uncached_image_is_one_round_trip(service: Service) -> None:
    if os.environ.get("REDIS_URL"):
        pytest.skip("counts the Redis's commands: needs the test run's own Redis, not a shared one")
    warm, new = await session(service), await session(service)
    await qr(service, warm.uuid)  # the scripts loaded: no NOSCRIPT round trip below
    before = await scripts_run(service)
    await qr(service, new.uuid)
    assert await scripts_run(service) - before == 1  # the read and the render's count, in one script
    before = await scripts_run(service)
    await qr(service, new.uuid)
    assert await scripts_run(service) - before == 1  # cached: the read alone
    assert await renders_counted(service) == 2
