"""Page routes with an operator's branding on a test instance, and small images to brand with.

The test instance's application mounts the pages with today's defaults; the
routes ``page_routes`` builds for a `Branding` are put in front of them, the
way the composition root mounts them.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from tornado.web import Application

from handlers.pages import Branding, page_routes
from tests.service import Instance


def mount_pages(service: Instance, branding: Branding, *, demo: bool = False, idle_codes: int = 5) -> None:
    """Serves ``service``'s pages with ``branding`` from now on."""
    assert service._server is not None, "start the instance first"
    app = service._server.request_callback
    assert isinstance(app, Application)
    # add_handlers puts a host's rules before the application's own, so these routes win.
    app.add_handlers(r".*", page_routes(service.store, demo=demo, idle_codes=idle_codes, branding=branding))


def png(size: int) -> bytes:
    """A logo: a rounded blue square with a white check, ``size`` pixels a side."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=(11, 95, 255, 255))
    draw.line(
        [(size * 0.25, size * 0.52), (size * 0.43, size * 0.7), (size * 0.76, size * 0.32)],
        fill=(255, 255, 255, 255),
        width=max(2, size // 9),
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
