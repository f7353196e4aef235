"""The QR codes we render: readable by zbar, and the very symbol ``qrcode`` makes with the spec's best mask."""

from __future__ import annotations

import random
import re
import secrets
import statistics
import time
from xml.etree import ElementTree

import pytest
import qrcode
from qrcode import constants, util

from login import qr, qr_mask
from login.qr import Matrix, png_of, qr_matrix, render, svg_of
from tests.zbar import zbar_decoder

#: public base URLs of several lengths: the content `<base>/s/<32 hex>` then needs versions 4, 5, 6 and 8
BASES = [
    "http://localhost:8080",
    "https://login.example-corporation.com",
    "https://sso.example.com/auth/realms/corporate/qrlogin",
    "https://identity.login.example-corporation.co.uk/tenants/0123456789/applications/desktop-login/qr",
]
#: random contents per base for the checks against qrcode's reference scorer (each makes 8 symbols in qrcode)
REFERENCE_CONTENTS = 25
#: byte-mode capacity at level M of versions 1..10 (ISO/IEC 18004 table 7), independent of any encoder
CAPACITY_M = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213]


def content_for(base: str) -> str:
    return f"{base}/s/{secrets.token_hex(16)}"


def reference(content: str, mask: int, border: int = 0) -> Matrix:
    """qrcode's own symbol for ``content`` with ``mask`` (its fitted version, byte mode, level M)."""
    fit = qrcode.QRCode(error_correction=constants.ERROR_CORRECT_M)
    fit.add_data(util.QRData(content.encode(), mode=util.MODE_8BIT_BYTE))
    code = qrcode.QRCode(
        version=fit.best_fit(), error_correction=constants.ERROR_CORRECT_M, border=border, mask_pattern=mask
    )
    code.add_data(util.QRData(content.encode(), mode=util.MODE_8BIT_BYTE))
    code.make(fit=False)
    return [[bool(module) for module in row] for row in code.get_matrix()]


@pytest.mark.parametrize("base", BASES)
def test_random_contents_decode_with_zbar(base: str) -> None:
    decode = zbar_decoder()
    for _ in range(20):
        content = content_for(base)
        assert decode(render(content, "png")) == [content]


@pytest.mark.parametrize("base", BASES)
def test_the_mask_is_the_one_qrcodes_own_scorer_rates_lowest(base: str) -> None:
    for _ in range(REFERENCE_CONTENTS):
        content = content_for(base)
        penalties = [util.lost_point(reference(content, mask)) for mask in range(8)]
        best = penalties.index(min(penalties))
        # The whole symbol, quiet zone included, is the one qrcode makes with that mask.
        assert qr_matrix(content) == reference(content, best, border=qr.QUIET_ZONE), (content, penalties)


@pytest.mark.parametrize("base", BASES)
def test_every_candidate_and_its_penalty_match_qrcodes(base: str) -> None:
    content = content_for(base)
    data = content.encode()
    version = qr.version_for(len(data))
    layout = qr_mask.layout(version, constants.ERROR_CORRECT_M)
    for mask, (rows, columns) in enumerate(layout.candidates(qr.codewords(data, version))):
        expected = reference(content, mask)
        assert layout.rows(rows) == ["".join("1" if dark else "0" for dark in row) for row in expected]
        assert layout.penalty(rows, columns) == util.lost_point(expected)


@pytest.mark.parametrize("base", BASES)
def test_the_version_is_the_smallest_that_fits(base: str) -> None:
    content = content_for(base)
    version = (len(qr_matrix(content)) - 2 * qr.QUIET_ZONE - 17) // 4
    assert CAPACITY_M[version - 1] >= len(content) > ([0, *CAPACITY_M])[version - 1]


def test_versions_follow_the_spec_capacities() -> None:
    for length in range(1, CAPACITY_M[-1] + 1):
        assert qr.version_for(length) == next(v for v, room in enumerate(CAPACITY_M, 1) if room >= length)


def test_the_quiet_zone_is_light() -> None:
    matrix = qr_matrix(content_for(BASES[0]))
    border = [*matrix[: qr.QUIET_ZONE], *matrix[-qr.QUIET_ZONE :]] + [
        row[: qr.QUIET_ZONE] + row[-qr.QUIET_ZONE :] for row in matrix
    ]
    assert not any(any(row) for row in border)


def test_images_of_a_matrix_are_the_rendered_images() -> None:
    content = content_for(BASES[1])
    matrix = qr_matrix(content)
    assert svg_of(matrix) == render(content, "svg")
    assert png_of(matrix) == render(content, "png")


def drawn_modules(svg: bytes) -> tuple[int, set[tuple[int, int]]]:
    """The SVG's size in modules and the modules its path draws dark, read back from the path's commands.

    The path must be 1-wide horizontal strokes along module rows (``M``/``m`` moves, ``h`` draws), whole modules.
    """
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own SVG, just rendered)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("shape-rendering") == "crispEdges"
    size = int(root.get("width", "")) // qr.PNG_SCALE
    assert root.get("viewBox") == f"0 0 {size} {size}"
    background, path = list(root)
    assert background.attrib == {"width": str(size), "height": str(size), "fill": "#fff"}
    assert {key: path.get(key) for key in ("fill", "stroke", "stroke-width")} == {
        "fill": "none",
        "stroke": "#000",
        "stroke-width": "1",
    }
    x, y, dark = 0.0, 0.0, set()
    for command, arguments in re.findall(r"([A-Za-z])([^A-Za-z]*)", path.get("d", "")):
        numbers = [float(number) for number in arguments.replace(",", " ").split()]
        if command in "Mm":
            assert len(numbers) == 2
            x, y = (numbers[0], numbers[1]) if command == "M" else (x + numbers[0], y + numbers[1])
        else:
            assert command == "h" and len(numbers) == 1 and numbers[0] > 0, (command, arguments)
            assert x.is_integer() and (y - 0.5).is_integer() and numbers[0].is_integer(), (x, y, numbers)
            dark |= {(int(x) + i, int(y)) for i in range(int(numbers[0]))}
            x += numbers[0]
    return size, dark


def dark_of(rows: list[str]) -> set[tuple[int, int]]:
    return {(x, y) for y, row in enumerate(rows) for x, module in enumerate(row) if module == "1"}


@pytest.mark.parametrize("base", BASES)
def test_the_svg_draws_exactly_the_symbols_dark_modules(base: str) -> None:
    for _ in range(10):
        content = content_for(base)
        rows = qr._symbol(content)
        assert drawn_modules(render(content, "svg")) == (len(rows), dark_of(rows))


def test_the_svg_draws_runs_across_its_chunks_and_any_rows() -> None:
    chunk = qr._CHUNK
    square: list[list[str]] = []
    for width in range(1, 3 * chunk + 2):
        square.append(["1" * width] * width)  # all dark: every run crosses every chunk boundary
        square.append(["0" * width] * width)  # nothing to draw
    for boundary in range(chunk, 3 * chunk + 1, chunk):  # dark at 0 fixes the first chunk; a run over its boundary
        for before, after in ((1, 1), (1, chunk), (chunk, 1), (3, 5)):
            width = boundary + after + 2
            run = "0" * (boundary - before) + "1" * (before + after)
            square.append(["0" * width, "1" + run[1:].ljust(width - 1, "0"), "0" * width, run.ljust(width, "0")])
    rng = random.Random(15)
    for _ in range(300):
        width = rng.randrange(1, 60)
        density = rng.random()
        square.append(["".join("1" if rng.random() < density else "0" for _ in range(width)) for _ in range(width)])
    for rows in square:
        size = max(len(rows), len(rows[0]))  # a symbol is square
        rows = [row.ljust(size, "0") for row in rows] + ["0" * size] * (size - len(rows))
        assert drawn_modules(qr._svg(rows)) == (len(rows), dark_of(rows)), rows


def test_a_render_takes_well_under_5ms_of_cpu() -> None:
    # The first render at a version also builds its layout: that too stays under the loop's budget.
    qr_mask.layout.cache_clear()
    started = time.process_time()
    render(content_for(BASES[1]), "svg")
    assert time.process_time() - started < 0.005
    times = []
    for _ in range(200):
        content = content_for(BASES[1])
        started = time.process_time()
        render(content, "svg")
        times.append(time.process_time() - started)
    assert statistics.median(times) < 0.002
