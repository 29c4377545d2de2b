"""A tiny bar chart as PNG bytes (zlib + struct, no plotting library). Bars only: the labels are in the table
next to it, in the same order. Pure."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]
PALETTE: tuple[Color, ...] = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                              (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def bar_chart_png(values: Sequence[float], width: int = 640, height: int = 240,
                  reference: float | None = None) -> bytes:
    """Bars scaled to the largest value; an optional horizontal reference line (e.g. the mean)."""
    w, h = max(width, 40), max(height, 40)
    pix = [[(255, 255, 255)] * w for _ in range(h)]
    top = max([*values, reference or 0.0, 1e-9])
    n = max(len(values), 1)
    margin = 10
    slot = (w - 2 * margin) / n
    for i, v in enumerate(values):
        x0 = int(margin + i * slot + slot * 0.1)
        x1 = max(x0 + 1, int(margin + (i + 1) * slot - slot * 0.1))
        bar_h = int((h - 2 * margin) * (v / top))
        for y in range(h - margin - bar_h, h - margin):
            row = pix[y]
            for x in range(x0, min(x1, w)):
                row[x] = PALETTE[i % len(PALETTE)]
    for x in range(margin, w - margin):  # axis
        pix[h - margin][x] = (0, 0, 0)
    if reference:
        y = h - margin - int((h - 2 * margin) * (reference / top))
        for x in range(margin, w - margin, 2):
            pix[max(0, y)][x] = (0, 0, 0)
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pix)
    return _png(w, h, raw)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(w: int, h: int, raw: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
