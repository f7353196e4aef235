"""The QR images the service serves decode, with a real QR decoder (zbar), to the session's qr_content."""

from __future__ import annotations

import pytest

from tests.pages.conftest import Decode, NewPage
from tests.service import Instance


async def test_the_png_decodes_to_qr_content(service: Instance, decode_qr: Decode) -> None:
    session = await service.new_session()
    png = await service.request("GET", session["qr_png"])
    assert png.code == 200 and png.headers["Content-Type"] == "image/png"
    assert decode_qr(png.body) == [session["qr_content"]]


@pytest.mark.parametrize("width", [120, 600])
async def test_the_svg_rendered_by_chromium_decodes_to_qr_content(
    service: Instance, decode_qr: Decode, new_page: NewPage, width: int
) -> None:
    session = await service.new_session()
    svg = await service.request("GET", session["qr_svg"])
    assert svg.code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    # Rasterised by chromium, small and large, the SVG stays a readable code.
    page = await new_page(viewport={"width": width + 40, "height": width + 40})
    url = service.base_url + session["qr_svg"]
    await page.set_content(f'<img src="{url}" style="width:{width}px">', wait_until="load")
    image = await page.locator("img").screenshot()
    assert decode_qr(image) == [session["qr_content"]]
