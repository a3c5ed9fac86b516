"""Multi-resolution float32 pyramids: geometry, the streaming builder and the tile reader.

Layout of one level file: channel after channel; inside a channel, the level's rows of tiles, top to bottom; inside
a row of tiles of height h, the tiles left to right, each one (h, w) float32, contiguous. So a tile of one channel
is one read, nothing is padded, and the offset of any tile follows from the geometry alone. Channels are stored
apart so that a cube is built, and shown, one channel at a time. Level sizes are floor(size / 2^k), as in IIP and
VisiOmatic; z = 0 is the coarsest level, z = levels-1 the full resolution (stored only for a source that cannot be
read in place: see sourcelevels.py).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter, TileNotFound, TooLarge
from ..images import ImageSource
from .manifest import Built

FORMAT_VERSION = 4  # 4: a checksum per channel of each tile
CHECKSUMS = "checksums.u64"  # of every channel of every stored tile: level after level, channel after channel
CHUNK_BYTES = 4 << 20  # float32 bytes of source rows read (and binned) at a time
GATE_ENV = "TILESERVER_TEST_BUILD_GATE"
WRITES_PENDING = 1  # rows of tiles handed to the writer thread and not yet written, at most
SPARSE_NAN = 1 / 16  # above this fraction of blank output pixels, bin2 redoes the whole array NaN-aware

Progress = Callable[[str, float], None]


class CorruptEntry(Exception):
    """A cache file is shorter than its manifest says (truncated or replaced while in use)."""


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    nchannels: int
    tile_size: int

    @cached_property
    def levels(self) -> int:
        """Number of levels; level 0 is the coarsest (fits in one tile), levels-1 the full resolution."""
        longest, levels = max(self.width, self.height), 1
        while longest > self.tile_size:
            longest, levels = -(-longest // 2), levels + 1
        return levels

    def level_size(self, z: int) -> tuple[int, int]:
        shift = self.levels - 1 - z
        return max(1, self.width >> shift), max(1, self.height >> shift)

    def grid(self, z: int) -> tuple[int, int]:
        w, h = self.level_size(z)
        return -(-w // self.tile_size), -(-h // self.tile_size)

    def level_floats(self, z: int) -> int:
        w, h = self.level_size(z)
        return self.nchannels * w * h

    def tile_box(self, z: int, i: int) -> tuple[int, int, int, int]:
        """(x0, y0, w, h) of tile i of level z, in that level's pixels, row 0 at the top."""
        if not 0 <= z < self.levels:
            raise TileNotFound(f"no resolution level {z}: the image has levels 0 to {self.levels - 1}", "JTL")
        ncols, nrows = self.grid(z)
        if not 0 <= i < ncols * nrows:
            raise TileNotFound(f"no tile {i} at level {z}: it has tiles 0 to {ncols * nrows - 1}", "JTL")
        w, h = self.level_size(z)
        row, col = divmod(i, ncols)
        x0, y0 = col * self.tile_size, row * self.tile_size
        return x0, y0, min(self.tile_size, w - x0), min(self.tile_size, h - y0)

    def offset(self, z: int, channel: int, x0: int, y0: int, h: int) -> int:
        """Offset in floats of the tile of `channel` whose top-left pixel is (x0, y0), in a tile row of height h."""
        w, level_h = self.level_size(z)
        return channel * w * level_h + y0 * w + h * x0

    def to_dict(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height, "nchannels": self.nchannels, "tile_size": self.tile_size}


def level_file(z: int) -> str:
    return f"level{z}.f32"


def bin2(a: np.ndarray, bin_rows: bool = True) -> np.ndarray:
    """2x2 mean of a (h, w) array, NaN-aware: a NaN pixel does not blank its block, only a block of NaNs is NaN.

    As in IIP and VisiOmatic, a level is floor(size / 2) of the finer one: an odd last row or column is dropped. An
    axis of length 1 is left alone, and so are the rows when bin_rows is False (a level that is 1 pixel high)."""
    h, w = a.shape
    rows = (slice(0, h - 1, 2), slice(1, h, 2)) if bin_rows else (slice(None),)
    cols = (slice(0, w - 1, 2), slice(1, w, 2)) if w > 1 else (slice(None),)
    if len(rows) == len(cols) == 1:
        return a.copy()
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as it should be
        # Rows first: adding whole rows streams through memory, then the column pairs halve what is left.
        out = a[rows[0]] + a[rows[1]] if len(rows) == 2 else a.copy()
        out = out[:, cols[0]] + out[:, cols[1]] if len(cols) == 2 else out
        out *= np.float32(1 / (len(rows) * len(cols)))
        if out.size and np.isnan(out.min()):  # min() propagates NaN: the cheapest test for any
            _fix_blank_blocks(out, [a[r, c] for r in rows for c in cols])
    return out


def _fix_blank_blocks(out: np.ndarray, parts: list[np.ndarray]) -> None:
    """Recompute the NaN outputs of bin2 as the mean of the non-NaN members of their blocks: one by one when they
    are few (a NaN mask), the whole array at once when they are many (a blank border)."""
    blank = np.isnan(out)
    count = int(np.count_nonzero(blank))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # 0/0 -> NaN: a block of NaNs
        if count > SPARSE_NAN * out.size:
            valid = [~np.isnan(p) for p in parts]
            total = sum(np.where(v, p, np.float32(0)) for p, v in zip(parts, valid))
            np.divide(total, sum(v.astype(np.float32) for v in valid), out=out)
            return
        where = np.nonzero(blank)
        members = np.stack([p[where] for p in parts])
        valid = ~np.isnan(members)
        out[where] = np.where(valid, members, np.float32(0)).sum(axis=0) / valid.sum(axis=0)


Channels = tuple[int, ...] | None  # channels to read (0-based), in order; None for all


def channels_of(g: Geometry, channels: Channels) -> Sequence[int]:
    return range(g.nchannels) if channels is None else channels


def tile_checksum(tile: np.ndarray) -> np.uint64:
    """Sum of the tile's bytes as 64-bit words, modulo 2**64: zero-filled or cut-short data changes it. (A XOR
    would not do: it cancels over constant tiles, such as a NaN border.)"""
    words = tile.reshape(-1).view(np.uint32)
    even = words.size & ~1
    total = np.add.reduce(words[:even].view(np.uint64))  # wraps around, silently, as wanted
    if even < words.size:  # an odd number of float32 values: add the last one on its own
        total = np.add.reduce(np.array([total, words[-1]], np.uint64))
    return total


def write_tile_row(fd: int, geometry: Geometry, z: int, channel: int, y0: int, rows: np.ndarray,
                   sums: np.ndarray | None = None, buffer: np.ndarray | None = None) -> None:
    """Write rows y0 <= y < y0 + h of one channel of level z, a whole row of tiles, in the tile-by-tile layout;
    with `sums`, record the checksum of each tile there (by tile index), while its bytes are at hand. `buffer`, of
    at least h x width float32, is reused for the tiles (fresh memory costs a page fault per 4 KB)."""
    h, width = rows.shape
    ts = geometry.tile_size
    full = width // ts
    tiles = np.empty(h * width, np.float32) if buffer is None or buffer.size < h * width else buffer[:h * width]
    split = h * full * ts
    if full:
        tiles[:split].reshape(full, h, ts)[...] = rows[:, : full * ts].reshape(h, full, ts).transpose(1, 0, 2)
    if width > full * ts:
        tiles[split:].reshape(h, width - full * ts)[...] = rows[:, full * ts:]
    if sums is not None:
        first = y0 // ts * geometry.grid(z)[0]
        if full:  # h x ts floats per tile, an even number: whole 64-bit words
            np.add.reduce(tiles[:split].view(np.uint64).reshape(full, -1), axis=1, out=sums[first:first + full])
        if width > full * ts:
            sums[first + full] = tile_checksum(tiles[split:])
    view = tiles.data.cast("B")
    offset = geometry.offset(z, channel, 0, y0, h) * 4
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class _Writer:
    """Writes rows of tiles of one channel in a thread of its own (pwrite and the tile layout's copy), while the
    builder bins the next rows: at most WRITES_PENDING rows queued; one tile buffer per level, reused."""

    def __init__(self, geometry: Geometry, fds: dict[int, int], channel: int, sums: dict[int, np.ndarray]) -> None:
        self.geometry, self.fds, self.channel, self.sums = geometry, fds, channel, sums
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="pyramid-write")
        self.pending: deque[Future] = deque()
        self.buffers: dict[int, np.ndarray] = {}

    def write(self, z: int, y0: int, rows: np.ndarray) -> None:
        while len(self.pending) >= WRITES_PENDING:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(self._write, z, y0, rows))

    def _write(self, z: int, y0: int, rows: np.ndarray) -> None:
        buffer = self.buffers.get(z)
        if buffer is None or buffer.size < rows.size:
            buffer = self.buffers[z] = np.empty(rows.size, np.float32)
        write_tile_row(self.fds[z], self.geometry, z, self.channel, y0, rows, self.sums[z][self.channel], buffer)

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(cancel_futures=True)


class _Level:
    """A coarse level being built: takes its rows one row of tiles at a time, top to bottom, writes each, and
    returns the binned rows for the next coarser level once a pair of tile rows (or the level's last one) is in."""

    def __init__(self, z: int, height: int, writer: _Writer) -> None:
        self.z, self.height, self.writer = z, height, writer
        self.y = 0  # rows written so far
        self.held: np.ndarray | None = None  # the first tile row of a pair

    def push(self, rows: np.ndarray) -> np.ndarray | None:
        if rows.shape[0] == 0:
            return None
        self.writer.write(self.z, self.y, rows)
        self.y += rows.shape[0]
        if self.held is None and self.y < self.height:
            self.held = rows
            return None
        held, self.held, both = self.held, None, self.height > 1
        if held is None or held.shape[0] % 2:  # alone, or an odd tile size: blocks straddle the two rows of tiles
            return bin2(rows if held is None else np.concatenate((held, rows)), both)
        # Each row of tiles binned on its own: the same blocks, without a copy of the pair (32 MB at the second
        # level of a 32768-wide image).
        return np.concatenate((bin2(held, both), bin2(rows, both)))


def build(
    source: ImageSource,
    folder: Path,
    tile_size: int,
    threads: int = 2,
    progress: Progress | None = None,
    store_top: bool = True,
) -> Built:
    """Write the pyramid of `source` into `folder` (which must exist) and return its manifest (statistics are the
    caller's: they come from the sample taken at open).

    The source is read in chunks of a few MB of rows by a pool of threads, which bin each chunk; this thread
    gathers the binned rows into rows of tiles and feeds them down the coarser levels, in order. Memory stays at a
    few chunks plus two rows of tiles per level, whatever the image size. With store_top False (a source whose
    full resolution is read from the file itself), the full resolution is not written: the entry holds the reduced
    levels only. The checksum of each channel of every tile (CHECKSUMS) is computed as it is written: a view of
    one channel of a cube reads and checks that channel alone.

    The level files are not fsync'ed: that would double the build's kernel time for no gain, since the disk cache
    publishes an entry only with a checksum of every tile, checked at every read (a tile lost in a power cut is
    found and rebuilt, never served).
    """
    geometry = Geometry(source.width, source.height, source.nchannels, tile_size)
    report = progress or (lambda stage, fraction: None)
    start = time.monotonic()
    top = geometry.levels - 1
    stored = list(range(geometry.levels if store_top else top))
    fds = {z: os.open(folder / level_file(z), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) for z in stored}
    sums = {z: np.zeros((source.nchannels, geometry.grid(z)[0] * geometry.grid(z)[1]), np.uint64) for z in stored}
    try:
        for z, fd in fds.items():
            os.ftruncate(fd, geometry.level_floats(z) * 4)
        with ThreadPoolExecutor(max(1, threads), thread_name_prefix="pyramid") as pool:
            for c in range(source.nchannels):
                writer = _Writer(geometry, fds, c, sums)
                try:
                    _build_channel(source, geometry, c, pool, threads, report, writer)
                finally:
                    writer.close()
    finally:
        for fd in fds.values():
            os.close(fd)
    with open(folder / CHECKSUMS, "wb") as f:
        # An image of one level read from its source stores no level: its checksum file is empty.
        f.write(b"".join(sums[z].tobytes() for z in stored))
        os.fsync(f.fileno())
    manifest: Built = {
        "format": FORMAT_VERSION,
        "source": source.origin,
        "geometry": geometry.to_dict(),
        "levels": geometry.levels,
        "full_resolution": "stored" if store_top else "source",
        "files": [{"z": z, "name": level_file(z), "bytes": geometry.level_floats(z) * 4} for z in stored],
        "build_seconds": round(time.monotonic() - start, 3),
    }
    report("done", 1.0)
    return manifest


class _TileRows:
    """Gathers rows arriving in chunks of any height into whole rows of tiles (the last one may be shorter)."""

    def __init__(self, width: int, height: int, tile_size: int) -> None:
        self.width, self.height, self.tile_size = width, height, tile_size
        self.y = 0  # rows received so far
        self.buffer: np.ndarray | None = None
        self.filled = 0

    def add(self, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(first row, rows) of each row of tiles completed by `rows`."""
        done = []
        while rows.shape[0]:
            if self.buffer is None:
                self.buffer = np.empty((min(self.tile_size, self.height - self.y), self.width), np.float32)
                self.filled = 0
            n = min(rows.shape[0], self.buffer.shape[0] - self.filled)
            self.buffer[self.filled:self.filled + n] = rows[:n]
            self.filled += n
            rows = rows[n:]
            if self.filled == self.buffer.shape[0]:
                done.append((self.y, self.buffer))
                self.y += self.filled
                self.buffer = None
        return done


def chunk_rows(width: int) -> int:
    """Rows read at a time: an even number (so that chunks bin on their own) of about CHUNK_BYTES of float32."""
    return max(2, CHUNK_BYTES // (4 * max(1, width)) // 2 * 2)


def _build_channel(source: ImageSource, geometry: Geometry, channel: int, pool: ThreadPoolExecutor, threads: int,
                   report: Progress, writer: _Writer) -> None:
    """Build every level of one channel."""
    ts, height, top = geometry.tile_size, geometry.height, geometry.levels - 1
    levels = [_Level(z, geometry.level_size(z)[1], writer) for z in range(top)]
    full = _TileRows(geometry.width, height, ts) if top in writer.fds else None
    binned_rows = _TileRows(geometry.level_size(top - 1)[0], geometry.level_size(top - 1)[1], ts) if top else None

    def chunk(y0: int) -> tuple[np.ndarray, np.ndarray | None]:
        rows = source.read(channel, y0, min(y0 + step, height))
        return rows, (bin2(rows, height > 1) if top else None)

    step = chunk_rows(geometry.width)
    starts = range(0, height, step)
    pending: deque[Future] = deque()
    consumed = 0
    for n, y0 in enumerate(starts):
        pending.append(pool.submit(chunk, y0))
        # A bounded number of chunks in the air keeps both cores busy without holding the image in memory.
        while pending and (len(pending) > threads or n == len(starts) - 1):
            rows, binned = pending.popleft().result()
            if full is not None:
                for y, tile_row in full.add(rows):
                    writer.write(top, y, tile_row)
            del rows
            for _, tile_row in binned_rows.add(binned) if binned_rows is not None else ():
                row: np.ndarray | None = tile_row
                for level in reversed(levels):
                    if row is None:
                        break
                    row = level.push(row)
            consumed += 1
            report("tiling", 0.98 * (channel + consumed / len(starts)) / geometry.nchannels)
            hold_if_gated()


def hold_if_gated() -> None:
    """Test hook: while the file named by TILESERVER_TEST_BUILD_GATE exists, builds wait (between two chunks), so
    that tests can observe an image before its build is final. Unset in production: one getenv per chunk."""
    gate = os.environ.get(GATE_ENV)
    while gate and os.path.exists(gate):
        time.sleep(0.02)


class Pyramid:
    """Read access to a built pyramid. Reads use pread, so a cache file truncated or removed under a running server
    gives an error we can recover from (CorruptEntry), never a crash."""

    def __init__(self, folder: Path, manifest: Built) -> None:
        self.folder = folder
        self.manifest = manifest
        self.geometry = Geometry(**manifest["geometry"])
        self.fds: dict[int, int] = {}
        try:
            for entry in manifest["files"]:
                fd = os.open(folder / entry["name"], os.O_RDONLY)
                self.fds[entry["z"]] = fd
                if os.fstat(fd).st_size != entry["bytes"]:
                    raise CorruptEntry(f"{entry['name']} has the wrong size")
        except OSError as e:
            self.close()
            raise CorruptEntry(str(e)) from None
        except CorruptEntry:
            self.close()
            raise

    @property
    def stored_levels(self) -> frozenset[int]:
        """The levels this entry holds; the others (the full resolution of a regular source) are the source's."""
        return frozenset(entry["z"] for entry in self.manifest["files"])

    def close(self) -> None:
        fds, self.fds = self.fds, {}
        for fd in fds.values():
            os.close(fd)

    def _read(self, z: int, offset: int, count: int) -> np.ndarray:
        nbytes = count * 4
        buf = os.pread(self.fds[z], nbytes, offset * 4)
        if len(buf) != nbytes:
            raise CorruptEntry(f"level {z} is truncated")
        return np.frombuffer(buf, np.float32)

    def tile(self, z: int, i: int, channels: Channels = None) -> np.ndarray:
        """Tile i of level z, the channels named (all by default), as a read-only (channels, h, w) float32 array."""
        g = self.geometry
        x0, y0, w, h = g.tile_box(z, i)
        planes = [self._read(z, g.offset(z, c, x0, y0, h), h * w) for c in channels_of(g, channels)]
        return planes[0].reshape(1, h, w) if len(planes) == 1 else np.stack(planes).reshape(len(planes), h, w)

    def region(self, z: int, x0: int, y0: int, x1: int, y1: int, channels: Channels = None) -> np.ndarray:
        """Pixels x0 <= x < x1, y0 <= y < y1 of level z (display rows, top first) as (len(channels), h, w)."""
        g = self.geometry
        w, h = g.level_size(z)
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise InvalidParameter("region outside the image", "RGN")
        ts = g.tile_size
        ncols, _ = g.grid(z)
        out = np.empty((len(channels_of(g, channels)), y1 - y0, x1 - x0), np.float32)
        for row in range(y0 // ts, (y1 - 1) // ts + 1):
            for col in range(x0 // ts, (x1 - 1) // ts + 1):
                tile = self.tile(z, row * ncols + col, channels)
                tx, ty = col * ts, row * ts
                ax, ay = max(x0, tx), max(y0, ty)
                bx, by = min(x1, tx + tile.shape[2]), min(y1, ty + tile.shape[1])
                out[:, ay - y0:by - y0, ax - x0:bx - x0] = tile[:, ay - ty:by - ty, ax - tx:bx - tx]
        return out

    def pixel(self, x: int, y: int) -> np.ndarray | None:
        """Full-precision values of all channels at display pixel (x, y), or None outside the image."""
        g = self.geometry
        if not (0 <= x < g.width and 0 <= y < g.height):
            return None
        z = g.levels - 1
        ts = g.tile_size
        tx0, ty0, tw, th = g.tile_box(z, (y // ts) * g.grid(z)[0] + x // ts)
        inside = (y - ty0) * tw + (x - tx0)
        return np.array([self._read(z, g.offset(z, c, tx0, ty0, th) + inside, 1)[0] for c in range(g.nchannels)],
                        np.float32)


def check_tile_count(g: Geometry, max_image_pixels: int) -> None:
    """Refuse an image whose pyramid would hold more tiles than a square image of max_image_pixels: a 2 x
    20,000,000 strip passes the pixel limit but makes 150,000 tiles of 2 x 256 pixels, each a file offset, a
    checksum and a request away."""
    tiles = sum(g.grid(z)[0] * g.grid(z)[1] for z in range(g.levels))
    allowed = max(16, 2 * max_image_pixels // g.tile_size**2)
    if tiles > allowed:
        raise TooLarge(f"the image ({g.width} x {g.height}) would make {tiles} tiles, over the {allowed} of an "
                       "image of the server's pixel limit; it is too thin for a tiled viewer")
