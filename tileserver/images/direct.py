"""Pixels read straight from a source file with a regular, uncompressed layout, by offset.

A plain FITS HDU (every BITPIX, cubes) or a TIFF stored in uncompressed whole-width strips is an array at known
offsets of the file: its full resolution needs no copy in the cache, and any window of it, at any stride, is a
few reads of the file. Values are converted exactly as the readers convert them for the builder (BSCALE, BZERO,
BLANK), so a pixel read here is the pixel the pyramid was built from.

Reads use pread (a run of whole rows in one call, else one call per row), never a memory map: a file truncated
under a map faults the process (SIGBUS, a dead worker) on access, and no check before the copy can close that
window; a file cut short is only a short pread, which raises SourceChanged. (Mapping is no cheaper anyway: the
page cache maps whole folios of megabytes per fault, and a tile touches a few hundred rows far apart.)

Versions never mix: the file is held open (the pinned open approved it) and its identity (size, mtime, inode,
ctime) is taken at open; every read checks it again afterwards, so data rewritten in place is never passed off as
the version the cache key names.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SourceChanged

# (raw stored values, float32 output of the same shape) -> None: the reader's conversion of stored values.
Convert = Callable[[np.ndarray, np.ndarray], None]

Identity = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns
BATCH_BYTES = 4 << 20  # bytes of stored rows read into one buffer (then converted) at a time
CHANGED = "the image file changed on disk; its new version is being opened"


def identity(st: os.stat_result) -> Identity:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


class SourceFile:
    """An open source file and its identity at open."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.identity = identity(os.fstat(self.fd))
        self.kept = False  # whether an image holds on to it beyond the open

    def check(self, end: int = 0) -> None:
        """Raise SourceChanged if the file is not the version opened, or no longer reaches byte `end`."""
        now = identity(os.fstat(self.fd))
        if now != self.identity or now[0] < end:
            raise SourceChanged(CHANGED)

    def pread(self, buffer: np.ndarray, offset: int) -> None:
        """Fill `buffer` (a contiguous array of bytes) from the file at `offset`; SourceChanged if it is cut short."""
        if os.preadv(self.fd, [memoryview(buffer.data)], offset) != buffer.nbytes:
            raise SourceChanged(CHANGED)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
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
        self._firsts = [[s.first for s in strips] for strips in pages]

    def window(self, channel: int, y0: int, y1: int, x0: int, x1: int, step: int = 1,
               xstep: int | None = None) -> np.ndarray:
        xstep = xstep or step
        rows = range(y0, y1, step)
        ncols = len(range(x0, x1, xstep))
        out = np.empty((len(rows), ncols), np.float32)
        if not len(rows) or not ncols:
            return out
        page, band = divmod(channel, self.bands)
        pixel = self.bands * self.dtype.itemsize
        span = (ncols - 1) * xstep + 1  # stored pixels x0 <= x < x0 + span are read, every xstep-th kept
        batch = min(len(rows), max(1, BATCH_BYTES // (span * pixel)))
        buffer = np.empty((batch, span * pixel), np.uint8)
        for n in range(0, len(rows), batch):
            part = rows[n:n + batch]
            raw = buffer[:len(part)]
            flipped = self._read(page, part, x0 * pixel, raw)
            values = raw.view(self.dtype).reshape(len(part), span, self.bands)[:, ::xstep, band]
            self.convert(values[::-1] if flipped else values, out[n:n + len(part)])
        self.file.check()  # rewritten while we read: not this version's pixels
        return out

    def _stored(self, page: int, row: int) -> tuple[int, Strip | None]:
        """The stored row of display row `row`, and the strip that holds it (None in a gap of the file)."""
        stored = self.height - 1 - row if self.bottom_up else row
        j = bisect_right(self._firsts[page], stored) - 1
        strip = self.pages[page][j] if j >= 0 else None
        return stored, strip if strip is not None and stored < strip.stop else None

    def _read(self, page: int, rows: range, skip: int, raw: np.ndarray) -> bool:
        """Read display rows `rows` of a page, columns from byte `skip` on, into raw (one row of bytes each): in
        display order (returns False), or, for a run of whole rows stored bottom up, in stored order (True)."""
        file = self.file
        if rows.step == 1 and raw.shape[1] == self.row_bytes:  # whole rows in a run: one read per strip
            lo = self._stored(page, rows[-1] if self.bottom_up else rows[0])[0]
            hi = lo + len(rows)
            runs = [(max(lo, st.first), min(hi, st.stop), st) for st in self.pages[page]]
            runs = [(a, b, st) for a, b, st in runs if a < b]
            if sum(b - a for a, b, _ in runs) < len(rows):  # rows in a gap of the file (none we accept): blank
                raw[:] = 0
            for a, b, strip in runs:
                file.pread(raw[a - lo:b - lo].reshape(-1), strip.offset + (a - strip.first) * self.row_bytes)
            return self.bottom_up
        width = raw.shape[1]
        strips = self.pages[page]
        if len(strips) == 1:  # a FITS plane: the offsets of its rows in one go
            strip = strips[0]
            stored = np.asarray(rows)
            if self.bottom_up:
                stored = self.height - 1 - stored
            offsets = strip.offset + skip + (stored - strip.first) * self.row_bytes
            gaps = (stored < strip.first) | (stored >= strip.stop)
            offsets[gaps] = -1
        else:
            where = [self._stored(page, row) for row in rows]
            offsets = np.array([-1 if st is None else st.offset + (s - st.first) * self.row_bytes + skip
                                for s, st in where], np.int64)
            gaps = offsets < 0
        fd = file.fd
        if not gaps.any():  # a pread per row, joined: half the cost of preadv into slices of the buffer
            data = b"".join([os.pread(fd, width, offset) for offset in offsets.tolist()])
            if len(data) != raw.size:
                raise SourceChanged(CHANGED)
            raw.reshape(-1)[:] = np.frombuffer(data, np.uint8)
            return False
        raw[gaps] = 0  # rows in a gap of the file (none in a file we accept): blank
        flat = memoryview(raw.reshape(-1).data)
        for i, offset in enumerate(offsets.tolist()):
            if offset >= 0 and os.preadv(fd, [flat[i * width:(i + 1) * width]], offset) != width:
                raise SourceChanged(CHANGED)
        return False

    def close(self) -> None:
        self.file.close()
