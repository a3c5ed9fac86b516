"""Every level of an image read from its source, before (and, for the full resolution, instead of) a cache entry.

The full resolution is the source's own pixels, exact: read by offset from regular layouts, the reader's rows for the
others. A coarser level, until its binned version is written, is a strided preview: level pixel (x, y) of a level
2^k times smaller is source pixel (x 2^k + 2^(k-1), y 2^k + 2^(k-1)), the centre of the block it will average.
A preview is cheap (one pixel per output pixel, read from a few hundred rows) but only a preview: its tiles carry
a different identity from the final ones (see Image.tag_for), so that no cache ever keeps one.

Statistics come from a sample taken once, at open, from evenly spaced rows and columns: deterministic, so that
every worker process computes the same cuts and every full-resolution tile is the same before and after the build.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidParameter
from ..images import ImageSource
from ..images.direct import SourceFile
from .pyramid import Channels, Geometry, channels_of

if TYPE_CHECKING:
    from .diskcache import CheckedPyramid
    from .manifest import Manifest

SAMPLE_TARGET = 1_000_000  # pixels sampled over all channels
SAMPLE_ROWS = 512  # rows sampled per channel, at most
SAMPLE_BANDS = 16  # runs of rows read from a source without direct reads


class SourceLevels:
    """Read access to the levels of a pyramid computed from the source on demand (the Pyramid interface)."""

    def __init__(self, geometry: Geometry, source: ImageSource, file: SourceFile | None = None) -> None:
        self.geometry = geometry
        self.source = source
        self.file = file  # checked after each read of a source without direct reads (which check themselves)

    def published(self) -> bool:
        return True

    def close(self) -> None:
        pass  # the source belongs to the image, which closes it

    def _block(self, z: int, channel: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """Level-z pixels x0 <= x < x1, y0 <= y < y1 of one channel: exact at the top, strided below."""
        g = self.geometry
        s = 1 << (g.levels - 1 - z)
        # The centre of each block; a side shorter than a block (a level of 1 pixel across a thin image) is
        # sampled at its own centre, not past its edge.
        hx = s // 2 if g.width >= s else (g.width - 1) // 2
        hy = s // 2 if g.height >= s else (g.height - 1) // 2
        direct = self.source.direct
        if direct is not None:
            return direct.window(channel, y0 * s + hy, y1 * s, x0 * s + hx, x1 * s, s)
        if s == 1:
            out = self.source.read(channel, y0, y1)[:, x0:x1]
        else:
            out = np.empty((y1 - y0, x1 - x0), np.float32)
            for n, y in enumerate(range(y0 * s + hy, y1 * s, s)):
                out[n] = self.source.read(channel, y, y + 1)[0, x0 * s + hx:x1 * s:s]
        if self.file is not None:
            self.file.check()  # rewritten while we read: not this version's pixels
        return out

    def region(self, z: int, x0: int, y0: int, x1: int, y1: int, channels: Channels = None) -> np.ndarray:
        g = self.geometry
        w, h = g.level_size(z)
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise InvalidParameter("region outside the image", "RGN")
        blocks = [self._block(z, c, x0, y0, x1, y1) for c in channels_of(g, channels)]
        return blocks[0][None] if len(blocks) == 1 else np.stack(blocks)  # one channel: no copy

    def tile(self, z: int, i: int, channels: Channels = None) -> np.ndarray:
        x0, y0, w, h = self.geometry.tile_box(z, i)
        return self.region(z, x0, y0, x0 + w, y0 + h, channels)

    def pixel(self, x: int, y: int) -> np.ndarray | None:
        g = self.geometry
        if not (0 <= x < g.width and 0 <= y < g.height):
            return None
        return self.region(g.levels - 1, x, y, x + 1, y + 1)[:, 0, 0].copy()


class Levels:
    """A pyramid whose levels come from two places: the cache entry's stored levels, the source for the others."""

    def __init__(self, geometry: Geometry, stored: CheckedPyramid | None, source: SourceLevels | None,
                 stored_levels: frozenset[int]) -> None:
        self.geometry = geometry
        self.stored, self.source, self.stored_levels = stored, source, stored_levels
        self.manifest: Manifest | None = None if stored is None else stored.entry.manifest

    def _at(self, z: int) -> Any:
        return self.stored if z in self.stored_levels else self.source

    def tile(self, z: int, i: int, channels: Channels = None) -> np.ndarray:
        """The channels named of tile i of level z (all by default): a view of one channel reads that one only."""
        self.geometry.tile_box(z, i)  # TileNotFound for a level or tile out of range
        return self._at(z).tile(z, i, channels)

    def region(self, z: int, x0: int, y0: int, x1: int, y1: int, channels: Channels = None) -> np.ndarray:
        return self._at(z).region(z, x0, y0, x1, y1, channels)

    def pixel(self, x: int, y: int) -> np.ndarray | None:
        return self._at(self.geometry.levels - 1).pixel(x, y)

    def published(self) -> bool:
        return self.stored is None or self.stored.published()

    def close(self) -> None:
        if self.stored is not None:
            self.stored.close()


def sample(source: ImageSource, target: int = SAMPLE_TARGET) -> list[np.ndarray]:
    """Per channel, the pixels of evenly spaced rows and columns: at most `target` in all, the same every time."""
    width, height, n = source.width, source.height, source.nchannels
    per_channel = max(4096, target // n)
    nrows = min(height, SAMPLE_ROWS, max(16, per_channel // 64))  # fewer rows for the many channels of a cube
    ystep = max(1, height // nrows)
    rows = range(ystep // 2, height, ystep)
    xstep = max(1, math.ceil(len(rows) * width / per_channel))
    out = []
    for c in range(n):
        if source.direct is not None:
            block = source.direct.window(c, rows.start, height, xstep // 2, width, ystep, xstep)
        else:
            # A reader pays per call: the same number of rows, read as SAMPLE_BANDS runs of consecutive rows.
            band = max(1, len(rows) // SAMPLE_BANDS)
            starts = np.linspace(0, height - band, min(SAMPLE_BANDS, len(rows))).astype(int)
            block = np.concatenate([source.read(c, y, y + band)[:, xstep // 2::xstep] for y in starts])
        out.append(block.ravel())
    return out
