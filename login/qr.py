"""Rendering a session's QR code to SVG and PNG.

The QR matrix comes from zxing-cpp's encoder (C++, which chooses the mask by
the spec's penalty rules like any encoder): ~0.1 ms.  The pure-Python
``qrcode`` package took ~4.5 ms per code, mostly choosing the mask; on the
loop that stalls every parked long-poll, in a thread it still holds the GIL
(the benchmark measured 14-55 ms loop stalls), and in a process it was the
largest CPU cost of a whole login.  A whole image now renders in well under
a millisecond, less than handing it to an executor would cost, so it renders
inline unless an executor is given.  Each image is cached, as a session's QR
never changes.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from concurrent.futures import Executor

import zxingcpp
from PIL import Image

#: white modules around the code, as the QR spec asks
QUIET_ZONE = 4
#: pixels per module in the PNG
PNG_SCALE = 8
#: rendered images kept in memory
CACHE_SIZE = 512
#: error correction: M survives ~15% damage (glare on a screen) at a modest size
EC_LEVEL = "M"

Matrix = list[list[bool]]


def qr_matrix(content: str) -> Matrix:
    """The QR modules for ``content``, quiet zone included (True is dark)."""
    code = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.QRCode, ec_level=EC_LEVEL)
    image = code.to_image(scale=1, add_quiet_zones=False)  # one byte per module, 0 is dark
    pixels: list[list[int]] = memoryview(image).tolist()  # type: ignore[arg-type,assignment]  # a buffer; stub omits it
    margin = [False] * QUIET_ZONE
    rows = [[*margin, *(pixel == 0 for pixel in row), *margin] for row in pixels]
    blank = [[False] * (len(pixels) + 2 * QUIET_ZONE) for _ in range(2 * QUIET_ZONE)]
    return blank[:QUIET_ZONE] + rows + blank[QUIET_ZONE:]


def svg_of(matrix: Matrix) -> bytes:
    """A crisp, scalable SVG: one path of horizontal runs of dark modules."""
    size = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size * PNG_SCALE}" height="{size * PNG_SCALE}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    ).encode()


def png_of(matrix: Matrix) -> bytes:
    """A black-and-white PNG, PNG_SCALE pixels per module."""
    size = len(matrix)
    image = Image.new("1", (size, size), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    image = image.resize((size * PNG_SCALE, size * PNG_SCALE), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def render(content: str, kind: str) -> bytes:
    matrix = qr_matrix(content)
    return svg_of(matrix) if kind == "svg" else png_of(matrix)


class QrRenderer:
    """Renders QR images (in ``executor`` if given) and caches them by content and kind."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    async def image(self, content: str, kind: str) -> bytes:
        """The QR of ``content`` as ``kind`` ('svg' or 'png')."""
        key = (content, kind)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if self._executor is None:
            data = render(content, kind)
        else:
            data = await asyncio.get_running_loop().run_in_executor(self._executor, render, content, kind)
        self._cache[key] = data
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return data
