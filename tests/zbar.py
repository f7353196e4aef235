"""zbar, a QR decoder independent of our encoder, for the tests that read our codes back."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

Decode = Callable[[bytes], list[str]]


def zbar_decoder() -> Decode:
    """zbar: the texts of every QR code in a PNG or other raster image; skips the test when zbar is missing."""
    try:
        from PIL import Image
        from pyzbar import pyzbar
    except ImportError as exc:  # pyzbar raises ImportError when libzbar is missing
        pytest.skip(f"zbar not available ({exc}): apt-get install zbar-tools; pip install pyzbar")

    def decode(image: bytes) -> list[str]:
        found = pyzbar.decode(Image.open(io.BytesIO(image)), symbols=[pyzbar.ZBarSymbol.QRCODE])
        return [symbol.data.decode() for symbol in found]

    return decode
