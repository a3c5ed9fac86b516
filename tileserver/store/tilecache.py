"""The per-process memory cache of encoded tiles, bounded by count and by bytes.

Keyed by TileKey, the frozen record of everything that changes a tile's bytes: the image's cache key (which
changes with the file), the tile and the display settings; HiPS and IIIF answers have frozen keys of their own.
Settings that change every tile (defaults, quality) are fixed for the life of the process, so they need not be
part of the key.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass

from cachetools import LRUCache

from ..iip import Render

ENTRY_OVERHEAD = 300  # bytes of key, ETag and bookkeeping counted with each tile


@dataclass(frozen=True)
class TileKey:
    image: str  # the image's cache key
    tile: tuple[int, int]  # z, i
    render: Render


@dataclass(frozen=True)
class CachedTile:
    etag: bytes
    data: bytes


def _size(tile: CachedTile) -> int:
    return len(tile.data) + ENTRY_OVERHEAD


class TileCache:
    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._cache: LRUCache[Hashable, CachedTile] = LRUCache(maxsize=max(1, max_bytes), getsizeof=_size)
        # Rendering threads may store while the event loop reads: cachetools is not thread-safe.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedTile | None:
        with self._lock:
            tile = self._cache.get(key)
        if tile is None:
            self.misses += 1
        else:
            self.hits += 1
        return tile

    def put(self, key: Hashable, tile: CachedTile) -> None:
        if self.max_count == 0 or _size(tile) > self.max_bytes:
            return
        with self._lock:
            self._cache[key] = tile
            while len(self._cache) > self.max_count:
                self._cache.popitem()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    @property
    def count(self) -> int:
        return len(self._cache)

    @property
    def nbytes(self) -> int:
        return int(self._cache.currsize)
