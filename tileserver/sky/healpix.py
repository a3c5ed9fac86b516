"""HEALPix as HiPS uses it: tile orders, the pixel layout inside a tile, the sky position of every tile pixel.

A HiPS tile of order k and width 2^s packs the 4^s HEALPix cells of order k+s (nested scheme) that make up cell
`npix` of order k. Where each cell goes in the tile array is the convention of the CDS tools (hipsgen's xy2hpx
table, read by Aladin and Aladin Lite): in a FITS tile, as stored (first row first), halving the tile recursively,
the lower half of the rows (the first stored) carries bit 0 of the nested sub-index set and the right half of the
columns carries bit 1. JPEG and PNG tiles hold the same picture with their rows in the opposite order, top first.
The HEALPix maths itself is astropy-healpix's.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from astropy import units as u
from astropy_healpix import healpix_to_lonlat

MAX_ORDER = 29  # deepest HEALPix order with 64-bit nested indices
ALLSKY_ORDER = 3  # the order of the Allsky preview, as in hipsgen and Aladin Lite
ALLSKY_TILE = 64  # width of one tile in the Allsky preview


def cell_size(order: int) -> float:
    """Mean angular size of a HEALPix cell of `order`, in degrees (square root of its area)."""
    return math.degrees(math.sqrt(4 * math.pi / (12 * 4**order)))


def deepest_order(pixel_scale: float, shift: int) -> int:
    """The tile order whose tile pixels are the first HEALPix cells not larger than `pixel_scale` (degrees): the
    rule of the HiPS standard, so the HiPS keeps the image's resolution without inventing more."""
    order = 0
    while order + shift < MAX_ORDER and cell_size(order + shift) > pixel_scale:
        order += 1
    return order


def tiles_at(order: int) -> int:
    return 12 * 4**order


@functools.lru_cache(maxsize=8)
def tile_layout(shift: int) -> np.ndarray:
    """(2^s, 2^s) int64: the nested sub-index, inside its tile, of each pixel of a FITS tile array (row 0 first in
    the file). Read-only: it is shared."""
    width = 1 << shift
    rows, cols = np.indices((width, width), dtype=np.int64)
    low = width - 1 - rows  # bit 0 of each level: the first-stored half of the rows
    high = cols  # bit 1 of each level: the right half of the columns
    index = np.zeros((width, width), np.int64)
    for bit in range(shift):
        index |= ((low >> bit) & 1) << (2 * bit)
        index |= ((high >> bit) & 1) << (2 * bit + 1)
    index.setflags(write=False)
    return index


def tile_lonlat(order: int, npix: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """ICRS longitude and latitude (degrees) of the centre of every pixel of a FITS tile array of tile (order, npix)."""
    sub = tile_layout(shift)
    ipix = (np.int64(npix) << np.int64(2 * shift)) + sub
    lon, lat = healpix_to_lonlat(ipix, 1 << (order + shift), order="nested")
    return lon.to_value(u.deg), lat.to_value(u.deg)


def tile_range(order: int, npix: int) -> tuple[int, int]:
    """The half-open range of order-29 nested indices that tile (order, npix) covers: the unit of MOC ranges."""
    shift = 2 * (MAX_ORDER - order)
    return npix << shift, (npix + 1) << shift


def overlaps(ranges: np.ndarray, order: int, npix: int) -> bool:
    """Whether tile (order, npix) meets a MOC given as sorted, disjoint order-29 ranges ((n, 2) uint64)."""
    lo, hi = tile_range(order, npix)
    i = int(np.searchsorted(ranges[:, 1], np.uint64(lo), side="right"))  # the first range that ends after lo
    return i < len(ranges) and int(ranges[i, 0]) < hi


def allsky_grid(order: int = ALLSKY_ORDER) -> tuple[int, int]:
    """(tiles per row, rows) of an Allsky preview, laid out as hipsgen does: sqrt(n) tiles a row, rows as needed."""
    n = tiles_at(order)
    per_row = int(math.sqrt(n))
    return per_row, -(-n // per_row)
