"""The QR image is public: what it encodes never comes from an unchecked header, and renders are bounded."""

from __future__ import annotations

import logging

import pytest

from login.qr import QrRenderer
from redis_map.limit_rules import Rate, RateLimits
from tests.conftest import MakeInstance
from tests.service import Instance
from tests.zbar import zbar_decoder

#: a Host far too long to encode in any QR code
LONG_HOST = "a" * 2900 + ".example"


# Hosts Tornado lets through to the app (it answers a space, '<', '@' or '/' in a Host itself).
@pytest.mark.parametrize("host", [LONG_HOST, "a..b", "-evil-.example", "evil.example:", "[nope]:1", ""])
async def test_uuid_refuses_a_host_the_qr_cannot_point_to(
    service: Instance, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        answer = await service.post("/uuid", headers={"Host": host})
    assert answer.code == 400 and answer.error == "invalid_request"
    assert "--public-url" in answer.body["message"]
    assert not any(record.exc_info for record in caplog.records)  # an answer, not a fault: no traceback


@pytest.mark.parametrize("host", ["login.example.com", "login.example.com:8443", "192.0.2.7:8080", "[2001:db8::1]:443"])
async def test_uuid_takes_a_real_host(service: Instance, host: str) -> None:
    answer = await service.post("/uuid", headers={"Host": host})
    assert answer.code == 200 and answer.body["qr_content"] == f"http://{host}/s/{answer.body['uuid']}"


async def test_the_image_encodes_what_uuid_recorded_whatever_host_it_is_fetched_with(service: Instance) -> None:
    decode = zbar_decoder()
    session = (await service.post("/uuid", headers={"Host": "login.example.com"})).body
    for host in ("other.example", LONG_HOST, "login.example.com"):
        image = await service.request("GET", session["qr_png"], headers={"Host": host})
        assert image.code == 200
        assert decode(image.body) == [session["qr_content"]] == [f"http://login.example.com/s/{session['uuid']}"]


async def test_the_public_url_wins_over_the_host(make_instance: MakeInstance) -> None:
    service = await make_instance(public_url="https://login.example.com")
    session = (await service.post("/uuid", headers={"Host": LONG_HOST})).body
    assert session["qr_content"] == f"https://login.example.com/s/{session['uuid']}"
    image = await service.request("GET", session["qr_png"], headers={"Host": LONG_HOST})
    assert zbar_decoder()(image.body) == [session["qr_content"]]


async def test_renders_are_limited_per_ip_but_cached_images_are_free(make_instance: MakeInstance) -> None:
    service = await make_instance(rate_limits=RateLimits(qr_ip=Rate(2, 60)))
    sessions = [await service.new_session() for _ in range(3)]
    first, second = [await service.request("GET", s["qr_svg"]) for s in sessions[:2]]
    assert first.code == second.code == 200
    third = await service.request("GET", sessions[2]["qr_svg"])
    assert third.code == 429 and third.error == "rate_limited" and int(third.headers["Retry-After"]) > 0
    again = await service.request("GET", sessions[0]["qr_svg"])  # from the cache: no render, no count
    assert again.code == 200 and again.body == first.body


async def test_the_render_cache_is_bounded_by_bytes() -> None:
    renderer = QrRenderer(cache_bytes=20_000)
    names = [f"{index:032x}" for index in range(40)]
    for name in names:
        await renderer.image(name, f"https://login.example.com/s/{name}", "svg")
        assert renderer.cached_bytes <= 20_000
    assert renderer.cached(names[-1], "svg") is not None  # the newest stays
    assert renderer.cached(names[0], "svg") is None  # the oldest went
    newest = renderer.cached(names[-1], "svg")
    assert newest is not None and newest.content == f"https://login.example.com/s/{names[-1]}"
    assert await renderer.image(names[-1], newest.content, "svg") is newest.data  # served from the cache


async def test_a_name_keeps_the_content_it_was_last_rendered_for() -> None:
    renderer = QrRenderer()
    first = await renderer.image("a", "https://one.example/s/a", "svg")
    size = renderer.cached_bytes
    second = await renderer.image("a", "https://two.example/s/a", "svg")  # another content: rendered, replacing it
    assert second != first and renderer.cached_bytes == len(second) and size == len(first)
    assert renderer.cached("a", "svg") == ("https://two.example/s/a", second)
    assert renderer.cached("a", "png") is None  # each kind apart
