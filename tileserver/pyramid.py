"""Multi-resolution float32 pyramids: geometry, the streaming builder and the tile reader.

Layout of one level file: the level's rows of tiles, top to bottom; inside a row of tiles of height h, the tiles left
to right, each one (nchannels, h, w) float32, contiguous. So one tile is one read, nothing is padded, and the offset of
any tile follows from the geometry alone. The full-resolution level keeps every pixel at float32 precision and
serves values, profiles and cutouts too: there is no second copy of the image.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from . import stats
from .errors import InvalidParameter, TileNotFound
from .images import ImageSource

FORMAT_VERSION = 1
SAMPLE_TARGET = 1_000_000  # pixels per channel kept for the statistics

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

    def offset(self, z: int, x0: int, y0: int, h: int) -> int:
        """Offset in floats of the tile whose top-left pixel is (x0, y0) in a tile row of height h."""
        w, _ = self.level_size(z)
        return self.nchannels * (y0 * w + h * x0)

    def to_dict(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height, "nchannels": self.nchannels, "tile_size": self.tile_size}


def level_file(z: int) -> str:
    return f"level{z}.f32"


def bin2(a: np.ndarray, bin_rows: bool = True) -> np.ndarray:
    """2x2 mean of a (nchannels, h, w) array, NaN-aware: a NaN pixel does not blank its block. As in IIP and
    VisiOmatic, a level is floor(size / 2) of the finer one: an odd last row or column is dropped, and an axis
    whose whole level is 1 pixel long is left alone (bin_rows=False for rows: `a` may be a strip of a level)."""
    c, h, w = a.shape
    h = h - h % 2 if bin_rows else h
    w = w - w % 2 if w > 1 else w
    a = a[:, :h, :w]
    if h == 0:
        return np.empty((c, 0, w // 2 if w > 1 else w), np.float32)
    if bin_rows and w > 1:
        q = (a[:, 0::2, 0::2], a[:, 0::2, 1::2], a[:, 1::2, 0::2], a[:, 1::2, 1::2])
    elif bin_rows:
        q = (a[:, 0::2], a[:, 1::2])
    elif w > 1:
        q = (a[:, :, 0::2], a[:, :, 1::2])
    else:
        return a.copy()
    nan = [np.isnan(x) for x in q]
    if not any(m.any() for m in nan):
        out = q[0] + q[1]
        for x in q[2:]:
            out += x
        out *= np.float32(1 / len(q))
        return out
    total = np.zeros(q[0].shape, np.float32)
    count = np.zeros(q[0].shape, np.float32)
    for x, m in zip(q, nan):
        total += np.where(m, np.float32(0), x)
        count += ~m
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count  # 0/0 -> NaN where the whole block was blank


def _tiles_in_row(strip: np.ndarray, tile_size: int) -> np.ndarray:
    """A (c, h, W) strip rearranged as its row of tiles, each (c, h, w) contiguous, flattened."""
    c, h, width = strip.shape
    full = width // tile_size
    out = np.empty(c * h * width, np.float32)
    n_full = c * h * full * tile_size
    if full:
        dest = out[:n_full].reshape(full, c, h, tile_size)
        dest[...] = strip[:, :, : full * tile_size].reshape(c, h, full, tile_size).transpose(2, 0, 1, 3)
    if width > full * tile_size:
        out[n_full:].reshape(c, h, width - full * tile_size)[...] = strip[:, :, full * tile_size:]
    return out


class _LevelWriter:
    """Accumulates rows of one level until a full row of tiles can be written, then passes them on binned."""

    def __init__(self, geometry: Geometry, z: int, fd: int) -> None:
        self.geometry, self.z, self.fd = geometry, z, fd
        self.width, self.height = geometry.level_size(z)
        self.pending: list[np.ndarray] = []
        self.pending_rows = 0
        self.y = 0  # rows written so far

    def push(self, rows: np.ndarray) -> list[np.ndarray]:
        """Add rows; return the binned rows (for the next coarser level) of every tile row completed."""
        self.pending.append(rows)
        self.pending_rows += rows.shape[1]
        out = []
        ts = self.geometry.tile_size
        while self.pending_rows >= ts or (self.pending_rows and self.y + self.pending_rows >= self.height):
            block = np.concatenate(self.pending, axis=1) if len(self.pending) > 1 else self.pending[0]
            n = min(ts, block.shape[1])
            strip, rest = block[:, :n], block[:, n:]
            write_strip(self.fd, self.geometry, self.z, self.y, strip)
            self.y += n
            self.pending = [rest] if rest.shape[1] else []
            self.pending_rows = rest.shape[1]
            out.append(bin2(strip, self.height > 1))
        return out


def write_strip(fd: int, geometry: Geometry, z: int, y0: int, strip: np.ndarray) -> None:
    data = _tiles_in_row(np.ascontiguousarray(strip, np.float32), geometry.tile_size)
    offset = geometry.offset(z, 0, y0, strip.shape[1]) * 4
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def build(
    source: ImageSource,
    folder: Path,
    tile_size: int,
    threads: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the pyramid of `source` into `folder` (which must exist) and return its manifest.

    The image is read strip by strip (one row of tiles at a time) by a small thread pool; the full-resolution strips
    are written as they come, and each coarser level is fed the binned rows of the finer one. Memory stays at a few
    strips per level whatever the image size.
    """
    geometry = Geometry(source.width, source.height, source.nchannels, tile_size)
    levels = geometry.levels
    report = progress or (lambda stage, fraction: None)
    start = time.monotonic()
    fds = [os.open(folder / level_file(z), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for z in range(levels)]
    try:
        for z, fd in enumerate(fds):
            os.ftruncate(fd, geometry.level_floats(z) * 4)
        step = max(1, math.ceil(math.sqrt(source.pixels / SAMPLE_TARGET)))
        samples = _stream(source, geometry, fds, step, threads, report)
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)
    report("statistics", 0.99)
    channel_stats = [stats.channel_stats(samples[c]) for c in range(source.nchannels)]
    manifest = {
        "format": FORMAT_VERSION,
        "geometry": geometry.to_dict(),
        "levels": levels,
        "files": [{"z": z, "name": level_file(z), "bytes": geometry.level_floats(z) * 4} for z in range(levels)],
        "stats": channel_stats,
        "build_seconds": round(time.monotonic() - start, 3),
    }
    report("done", 1.0)
    return manifest


def _stream(source: ImageSource, geometry: Geometry, fds: list[int], step: int, threads: int,
            report: Progress) -> np.ndarray:
    ts, height, top = geometry.tile_size, geometry.height, geometry.levels - 1
    writers = {z: _LevelWriter(geometry, z, fds[z]) for z in range(top)}
    samples: list[np.ndarray] = []

    def full_resolution_strip(y0: int) -> tuple[np.ndarray, np.ndarray]:
        strip = source.read(y0, min(y0 + ts, height))
        write_strip(fds[top], geometry, top, y0, strip)
        first = (-y0) % step
        sample = strip[:, first::step, ::step].reshape(strip.shape[0], -1).copy()
        return bin2(strip, height > 1) if top else strip[:, :0], sample

    starts = list(range(0, height, ts))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        in_flight = []
        for n, y0 in enumerate(starts):
            in_flight.append(pool.submit(full_resolution_strip, y0))
            # Keep a bounded number of strips in the air so that memory does not grow with the image.
            if len(in_flight) > threads or n == len(starts) - 1:
                while in_flight and (len(in_flight) > threads or n == len(starts) - 1):
                    binned, sample = in_flight.pop(0).result()
                    samples.append(sample)
                    _cascade(writers, top - 1, [binned])
                    report("tiling", 0.98 * (len(samples) / len(starts)))
    return np.concatenate(samples, axis=1) if samples else np.empty((geometry.nchannels, 0), np.float32)


def _cascade(writers: dict[int, _LevelWriter], z: int, chunks: list[np.ndarray]) -> None:
    while z >= 0 and chunks:
        next_chunks: list[np.ndarray] = []
        for chunk in chunks:
            next_chunks.extend(writers[z].push(chunk))
        chunks, z = next_chunks, z - 1


class Pyramid:
    """Read access to a built pyramid. Reads use pread, so a cache file truncated or removed under a running server
    gives an error we can recover from (CorruptEntry), never a crash."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest
        self.geometry = Geometry(**manifest["geometry"])
        self.fds: list[int] = []
        try:
            for entry in manifest["files"]:
                fd = os.open(folder / entry["name"], os.O_RDONLY)
                self.fds.append(fd)
                if os.fstat(fd).st_size != entry["bytes"]:
                    raise CorruptEntry(f"{entry['name']} has the wrong size")
        except OSError as e:
            self.close()
            raise CorruptEntry(str(e)) from None
        except CorruptEntry:
            self.close()
            raise

    def close(self) -> None:
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)

    def _read(self, z: int, offset: int, count: int) -> np.ndarray:
        nbytes = count * 4
        buf = os.pread(self.fds[z], nbytes, offset * 4)
        if len(buf) != nbytes:
            raise CorruptEntry(f"level {z} is truncated")
        return np.frombuffer(buf, np.float32)

    def tile(self, z: int, i: int) -> np.ndarray:
        """Tile i of level z as a read-only (nchannels, h, w) float32 array."""
        x0, y0, w, h = self.geometry.tile_box(z, i)
        c = self.geometry.nchannels
        return self._read(z, self.geometry.offset(z, x0, y0, h), c * h * w).reshape(c, h, w)

    def region(self, z: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """Pixels x0 <= x < x1, y0 <= y < y1 of level z (display rows, top first) as (nchannels, h, w)."""
        g = self.geometry
        w, h = g.level_size(z)
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise InvalidParameter("region outside the image", "RGN")
        ts = g.tile_size
        ncols, _ = g.grid(z)
        out = np.empty((g.nchannels, y1 - y0, x1 - x0), np.float32)
        for row in range(y0 // ts, (y1 - 1) // ts + 1):
            for col in range(x0 // ts, (x1 - 1) // ts + 1):
                tile = self.tile(z, row * ncols + col)
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
        row, col = y // ts, x // ts
        tx0, ty0, tw, th = g.tile_box(z, row * g.grid(z)[0] + col)
        base = g.offset(z, tx0, ty0, th)
        # Inside a tile the layout is (c, th, tw): read each channel's single value.
        return np.array([
            self._read(z, base + c * th * tw + (y - ty0) * tw + (x - tx0), 1)[0] for c in range(g.nchannels)
        ], np.float32)
