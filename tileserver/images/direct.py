"""Pixels read straight from a source file with a regular, uncompressed layout, by offset.

A plain FITS HDU (every BITPIX, cubes) or a TIFF stored in uncompressed whole-width strips is an array at known
offsets of the file: its full resolution needs no copy in the cache, and any window of it, at any stride, is a
few reads of the file. Values are converted exactly as the readers convert them for the builder (BSCALE, BZERO,
BLANK), so a pixel read here is the pixel the pyramid was built from.

Runs of whole rows are read with one pread. A full-resolution window (a tile: a few hundred rows, a short piece of
each) is copied from a read-only memory map of the file where the server holds a read lease on it, else read with a
pread per row (0.3 ms a tile instead of 0.03). A map alone is not safe: a file truncated under a map faults the
process (SIGBUS, a dead worker) on access, and no check before the copy can close that window. The lease closes it:
the kernel makes whoever opens the file for writing or truncates it wait until the lease is given back, and tells
us (SIGIO); the map is then dropped once the reads in flight are done, the lease given back, and the file read with
pread from then on (where a file cut short is only a short read, which raises SourceChanged). Leases are taken only
in a process that listens for the signal (a server's, see watch_leases), only on a file the server's user owns (or
with CAP_LEASE), and never on a file some process has open for writing; elsewhere reads are preads.

Versions never mix: the file is held open (the pinned open approved it) and its identity (size, mtime, inode,
ctime) is taken at open; every read checks it again afterwards, so data rewritten in place is never passed off as
the version the cache key names.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import mmap
import os
import signal
import threading
import weakref
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SourceChanged

log = logging.getLogger(__name__)

# (raw stored values, float32 output of the same shape) -> None: the reader's conversion of stored values.
Convert = Callable[[np.ndarray, np.ndarray], None]

Identity = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns
BATCH_BYTES = 4 << 20  # bytes of stored rows read into one buffer (then converted) at a time
CHANGED = "the image file changed on disk; its new version is being opened"


def identity(st: os.stat_result) -> Identity:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


class SourceFile:
    """An open source file and its identity at open; mapped, under a read lease, once a window is asked of it."""

    def __init__(self, path: Path) -> None:
        self._map: mmap.mmap | None = None
        self._mapping = _leases.enabled  # False once mapping was refused, or the lease broken: pread from then on
        self._readers = 0  # copies from the map in progress
        self._turn = threading.Condition()
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.identity = identity(os.fstat(self.fd))
        self.kept = False  # whether an image holds on to it beyond the open

    def begin_copy(self) -> mmap.mmap | None:
        """The map to copy from (end with end_copy), or None: read with pread."""
        with self._turn:
            if self._map is None and self._mapping:  # the first copy: lease and map, once
                self._map = _lease_and_map(self.fd, self.identity[0])
                if self._map is None:
                    self._mapping = False
                else:
                    _leases.add(self)
            if self._map is None or not self._mapping:
                return None
            self._readers += 1
            return self._map

    def end_copy(self) -> None:
        with self._turn:
            self._readers -= 1
            self._turn.notify_all()

    def give_up_lease(self) -> None:
        """Stop copying from the map (after the copies in flight) and give the lease back: a writer waits on it."""
        with self._turn:
            self._mapping = False
            while self._readers:
                self._turn.wait()
            held, self._map = self._map, None
            if held is None:
                return
            _leases.discard(self)
            try:
                held.close()
            except BufferError:  # a view of it still alive somewhere: unmapped when that goes, never read again
                pass
            if self.fd >= 0:
                with contextlib.suppress(OSError):  # already broken by the kernel: nothing to give back
                    fcntl.fcntl(self.fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)

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
        self.give_up_lease()
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)  # (gives up the lease too)

    def __del__(self) -> None:
        if getattr(self, "fd", -1) >= 0:
            self.close()


class _Leases:
    """The files this process holds a read lease on, and whether it listens for their breaks at all."""

    def __init__(self) -> None:
        self.enabled = False
        self._files: weakref.WeakSet[SourceFile] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, file: SourceFile) -> None:
        with self._lock:
            self._files.add(file)

    def discard(self, file: SourceFile) -> None:
        with self._lock:
            self._files.discard(file)

    def held(self) -> list[SourceFile]:
        with self._lock:
            return list(self._files)


_leases = _Leases()


def watch_leases(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Map source files under read leases in this process from now on: the lease-break signal (SIGIO) gives back
    every lease being broken. Call from the main thread of a server process, with its event loop (which then wakes
    at once for the signal); False, and preads only, where no signal handler can be set (another thread)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if loop is not None:
        loop.add_signal_handler(signal.SIGIO, _on_lease_break)
    else:
        signal.signal(signal.SIGIO, lambda signum, frame: _on_lease_break())
    _leases.enabled = True
    return True


def _on_lease_break() -> None:
    # Runs in the main thread, perhaps in the middle of a copy from a map: the leases are given back from another
    # thread, which waits for such copies to end.
    threading.Thread(target=_give_back_broken, name="lease-break", daemon=True).start()


def _give_back_broken() -> None:
    for file in _leases.held():
        try:
            broken = file.fd >= 0 and fcntl.fcntl(file.fd, fcntl.F_GETLEASE) != fcntl.F_RDLCK
        except OSError:
            broken = True
        if broken:
            file.give_up_lease()


def _lease_and_map(fd: int, size: int) -> mmap.mmap | None:
    """A read-only map of the file under a read lease, or None where the kernel refuses the lease (a file of
    another user, a file open for writing, a filesystem without leases) or the map."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EAGAIN, errno.EINVAL, errno.ENOLCK):
            log.warning("read lease refused (%s): tiles are read with pread", os.strerror(e.errno or 0))
        return None
    try:
        if identity(os.fstat(fd))[0] != size or size == 0:  # changed before the lease: not the version we hold
            raise ValueError
        mapped = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        mapped.madvise(mmap.MADV_RANDOM)  # a tile reads a short piece of many rows: no read-ahead
        return mapped
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return None


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
        if step == 1 and len(self.pages[page]) == 1 and self._from_map(page, band, y0, x0, xstep, out):
            self.file.check()
            return out
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

    def _from_map(self, page: int, band: int, y0: int, x0: int, xstep: int, out: np.ndarray) -> bool:
        """Convert the full-resolution rows y0 <= y < y0 + len(out) of a one-strip page (a FITS plane), every
        xstep-th column from x0, from the file's map into out, with no offsets to compute nor reads to join; False
        without a map (or for rows outside the strip): then read them with pread."""
        n, ncols = out.shape
        strip = self.pages[page][0]
        lowest = self.height - y0 - n if self.bottom_up else y0  # the first stored row of the window
        if lowest < strip.first or lowest + n > strip.stop:
            return False
        mapped = self.file.begin_copy()
        if mapped is None:
            return False
        try:
            pixel = self.bands * self.dtype.itemsize
            start = strip.offset + (lowest - strip.first) * self.row_bytes + x0 * pixel + band * self.dtype.itemsize
            if start + (n - 1) * self.row_bytes + (ncols - 1) * xstep * pixel + self.dtype.itemsize > len(mapped):
                return False
            self._convert(mapped, start, (self.row_bytes, xstep * pixel), out)
            return True
        finally:
            self.file.end_copy()

    def _convert(self, mapped: mmap.mmap, start: int, strides: tuple[int, int], out: np.ndarray) -> None:
        """out = the converted values of the stored rows at `start` of the map. Its views of the map die with this
        call (a lease break closes the map once no copy is in progress)."""
        stored = np.ndarray(out.shape, self.dtype, mapped, start, strides)
        # Values stored in another byte order are first copied out as they are (a plain strided copy), then converted
        # contiguous: twice as fast as one conversion from the strided rows (30 µs a 256² tile, not 60).
        raw = stored if self.dtype.isnative else stored.copy()
        self.convert(raw[::-1] if self.bottom_up else raw, out)

    def close(self) -> None:
        self.file.close()
