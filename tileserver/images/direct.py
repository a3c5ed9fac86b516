"""Pixels read straight from a source file with a regular, uncompressed layout, through a memory map.

A plain FITS HDU (every BITPIX, cubes) or a TIFF stored in uncompressed whole-width strips is an array at known
offsets of the file: its full resolution needs no copy in the cache, and any window of it, at any stride, is a
slice of the map. Values are converted exactly as the readers convert them for the builder (BSCALE, BZERO, BLANK),
so a pixel read here is the pixel the pyramid was built from.

Versions never mix: the file is held open (the pinned open approved it) and its identity (size, mtime, inode,
ctime) is taken at open; every read checks it again afterwards, so data rewritten in place is never passed off as
the version the cache key names. A file truncated under the map would fault the process (SIGBUS) on access, so
each read first checks that the file still covers what it touches; what is left is a window of microseconds
between that check and the copy, open only to whoever may write the data folder.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SourceChanged

# (raw stored values, float32 output of the same shape) -> None: the reader's conversion of stored values.
Convert = Callable[[np.ndarray, np.ndarray], None]

Identity = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns
BATCH_ROWS = 16  # rows of a strided read between two looks at what is mapped
RELEASE_BYTES = 32 << 20  # bytes of the file mapped by reads (at most) before the process lets go of its pages


def identity(st: os.stat_result) -> Identity:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


class SourceFile:
    """An open source file, its identity at open, and a read-only map of it (made on first use)."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.identity = identity(os.fstat(self.fd))
        self._map: mmap.mmap | None = None
        self.kept = False  # whether an image holds on to it beyond the open

    @property
    def map(self) -> mmap.mmap:
        if self._map is None:
            self._map = mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ)
        return self._map

    def check(self, end: int = 0) -> None:
        """Raise SourceChanged if the file is not the version opened, or no longer reaches byte `end`."""
        now = identity(os.fstat(self.fd))
        if now != self.identity or now[0] < end:
            raise SourceChanged("the image file changed on disk; its new version is being opened")

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # a view still exported: the map closes when it is collected
            self._map = None
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "fd", -1) >= 0:
            self.close()


@dataclass
class Strip:
    """Stored rows first <= r < stop (display order, top first) of one page: (rows, width, bands) at `offset`."""

    first: int
    stop: int
    offset: int


class DirectPixels:
    """window(channel, y0, y1, x0, x1, step, xstep): display rows y0, y0+step... < y1 and columns x0, x0+xstep...
    < x1 of a channel as a float32 array; from strips of stored rows, each a (rows, width, bands) array of the file."""

    def __init__(self, file: SourceFile, pages: list[list[Strip]], width: int, height: int, bands: int,
                 dtype: np.dtype, convert: Convert, bottom_up: bool) -> None:
        self.file, self.pages, self.width, self.height = file, pages, width, height
        self.bands, self.dtype, self.convert, self.bottom_up = bands, np.dtype(dtype), convert, bottom_up
        self.row_bytes = row_bytes = width * bands * self.dtype.itemsize
        self.end = max(s.offset + (s.stop - s.first) * row_bytes for page in pages for s in page)
        self._arrays: list[list[np.ndarray]] | None = None
        self._mapped = 0  # bytes of the file mapped (at most) since the last release

    def _strips(self, page: int) -> list[np.ndarray]:
        if self._arrays is None:
            mapped = self.file.map
            self._arrays = [[np.ndarray((s.stop - s.first, self.width, self.bands), self.dtype, mapped, s.offset)
                             for s in strips] for strips in self.pages]
        return self._arrays[page]

    def window(self, channel: int, y0: int, y1: int, x0: int, x1: int, step: int = 1,
               xstep: int | None = None) -> np.ndarray:
        rows = range(y0, y1, step)
        cols = slice(x0, x1, xstep or step)
        out = np.empty((len(rows), len(range(x0, x1, xstep or step))), np.float32)
        if not len(rows) or not out.shape[1]:
            return out
        self.file.check(self.end)  # a file cut short under the map would fault the process
        # A strided preview touches a page per row across the whole file: a few rows at a time, its pages unmapped
        # after each batch. A tile touches a few pages per row: unmapped once some RELEASE_BYTES have piled up.
        batch = BATCH_ROWS if step > 1 else len(rows)
        for n in range(0, len(rows), batch):
            self._rows(channel, rows[n:n + batch], cols, out[n:n + batch])
        self.file.check(self.end)  # rewritten while we copied: not this version's pixels
        return out

    def _rows(self, channel: int, rows: range, cols: slice, out: np.ndarray) -> None:
        page, band = divmod(channel, self.bands)
        step, y0 = rows.step, rows.start
        for strip, array in zip(self.pages[page], self._strips(page)):
            stored = (self.height - 1 - r for r in (rows[-1], rows[0])) if self.bottom_up else (rows[0], rows[-1])
            lo, hi = stored
            a, b = max(lo, strip.first), min(hi + 1, strip.stop)
            if a >= b:
                continue
            # Stored rows a <= s < b that are wanted: those congruent to lo modulo step.
            a += (lo - a) % step
            if a >= b:
                continue
            raw = array[a - strip.first:b - strip.first:step, cols, band]
            wide = (cols.stop - cols.start) * self.bands * self.dtype.itemsize + mmap.PAGESIZE
            self._mapped += raw.shape[0] * min(self.row_bytes, wide)
            if self.bottom_up:  # stored row s is display row height-1-s: the first stored is the last shown
                first_out = (self.height - 1 - (b - 1 - (b - 1 - a) % step) - y0) // step
                self.convert(raw[::-1], out[first_out:first_out + raw.shape[0]])
            else:
                first_out = (a - y0) // step
                self.convert(raw, out[first_out:first_out + raw.shape[0]])
        if step > 1 or self._mapped > RELEASE_BYTES:  # a strided read maps much more than it reads (fault-around)
            self._mapped = 0
            self._release(0, self.end)

    def _release(self, start: int, stop: int) -> None:
        """Unmap the pages read from this process (they stay in the page cache): the file-backed part of the
        resident size stays what a few requests read, not what all requests ever read (a whole image, over time)."""
        start -= start % mmap.PAGESIZE
        if stop > start:
            self.file.map.madvise(mmap.MADV_DONTNEED, start, min(stop, len(self.file.map)) - start)

    def close(self) -> None:
        self._arrays = None
        self.file.close()
