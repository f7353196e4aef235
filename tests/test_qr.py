"""The QR codes we render: readable by zbar, and the very symbol ``qrcode`` makes with the spec's best mask."""

from __future__ import annotations

import secrets
import statistics
import time

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
