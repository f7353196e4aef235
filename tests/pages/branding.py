"""Small images to brand a test instance with (``make_instance(app_name=..., logo=...)``)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


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
