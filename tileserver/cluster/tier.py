"""A node's disk cache as a read-through tier in front of the pyramid store.

A tier entry is an ordinary disk-cache entry (same lock, LRU and eviction) whose level files start sparse: created at
their full size with nothing written, next to the published checksums of every tile. A tile is read locally and
checked against its checksum, as always; a tile never fetched reads as zeros, fails the check (unless it really is
all zeros, which is then right), and is fetched with one ranged GET per channel, checked, written into the sparse
file and served. So a tile costs one GET the first time and nothing after; a tile torn by a crash or a full disk
fails its checksum and is fetched again, never served torn. A full disk makes the tier shrink (the least recently
used other entries go) and the tile is served anyway; the store is only ever read.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np

from ..errors import StoreUnavailable
from ..store.diskcache import CHECKSUMS, CheckedPyramid, Entry
from ..store.manifest import Manifest
from ..store.objectstore import ObjectStore
from ..store.pyramid import Channels, CorruptEntry, channels_of

log = logging.getLogger("tileserver.cluster")

TIER: Final = "tier"  # the manifest field that marks a tier entry: {"store": url, "key": published key}


def materialize(store: ObjectStore, key: str, published: Manifest, folder: Path) -> Manifest:
    """Lay out a tier entry in `folder` (a disk-cache build folder): sparse level files and the published checksums.
    Returns its manifest."""
    for f in published["files"]:
        with open(folder / f["name"], "wb") as out:
            out.truncate(f["bytes"])
    checksums = published.get("checksums", {}).get("name", CHECKSUMS)
    (folder / CHECKSUMS).write_bytes(store.read(key, checksums))
    manifest: Manifest = {**published}
    manifest.pop("created", None)
    manifest.pop("build_id", None)
    manifest[TIER] = {"store": store.url, "key": key}
    return manifest


class TieredPyramid(CheckedPyramid):
    """A pyramid opened from a tier entry: local tiles when present, else one ranged GET and kept."""

    def __init__(self, entry: Entry, store: ObjectStore, on_full: Callable[[str], None],
                 on_fetch: Callable[[], None]) -> None:
        super().__init__(entry)
        self.store = store
        self.published_key = entry.manifest[TIER]["key"]
        self.on_full = on_full
        self.on_fetch = on_fetch
        self._writers: dict[int, int] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        writers, self._writers = getattr(self, "_writers", {}), {}
        for fd in writers.values():
            os.close(fd)
        super().close()

    def tile(self, z: int, i: int, channels: Channels = None) -> np.ndarray:
        try:
            return super().tile(z, i, channels)
        except CorruptEntry:
            return self._fetch(z, i, channels)

    def _fetch(self, z: int, i: int, channels: Channels) -> np.ndarray:
        g = self.geometry
        x0, y0, w, h = g.tile_box(z, i)
        name = self.manifest["files"][z]["name"]
        parts = []
        for c in channels_of(g, channels):
            offset = g.offset(z, c, x0, y0, h) * 4
            parts.append((offset, self.store.read_range(self.published_key, name, offset, h * w * 4)))
        if any(len(buf) != h * w * 4 for _, buf in parts):
            raise StoreUnavailable("the pyramid store returned a short tile; try again later")
        data = np.stack([np.frombuffer(buf, np.float32).reshape(h, w) for _, buf in parts])
        if not self.intact(z, i, channels, data):
            raise StoreUnavailable("the pyramid store returned a damaged tile; try again later")
        self.on_fetch()
        self._keep(z, parts)
        return data

    def _keep(self, z: int, parts: list[tuple[int, bytes]]) -> None:
        """Write a fetched tile into the local tier; a failure only costs a GET next time."""
        try:
            with self._lock:
                fd = self._writers.get(z)
                if fd is None:
                    fd = self._writers[z] = os.open(self.entry.folder / self.manifest["files"][z]["name"], os.O_WRONLY)
            for offset, buf in parts:
                if os.pwrite(fd, buf, offset) != len(buf):
                    raise OSError(errno.ENOSPC, "short write")
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                log.warning("local tier full while keeping a tile of %s: shrinking it", self.entry.key)
                self.on_full(self.entry.key)
            else:
                log.warning("cannot keep a tile of %s in the local tier (%s)", self.entry.key, e.strerror)
