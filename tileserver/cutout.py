"""Regions (RGN, BIN): which pixels of which pyramid level a snapshot or FITS cutout reads, and the WCS of a cutout.

Output pixel (i, j) is the mean of the b x b full-resolution block starting at (x1 - 1 + i b, y1 - 1 + j b) (0-based,
rows from the top). A coarser level of the pyramid holds means of p x p blocks aligned on multiples of p, so a
level is used only when p divides b and the region's corner, and only when the whole region lies inside that
level (levels are floor(size / 2^k): an odd last row or column is not in them); else a finer one. A region
narrower (or shorter) than b gives one pixel in that direction, the mean of what there is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .images import wcsheader
from .store.pyramid import Geometry


@dataclass(frozen=True)
class Plan:
    z: int  # the level read
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 read at level z (rows from the top)
    block: tuple[int, int]  # (kx, ky): level pixels averaged into one output pixel
    size: tuple[int, int]  # (width, height) of the output
    binning: tuple[int, int]  # (bx, by): full-resolution pixels per output pixel
    corner: tuple[int, int]  # (x1 - 1, y1 - 1): the region's top-left full-resolution pixel, 0-based

    @property
    def pixels_read(self) -> int:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)

    def tiles(self, g: Geometry) -> int:
        x0, y0, x1, y1 = self.box
        ts = g.tile_size
        return ((x1 - 1) // ts - x0 // ts + 1) * ((y1 - 1) // ts - y0 // ts + 1)


def plan(g: Geometry, region: tuple[int, int, int, int], b: int,
         usable: Callable[[int], bool] = lambda z: True) -> Plan:
    x1, y1, x2, y2 = region
    span_w, span_h = x2 - x1 + 1, y2 - y1 + 1
    bx, by = min(b, span_w), min(b, span_h)  # a region smaller than a block: one block of what there is
    out_w, out_h = span_w // bx, span_h // by
    p = _power_of_two(math.gcd(bx, by, x1 - 1, y1 - 1), g.levels - 1)
    while p > 1:
        z = g.levels - 1 - int(math.log2(p))
        lw, lh = g.level_size(z)
        if usable(z) and (x1 - 1) // p + out_w * bx // p <= lw and (y1 - 1) // p + out_h * by // p <= lh:
            break
        p //= 2
    z = g.levels - 1 - int(math.log2(p))
    x0, y0 = (x1 - 1) // p, (y1 - 1) // p
    box = (x0, y0, x0 + out_w * bx // p, y0 + out_h * by // p)
    return Plan(z, box, (bx // p, by // p), (out_w, out_h), (bx, by), (x1 - 1, y1 - 1))


def _power_of_two(n: int, max_log: int) -> int:
    """The largest power of two dividing n (n = 0: any), at most 2^max_log."""
    return min(n & -n if n else 2**max_log, 2**max_log)


def block_mean(data: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """NaN-aware mean over ky x kx blocks of a (c, h, w) array whose h and w are multiples of ky and kx."""
    c, h, w = data.shape
    blocks = data.reshape(c, h // ky, ky, w // kx, kx)
    valid = ~np.isnan(blocks)
    total = np.where(valid, blocks, np.float32(0)).sum(axis=(2, 4), dtype=np.float32)
    count = valid.sum(axis=(2, 4), dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def header(source: dict[str, Any], height: int, p: Plan) -> dict[str, Any]:
    """The cutout's header: the source's cards with its WCS regridded (wcsheader) so that the WCS of a cutout pixel
    is that of its block's centre; bx and by may differ (a region narrower than BIN in one direction)."""
    (bx, by), (_, out_h) = p.binning, p.size
    x_off = p.corner[0]
    y_off = height - (p.corner[1] + out_h * by)  # FITS rows below the cutout's bottom row
    regridded = wcsheader.regrid(source, (x_off + 0.5 - bx / 2, y_off + 0.5 - by / 2), (bx, by))
    out = {k: v for k, v in regridded.items() if not k.startswith("NAXIS")}
    out["ORIGIN"] = "tileserver cutout"
    return out
