"""Pixels read straight from a source file with a regular, uncompressed layout, by offset.

A plain FITS HDU (every BITPIX, cubes) or a TIFF stored in uncompressed whole-width strips is an array at known
offsets of the file: its full resolution needs no copy in the cache, and any window of it, at any stride, is a
few reads of the file. Values are converted exactly as the readers convert them for the builder (BSCALE, BZERO,
BLANK), so a pixel read here is the pixel the pyramid was built from.

Pixels are never read by touching a memory map of the file: a file truncated under a map faults the process
(SIGBUS, a dead worker) on access, and no check before the copy can close that window. Runs of whole rows (and
the wide rows of a strided preview) are read with pread, where a file cut short is only a short read. The rows of
a tile (a few hundred short runs, as many syscalls with pread) are gathered from a private map of the file in one
process_vm_readv call: the kernel copies them, and a page past the end of a shrunk file makes the call stop short
(EFAULT) instead of faulting the process. Either way, a short read raises SourceChanged. Where the call is not
allowed (a seccomp filter), tiles fall back to one pread per row.

Versions never mix: the file is held open (the pinned open approved it) and its identity (size, mtime, inode,
ctime) is taken at open; every read checks it again afterwards, so data rewritten in place is never passed off as
the version the cache key names.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
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
IOV_MAX = 1024  # runs gathered per process_vm_readv call
RELEASE_BYTES = 32 << 20  # bytes of the map touched by gathers before the process lets go of its pages
CHANGED = "the image file changed on disk; its new version is being opened"


class _Libc:
    """mmap, munmap, madvise and process_vm_readv through ctypes: a map no Python object exposes, so that nothing
    but the kernel (which fails softly) ever reads it."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.mmap = libc.mmap
        self.mmap.restype = ctypes.c_void_p
        self.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long]
        self.munmap = libc.munmap
        self.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self.madvise = libc.madvise
        self.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.readv = libc.process_vm_readv
        self.readv.restype = ctypes.c_ssize_t
        self.readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                               ctypes.c_ulong]
        self.usable = True  # until the kernel refuses process_vm_readv (seccomp, an old kernel)


try:
    _libc: _Libc | None = _Libc()
except (OSError, AttributeError):  # no C library to load (not Linux): pread only
    _libc = None


def identity(st: os.stat_result) -> Identity:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


class SourceFile:
    """An open source file and its identity at open."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.identity = identity(os.fstat(self.fd))
        self.kept = False  # whether an image holds on to it beyond the open
        self._address: int | None = None  # of the private map, made on the first gather (0: none possible)
        self._touched = 0  # bytes of the map gathered from since its pages were last released

    def check(self, end: int = 0) -> None:
        """Raise SourceChanged if the file is not the version opened, or no longer reaches byte `end`."""
        now = identity(os.fstat(self.fd))
        if now != self.identity or now[0] < end:
            raise SourceChanged(CHANGED)

    def pread(self, buffer: np.ndarray, offset: int) -> None:
        """Fill `buffer` (a contiguous array of bytes) from the file at `offset`; SourceChanged if it is cut short."""
        if os.preadv(self.fd, [memoryview(buffer.data)], offset) != buffer.nbytes:
            raise SourceChanged(CHANGED)

    def gather(self, buffer: np.ndarray, offsets: np.ndarray, length: int) -> bool:
        """Fill `buffer` (contiguous bytes) with the runs of `length` bytes at file `offsets`, one after the other,
        in one system call per IOV_MAX runs; False when the kernel does not allow it (the caller preads)."""
        libc = _libc
        if libc is None or not libc.usable:
            return False
        if self._address is None:
            size = self.identity[0]
            address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, self.fd, 0) if size else None
            self._address = 0 if address in (None, ctypes.c_void_p(-1).value) else address
        if not self._address:
            return False
        remote = np.empty((len(offsets), 2), np.uint64)
        remote[:, 0] = offsets
        remote[:, 0] += self._address
        remote[:, 1] = length
        base = buffer.ctypes.data
        for n in range(0, len(offsets), IOV_MAX):
            count = min(IOV_MAX, len(offsets) - n)
            local = np.array([base + n * length, count * length], np.uint64)
            got = libc.readv(os.getpid(), local.ctypes.data, 1, remote[n:].ctypes.data, count, 0)
            if got != count * length:
                if got < 0 and ctypes.get_errno() not in (errno.EFAULT, errno.EIO):
                    libc.usable = False  # refused (EPERM under seccomp, ENOSYS): pread from now on
                    return False
                raise SourceChanged(CHANGED)  # a page past the end of the file as it is now
        # The pages gathered are mapped in this process: let them go (they stay in the page cache) once some
        # RELEASE_BYTES have piled up, so that the file's share of the resident size stays small.
        self._touched += len(offsets) * (length + mmap.PAGESIZE)
        if self._touched > RELEASE_BYTES:
            self._touched = 0
            libc.madvise(self._address, self.identity[0], mmap.MADV_DONTNEED)
        return True

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        address, self._address = self._address, None
        if address and _libc is not None:
            _libc.munmap(address, self.identity[0])
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
        if gaps.any():  # rows in a gap of the file (none in a file we accept): blank
            raw[gaps] = 0
        elif file.gather(raw, offsets, width):
            return False
        flat, fd = memoryview(raw.reshape(-1).data), file.fd
        for i, offset in enumerate(offsets.tolist()):
            if offset >= 0 and os.preadv(fd, [flat[i * width:(i + 1) * width]], offset) != width:
                raise SourceChanged(CHANGED)
        return False

    def close(self) -> None:
        self.file.close()
