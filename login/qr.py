"""Rendering a session's QR code to SVG and PNG.

The symbol is the ``qrcode`` package's, built faster than its ``make()``:
byte mode at level M, the smallest version that holds the content (cached per
length, from ``qrcode``'s own fitting), the data and error-correction
codewords from ``qrcode``'s tables, and the mask chosen by the spec's penalty
rules by ``login.qr_mask``, which scores the 8 candidates as whole-symbol ints
instead of module by module.  ``tests/test_qr.py`` holds every candidate and
its penalty to what ``qrcode`` itself makes and scores.  README.md
("Performance", item 1) has the measurements behind this.  An image renders
in well under a millisecond, less than handing it to an executor would cost,
so it renders inline unless an executor is given.  Each image is cached, as a
session's QR never changes.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from functools import lru_cache
from itertools import groupby, repeat
from typing import NamedTuple

from PIL import Image
from qrcode import LUT, QRCode, base, constants, util

from login.qr_mask import layout

#: white modules around the code, as the QR spec asks
QUIET_ZONE = 4
#: pixels per module in the PNG
PNG_SCALE = 8
#: most bytes of rendered images kept in memory (bounded by size: an image's size depends on its content)
CACHE_BYTES = 8 * 1024 * 1024
#: error correction: M survives ~15% damage (glare on a screen) at a modest size
EC_LEVEL = "M"

#: EC_LEVEL as qrcode's constant
_ERROR_CORRECTION: int = {
    "L": constants.ERROR_CORRECT_L,
    "M": constants.ERROR_CORRECT_M,
    "Q": constants.ERROR_CORRECT_Q,
    "H": constants.ERROR_CORRECT_H,
}[EC_LEVEL]
_INVERT = str.maketrans("01", "10")

Matrix = list[list[bool]]


@lru_cache(maxsize=64)
def version_for(length: int) -> int:
    """The smallest version holding ``length`` bytes in byte mode at EC_LEVEL (qrcode's fit)."""
    code = QRCode(error_correction=_ERROR_CORRECTION)
    code.add_data(util.QRData(b"\0" * length, mode=util.MODE_8BIT_BYTE))
    return int(code.best_fit())


@lru_cache(maxsize=64)
def _ecc_table(count: int) -> list[int]:
    """For each leading byte of the division, the ``count`` bytes it XORs in (qrcode's generator), as an int."""
    generator = LUT.rsPoly_LUT[count][1:]  # monic: the leading 1 is implied
    table = [0] * 256
    for bit in range(8):  # the product is linear in the factor: build the 8 powers of two, XOR the rest
        table[1 << bit] = int.from_bytes(
            bytes(base.gexp(base.glog(1 << bit) + base.glog(term)) if term else 0 for term in generator)
        )
    for factor in range(3, 256):
        if factor & (factor - 1):
            table[factor] = table[factor & (factor - 1)] ^ table[factor & -factor]
    return table


def _ecc(data: bytes, count: int) -> bytes:
    """The ``count`` Reed-Solomon codewords of one block: the remainder of data·x^count by the generator."""
    table, top, keep = _ecc_table(count), 8 * (count - 1), (1 << 8 * count) - 1
    remainder = 0
    for byte in data:
        remainder = ((remainder << 8) & keep) ^ table[byte ^ remainder >> top]
    return remainder.to_bytes(count)


def codewords(content: bytes, version: int) -> bytes:
    """``content`` in byte mode, terminated, padded, split into blocks with their ECC, interleaved (as qrcode does)."""
    blocks = base.rs_blocks(version, _ERROR_CORRECTION)
    capacity = 8 * sum(block.data_count for block in blocks)
    count_bits = util.length_in_bits(util.MODE_8BIT_BYTE, version)
    stream = (util.MODE_8BIT_BYTE << count_bits | len(content)) << 8 * len(content) | int.from_bytes(content)
    used = 4 + count_bits + 8 * len(content)
    if used > capacity:
        raise ValueError(f"{len(content)} bytes do not fit version {version}")
    pad = min(4, capacity - used) + (-(used + min(4, capacity - used)) % 8)  # terminator, then to a whole byte
    data = (stream << pad).to_bytes((used + pad) // 8)
    data += bytes([util.PAD0, util.PAD1]) * ((capacity // 8 - len(data)) // 2 + 1)
    data = data[: capacity // 8]
    data_blocks, ecc_blocks, start = [], [], 0
    for block in blocks:
        data_blocks.append(data[start : start + block.data_count])
        ecc_blocks.append(_ecc(data_blocks[-1], block.total_count - block.data_count))
        start += block.data_count
    return _interleave(data_blocks) + _interleave(ecc_blocks)


def _interleave(blocks: Sequence[bytes]) -> bytes:
    """The first byte of each block, then the second of each, ...; shorter blocks drop out."""
    longest = max(map(len, blocks))
    return bytes(block[i] for i in range(longest) for block in blocks if i < len(block))


def _symbol(content: str) -> list[str]:
    """The QR symbol of ``content``, rows of '0' (light) and '1' (dark), quiet zone included."""
    data = content.encode()
    version = version_for(len(data))
    _, rows = layout(version, _ERROR_CORRECTION).best(codewords(data, version))
    margin = "0" * QUIET_ZONE
    blank = ["0" * (len(rows) + 2 * QUIET_ZONE)] * QUIET_ZONE
    return [*blank, *(margin + row + margin for row in rows), *blank]


def qr_matrix(content: str) -> Matrix:
    """The QR modules for ``content``, quiet zone included (True is dark)."""
    return [[module == "1" for module in row] for row in _symbol(content)]


def _rows_of(matrix: Matrix) -> list[str]:
    return ["".join("1" if dark else "0" for dark in row) for row in matrix]


#: modules per table lookup when drawing the SVG: one byte of a row's bits
_CHUNK = 8
#: a chunk's high byte once widened to 16 bits: it ends a row (then the path moves to the next row), or the symbol
_ROW_END, _SYMBOL_END = 1, 2
#: where a 16-bit unit's low and high bytes are in memory
_LOW_BYTE, _HIGH_BYTE = (0, 1) if sys.byteorder == "little" else (1, 0)


def _runs(chunk: int) -> list[tuple[bool, int]]:
    """A chunk's runs of modules, leftmost first: (dark, how many)."""
    return [(dark, len(list(same))) for dark, same in groupby(format(chunk, f"0{_CHUNK}b"), "1".__eq__)]


def _drawn(runs: list[tuple[bool, int]]) -> str:
    """Runs as relative path commands along a 1-wide stroke: ``h<n>`` draws dark ones, ``m<n> 0`` skips light ones."""
    return "".join(f"h{count}" if dark else f"m{count} 0" for dark, count in runs)


def _untrailed(chunk: int) -> tuple[str, int]:
    """A row's last chunk drawn without its trailing light run (nothing follows it), and how far it moves."""
    runs = _runs(chunk)
    if not runs[-1][0]:
        runs.pop()
    return _drawn(runs), sum(count for _, count in runs)


#: a chunk inside a row, by value
_INNER = [_drawn(_runs(chunk)) for chunk in range(1 << _CHUNK)]
#: a row's last chunk, by value: its path and how far it moves
_LAST = [_untrailed(chunk) for chunk in range(1 << _CHUNK)]


@lru_cache(maxsize=32)
def _path_table(chunks: int) -> list[str]:
    """The path of each 16-bit unit of a symbol whose rows are ``chunks`` chunks: an inner chunk; a row's last
    chunk, then the move to the next row's first module; the symbol's last chunk."""
    newline = [f"{path}m{-(_CHUNK * (chunks - 1) + moved)} 1" for path, moved in _LAST]
    return _INNER + newline + [path for path, _ in _LAST]


def _svg(rows: Sequence[str]) -> bytes:
    size = len(rows)
    left = max(rows, default="").find("1")  # the greatest row has the leftmost dark module
    right = max(map(str.rfind, rows, repeat("1")), default=-1) + 1
    path = ""
    if left >= 0:  # a 1-wide stroke along the middle of each row, drawn over its dark runs, from a table per byte
        chunks = -(-(right - left) // _CHUNK)
        pad = "0" * (chunks * _CHUNK - (right - left))  # light modules after each row, to whole chunks
        data = int(pad.join([row[left:right] for row in rows]) + pad, 2).to_bytes(chunks * size)
        top = (len(data) - len(data.lstrip(b"\0"))) // chunks  # rows all light above and below are left out
        data = data[top * chunks : -(-len(data.rstrip(b"\0")) // chunks) * chunks]
        units = bytearray(2 * len(data))  # each chunk widened to 16 bits, its high byte saying where it is
        units[_LOW_BYTE::2] = data
        units[2 * chunks - 2 + _HIGH_BYTE :: 2 * chunks] = bytes([_ROW_END]) * (len(data) // chunks)
        units[-2 + _HIGH_BYTE] = _SYMBOL_END
        path = f"M{left} {top}.5" + "".join(map(_path_table(chunks).__getitem__, memoryview(units).cast("H")))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size * PNG_SCALE}" height="{size * PNG_SCALE}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="none" stroke="#000" stroke-width="1" d="{path}"/></svg>'
    ).encode()


def _png(rows: Sequence[str]) -> bytes:
    size = len(rows)
    stride = -size % 8  # PIL's 1-bit rows are padded to whole bytes
    light = "".join(row.translate(_INVERT) + "0" * stride for row in rows)  # in mode "1", 1 is white
    image = Image.frombytes("1", (size, size), int(light, 2).to_bytes(len(light) // 8))
    image = image.resize((size * PNG_SCALE, size * PNG_SCALE), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def svg_of(matrix: Matrix) -> bytes:
    """A crisp, scalable SVG: one path, a 1-wide stroke over each row's runs of dark modules."""
    return _svg(_rows_of(matrix))


def png_of(matrix: Matrix) -> bytes:
    """A black-and-white PNG, PNG_SCALE pixels per module."""
    return _png(_rows_of(matrix))


def render(content: str, kind: str) -> bytes:
    """The QR of ``content`` as ``kind`` ('svg', else PNG)."""
    rows = _symbol(content)
    return _svg(rows) if kind == "svg" else _png(rows)


class Rendered(NamedTuple):
    """A cached image and the content it encodes."""

    content: str
    data: bytes


class QrRenderer:
    """Renders QR images (in ``executor`` if given) and caches them by name (a session's uuid) and kind.

    Looking an image up needs only its name, not its content: a caller whose
    content must first be read (a session's, from Redis) learns before the read
    whether a render will be needed.  A name keeps the last content rendered.
    """

    def __init__(self, executor: Executor | None = None, *, cache_bytes: int = CACHE_BYTES) -> None:
        self._executor = executor
        self._cache: OrderedDict[tuple[str, str], Rendered] = OrderedDict()
        self._cache_bytes = cache_bytes
        #: bytes of images held in the cache now
        self.cached_bytes = 0

    def cached(self, name: str, kind: str) -> Rendered | None:
        """The image last rendered as ``kind`` under ``name``, with its content, if it is in the cache (then it
        costs nothing to serve, if that content is still the one wanted), else None."""
        rendered = self._cache.get((name, kind))
        if rendered is not None:
            self._cache.move_to_end((name, kind))
        return rendered

    async def image(self, name: str, content: str, kind: str) -> bytes:
        """The QR of ``content`` as ``kind`` ('svg' or 'png'), cached under ``name`` (replacing another content's)."""
        cached = self.cached(name, kind)
        if cached is not None and cached.content == content:
            return cached.data
        if self._executor is None:
            data = render(content, kind)
        else:
            data = await asyncio.get_running_loop().run_in_executor(self._executor, render, content, kind)
        replaced = self._cache.pop((name, kind), None)
        if replaced is not None:
            self.cached_bytes -= len(replaced.data)
        self._cache[(name, kind)] = Rendered(content, data)
        self.cached_bytes += len(data)
        while self.cached_bytes > self._cache_bytes and self._cache:
            _, dropped = self._cache.popitem(last=False)
            self.cached_bytes -= len(dropped.data)
        return data
