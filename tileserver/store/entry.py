"""A published entry of the disk cache: its manifest, and its tiles read back checked against their checksums.

Integrity: the sizes of the level files are checked at open, and every tile read is checked against a 64-bit sum
of its words recorded at publication, so an entry truncated, zero-filled or removed, at rest or while served, is
detected (pyramid.CorruptEntry) and rebuilt rather than served. The sum costs ~10 µs per 256² tile (a CRC32 ~65
µs) against ~300 µs to render and encode it, and catches every zero-filled or truncated tile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import pyramid
from .manifest import Built, Manifest

MANIFEST = "manifest.json"
LAST_USE = "last-use"
CHECKSUMS = pyramid.CHECKSUMS
tile_checksum = pyramid.tile_checksum

@dataclass(frozen=True)
class Entry:
    key: str
    folder: Path
    manifest: Manifest

    @property
    def nbytes(self) -> int:
        return sum(f["bytes"] for f in self.manifest["files"]) + self.manifest.get("checksums", {}).get("bytes", 0)

    @property
    def build_id(self) -> str:
        return self.manifest.get("build_id", "")


class CheckedPyramid(pyramid.Pyramid):
    """A pyramid opened from a cache entry: checks every tile it reads, and knows whether it is still published."""

    def __init__(self, entry: Entry) -> None:
        super().__init__(entry.folder, entry.manifest)
        self.entry = entry
        g = self.geometry
        self._first: dict[int, int] = {}
        total = 0
        for f in entry.manifest["files"]:  # checksums of the stored levels, in the order of the files
            self._first[f["z"]] = total
            total += g.nchannels * g.grid(f["z"])[0] * g.grid(f["z"])[1]
        try:
            self.checksums = np.fromfile(entry.folder / CHECKSUMS, np.uint64)
            self._manifest_inode = os.stat(entry.folder / MANIFEST).st_ino
        except OSError as e:
            self.close()
            raise pyramid.CorruptEntry(f"unreadable checksums ({e.strerror})") from None
        if self.checksums.size != total:
            self.close()
            raise pyramid.CorruptEntry("checksums of the wrong size")

    def __del__(self) -> None:
        # Files close when the last request using this pyramid lets go of it, never under a reading thread.
        if getattr(self, "fds", None):
            self.close()

    def tile(self, z: int, i: int, channels: pyramid.Channels = None) -> np.ndarray:
        data = super().tile(z, i, channels)
        if not self.intact(z, i, channels, data):
            raise pyramid.CorruptEntry(f"tile {z},{i} does not match its checksum")
        return data

    def intact(self, z: int, i: int, channels: pyramid.Channels, data: np.ndarray) -> bool:
        """Whether data, those channels of tile i of level z, match their checksums."""
        g = self.geometry
        ntiles = g.grid(z)[0] * g.grid(z)[1]
        return all(tile_checksum(plane) == self.checksums[self._first[z] + c * ntiles + i]
                   for c, plane in zip(pyramid.channels_of(g, channels), data, strict=True))

    def pixel(self, x: int, y: int) -> np.ndarray | None:
        g = self.geometry
        if not (0 <= x < g.width and 0 <= y < g.height):
            return None
        z, ts = g.levels - 1, g.tile_size
        i = (y // ts) * g.grid(z)[0] + x // ts
        x0, y0, _, _ = g.tile_box(z, i)
        return self.tile(z, i)[:, y - y0, x - x0].copy()

    def published(self) -> bool:
        """False once the entry was evicted, removed or replaced: keep serving from it, but reopen soon."""
        try:
            return os.stat(self.entry.folder / MANIFEST).st_ino == self._manifest_inode
        except OSError:
            return False


def write_checksums(folder: Path, manifest: Built) -> None:
    """Record the checksum of every tile of a freshly built pyramid (read back from the page cache)."""
    pyr = pyramid.Pyramid(folder, manifest)
    try:
        g = pyr.geometry
        sums = np.array([tile_checksum(pyr.tile(z, i, (c,))) for z in (f["z"] for f in manifest["files"])
                         for c in range(g.nchannels) for i in range(g.grid(z)[0] * g.grid(z)[1])], np.uint64)
    finally:
        pyr.close()
    with open(folder / CHECKSUMS, "wb") as f:
        f.write(sums.tobytes())
        os.fsync(f.fileno())
