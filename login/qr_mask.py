"""Placing a QR symbol's codewords and choosing its mask by the spec's penalty rules, fast.

ISO/IEC 18004 §7.8.3 asks an encoder to try all 8 masks and keep the one whose
symbol scores the lowest penalty (N1 runs, N2 2x2 blocks, N3 finder-like
patterns, N4 dark/light balance).  ``qrcode`` builds and scores each candidate
module by module in Python; here a version's layout (function patterns, where
each data bit goes, the 8 masks) is built once, and a candidate is one whole
symbol held in a single int, so masking it and scoring it are a few dozen
big-int operations.

A symbol as an int: row after row, each row a 0 separator then its modules
(1 is dark), the first row in the highest bits.  The separators are neither
dark nor light, so no run or pattern crosses from one row to the next, and
shifting by ``size + 1`` moves to the same module of the next row.  The
transposed symbol, in the same form, gives the columns.  The penalty is
exactly ``qrcode.util.lost_point``'s on the finished symbol, format and
version information included (``qrcode``'s own ``make()`` scores its
candidates with the format information blank, so it can pick another mask);
``tests/test_qr.py`` holds it to that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from operator import itemgetter

from qrcode import base, util

#: every mask function repeats every 12 rows and every 12 columns
MASK_PERIOD = 12

# A version's grid, one character a module: dark and light function modules,
# format or version information (set per mask later), data.
_DARK, _LIGHT, _INFO, _DATA = "1", "0", "i", "d"
_DARK_ONLY = str.maketrans({_DATA: "0", _INFO: "0"})
_DATA_ONLY = str.maketrans({_DATA: "1", _INFO: "0", _DARK: "0"})
#: b"0"/b"1" to bytes 0/1, to select with
_BYTE_BITS = bytes.maketrans(b"01", b"\0\1")

Placement = Callable[[str], tuple[str, ...]]


def _tiles(transposed: bool) -> list[list[str]]:
    """Per mask, the 12 periodic row (or column) strings of its pattern ('1' flips the module)."""
    tiles = []
    for pattern in range(8):
        flips = util.mask_func(pattern)
        tiles.append(
            [
                "".join("1" if (flips(b, a) if transposed else flips(a, b)) else "0" for b in range(MASK_PERIOD))
                for a in range(MASK_PERIOD)
            ]
        )
    return tiles


_ROW_TILES = _tiles(transposed=False)
_COLUMN_TILES = _tiles(transposed=True)


def _function_grid(version: int) -> list[list[str]]:
    """The version's grid of _DARK, _LIGHT, _INFO and _DATA modules."""
    size = version * 4 + 17
    grid = [[_DATA] * size for _ in range(size)]
    for top, left in ((0, 0), (size - 7, 0), (0, size - 7)):  # finders, with their light separators
        for r in range(max(top - 1, 0), min(top + 8, size)):
            for c in range(max(left - 1, 0), min(left + 8, size)):
                grid[r][c] = _DARK if max(abs(r - top - 3), abs(c - left - 3)) in (0, 1, 3) else _LIGHT
    centres = util.pattern_position(version)
    for row in centres:
        for col in centres:
            if grid[row][col] == _DATA:  # no alignment pattern where a finder is
                for r in range(row - 2, row + 3):
                    for c in range(col - 2, col + 3):
                        grid[r][c] = _LIGHT if max(abs(r - row), abs(c - col)) == 1 else _DARK
    for i in range(8, size - 8):  # timing patterns (alignment patterns on them agree)
        grid[6][i] = grid[i][6] = _LIGHT if i % 2 else _DARK
    for r, c in _format_cells(size) + _version_cells(version):
        grid[r][c] = _INFO
    grid[size - 8][8] = _DARK  # the dark module
    return grid


def _format_cells(size: int) -> list[tuple[int, int]]:
    """Where bits 0..14 of the format information go: first copy, then second (qrcode's order)."""
    down = [(i, 8) for i in range(6)] + [(7, 8), (8, 8)] + [(size - 15 + i, 8) for i in range(8, 15)]
    across = [(8, size - 1 - i) for i in range(8)] + [(8, 7)] + [(8, 14 - i) for i in range(9, 15)]
    return down + across


def _version_cells(version: int) -> list[tuple[int, int]]:
    """Where bits 0..17 of the version information go: both copies; none below version 7."""
    if version < 7:
        return []
    size = version * 4 + 17
    corner = [(i // 3, i % 3 + size - 11) for i in range(18)]
    return corner + [(c, r) for r, c in corner]


@dataclass(frozen=True, slots=True)
class Layout:
    """One version and error-correction level: everything about its symbols but the data."""

    size: int
    #: the data bits' positions (row form, then column form), as getters over the codewords' bit string
    place_rows: Placement
    place_columns: Placement
    #: the function patterns, format and version information, per mask (row form, column form)
    fixed: list[tuple[int, int]]
    #: each mask restricted to the data modules (row form, column form)
    masks: list[tuple[int, int]]
    #: every module, no separator: the light modules are ``symbol ^ modules``
    modules: int
    #: the codewords' bit count
    bits: int

    def candidates(self, codewords: bytes) -> list[tuple[int, int]]:
        """The 8 masked symbols of ``codewords`` (row form, column form), in mask order."""
        bits = format(int.from_bytes(codewords), f"0{self.bits}b") + "0"  # the '0': what no data bit reaches
        rows = int("".join(self.place_rows(bits)), 2)
        columns = int("".join(self.place_columns(bits)), 2)
        return [
            (fixed_rows | (rows ^ mask_rows), fixed_columns | (columns ^ mask_columns))
            for (fixed_rows, fixed_columns), (mask_rows, mask_columns) in zip(self.fixed, self.masks, strict=True)
        ]

    def penalty(self, rows: int, columns: int) -> int:
        """The total penalty N1 + N2 + N3 + N4 of one symbol."""
        size, modules = self.size, self.modules
        light = rows ^ modules
        score = _line_penalty(rows, light) + _line_penalty(columns, columns ^ modules)
        dark_pairs, light_pairs = rows & rows >> 1, light & light >> 1  # N2: 3 per 2x2 block of one colour
        blocks = dark_pairs & dark_pairs >> (size + 1) | light_pairs & light_pairs >> (size + 1)
        score += 3 * blocks.bit_count()
        percent = float(rows.bit_count()) / size**2  # N4, in qrcode's own float arithmetic
        return score + int(abs(percent * 100 - 50) / 5) * 10

    def rows(self, symbol: int) -> list[str]:
        """A row-form symbol as its rows of '0' (light) and '1' (dark)."""
        width = self.size + 1
        text = format(symbol, f"0{width * self.size}b")
        return [text[start + 1 : start + width] for start in range(0, width * self.size, width)]

    def best(self, codewords: bytes) -> tuple[int, list[str]]:
        """The mask with the lowest penalty (the first on a tie) and that symbol's rows."""
        candidates = self.candidates(codewords)
        penalties = [self.penalty(rows, columns) for rows, columns in candidates]
        mask = penalties.index(min(penalties))
        return mask, self.rows(candidates[mask][0])


def _line_penalty(dark: int, light: int) -> int:
    """N1 and N3 along the lines of one form (rows, or columns)."""
    dark1, dark2, dark3, dark4 = dark >> 1, dark >> 2, dark >> 3, dark >> 4
    light1 = light >> 1
    four_light = light & light1 & light >> 2 & light >> 3
    # N1: a run of 5 + i modules of one colour costs 3 + i; "five" marks the starts of 5 in a row (run length - 4
    # each), the last of a run's starts counting 2 more.  A module is dark or light, so both colours' marks are
    # disjoint and are counted together.
    five_dark = dark & dark1 & dark2 & dark3 & dark4
    five_light = four_light & light >> 4
    lasts = five_dark & ~(five_dark >> 1) | five_light & ~(five_light >> 1)
    # N3: 1011101 with 4 light modules after it or before it (the two patterns mirror each other); the first starts
    # dark where the second starts light, so they are disjoint too.
    core = dark & light1 & dark2 & dark3 & dark4 & light >> 5 & dark >> 6
    finder_like = core & four_light >> 7 | four_light & core >> 4
    return (five_dark | five_light).bit_count() + 2 * lasts.bit_count() + 40 * finder_like.bit_count()


def _form(lines: Iterable[str], table: dict[int, str] | None = None) -> int:
    """Lines of '0'/'1' (after ``table``, if given) as one symbol int."""
    text = "".join("0" + line for line in lines)
    return int(text.translate(table) if table else text, 2)


def _placement_order(grid: list[list[str]]) -> list[int]:
    """The row-form string positions of the data modules, in the order the codeword bits fill them.

    Two-column strips, right to left, zigzagging up and down; the vertical timing column is skipped.
    """
    size = len(grid)
    width = size + 1
    rows_text = "".join("0" + "".join(row) for row in grid)
    is_data = rows_text.translate(_DATA_ONLY).encode().translate(_BYTE_BITS)  # per row-form position: 1 for data
    order: list[int] = []
    upward, col = True, size - 1
    while col > 0:
        if col == 6:
            col -= 1
        strip: list[int] = [0] * (2 * size)  # (r, col), (r, col - 1) for r downward
        strip[0::2] = range(1 + col, width * size, width)
        strip[1::2] = range(col, width * size, width)
        if upward:  # (r, col) before (r, col - 1) going up, too
            strip[0::2], strip[1::2] = strip[-2::-2], strip[-1::-2]
        order.extend(compress(strip, itemgetter(*strip)(is_data)))
        upward, col = not upward, col - 2
    return order


@lru_cache(maxsize=40)
def layout(version: int, error_correction: int) -> Layout:
    """The layout of ``version`` at ``error_correction`` (one of qrcode's ``ERROR_CORRECT_*``)."""
    bits = 8 * sum(block.total_count for block in base.rs_blocks(version, error_correction))
    grid = _function_grid(version)
    size, width = len(grid), len(grid) + 1
    total = width * size
    order = _placement_order(grid)
    if len(order) < bits:
        raise ValueError(f"version {version} holds {len(order)} data modules, not {bits}")
    rows_index = [bits] * total  # modules no bit reaches (and separators) read the trailing '0'
    deque(map(rows_index.__setitem__, order[:bits], range(bits)), maxlen=0)  # rows_index[order[i]] = i, in C
    columns_index = [bits] * total
    for c in range(size):  # the transpose of rows_index
        columns_index[c * width + 1 : (c + 1) * width] = rows_index[1 + c : total : width]

    columns = ["".join(column) for column in zip(*grid, strict=True)]
    lines = ["".join(row) for row in grid]
    dark_rows, dark_columns = _form(lines, _DARK_ONLY), _form(columns, _DARK_ONLY)
    data_rows, data_columns = _form(lines, _DATA_ONLY), _form(columns, _DATA_ONLY)
    repeat = size // MASK_PERIOD + 1
    version_bits = util.BCH_type_number(version)
    fixed, masks = [], []
    for pattern in range(8):
        format_bits = util.BCH_type_info(error_correction << 3 | pattern)
        info = [cell for i, cell in enumerate(_format_cells(size)) if format_bits >> i % 15 & 1]
        info += [cell for i, cell in enumerate(_version_cells(version)) if version_bits >> i % 18 & 1]
        fixed.append(
            (
                dark_rows | sum(1 << total - 1 - (r * width + 1 + c) for r, c in info),
                dark_columns | sum(1 << total - 1 - (c * width + 1 + r) for r, c in info),
            )
        )
        rows_tile, columns_tile = _ROW_TILES[pattern], _COLUMN_TILES[pattern]
        mask_rows = _form((rows_tile[r % MASK_PERIOD] * repeat)[:size] for r in range(size))
        mask_columns = _form((columns_tile[c % MASK_PERIOD] * repeat)[:size] for c in range(size))
        masks.append((mask_rows & data_rows, mask_columns & data_columns))
    modules = int(("0" + "1" * size) * size, 2)
    return Layout(size, itemgetter(*rows_index), itemgetter(*columns_index), fixed, masks, modules, bits)
