"""Rendering a session's QR code to SVG and PNG, off the event loop.

Building the QR matrix is pure Python and takes about 4 ms (choosing the
mask is most of it), which would stall every parked long-poll if done on the
loop.  A thread does not help: it holds the GIL for up to the interpreter's
5 ms switch interval, and the benchmark measured 14-55 ms loop stalls that way.
So the service renders in a separate process (``render_pool()``), and each
image is cached, as a session's QR never changes.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
from collections import OrderedDict
from concurrent.futures import Executor, ProcessPoolExecutor

import qrcode
import qrcode.constants
from PIL import Image

#: white modules around the code, as the QR spec asks
QUIET_ZONE = 4
#: pixels per module in the PNG
PNG_SCALE = 8
#: rendered images kept in memory
CACHE_SIZE = 512
#: processes rendering QR images (each login renders one)
RENDER_PROCESSES = 1

Matrix = list[list[bool]]


def qr_matrix(content: str) -> Matrix:
    """The QR modules for ``content``, quiet zone included (True is dark)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    code.add_data(content)
    code.make(fit=True)
    matrix: Matrix = code.get_matrix()
    return matrix


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


def render_pool(processes: int = RENDER_PROCESSES) -> ProcessPoolExecutor:
    """Processes to render in, off the event loop's GIL; already starting.

    Spawned, not forked: a forked child would inherit the server's sockets
    and keep connections open after the server closed them.
    """
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(render, "warm-up", "svg")  # start the workers now, not on the first login
    return pool


class QrRenderer:
    """Renders QR images in an executor and caches them by content and kind."""

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
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(self._executor, render, content, kind)
        self._cache[key] = data
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return data
