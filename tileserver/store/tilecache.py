"""The per-process memory cache of encoded tiles, bounded by count and by bytes.

Keyed by TileKey, the frozen record of everything that changes a tile's bytes: the image's cache key (which
changes with the file), the tile and the display settings; HiPS and IIIF answers have frozen keys of their own.
Settings that change every tile (defaults, quality) are fixed for the life of the process, so they need not be
part of the key.

The byte bound counts what an entry really holds: the answer's bytes, its ETag and its key, measured (a key holds
the display settings, which a long query string makes tens of kB of Python objects). An answer bigger than the
per-entry cap (a HiPS Allsky in FITS, a large IIIF region) is served but not kept: a few of them would crowd out
thousands of tiles.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Hashable
from dataclasses import dataclass, fields, is_dataclass

from cachetools import LRUCache

from ..iip import Render

ENTRY_OVERHEAD = 400  # bytes of bookkeeping counted with each entry (the LRU's dicts and links, the value tuple)


@dataclass(frozen=True)
class TileKey:
    image: str  # the image's cache key
    tile: tuple[int, int]  # z, i
    render: Render


@dataclass(frozen=True)
class CachedTile:
    etag: bytes
    data: bytes


_ATOMS = frozenset({type(None), bool, int, float, str, bytes})
_CONTAINERS = (tuple, list, frozenset, set)
_FIELDS: dict[type, tuple[str, ...]] = {}  # the field names of each dataclass met (a handful of key classes)


def deep_size(obj: object) -> int:
    """Bytes held by a key: its object and, through dataclass fields, tuples and frozensets, all it refers to."""
    size = sys.getsizeof
    total = 0
    todo = [obj]
    while todo:
        item = todo.pop()
        total += -(-size(item) // 16) * 16  # as allocated: in multiples of 16 bytes
        kind = type(item)
        if kind in _ATOMS:
            continue
        names = _FIELDS.get(kind)
        if names is None:
            names = _FIELDS[kind] = _field_names(item)
        parts = [getattr(item, name) for name in names] if names else item if isinstance(item, _CONTAINERS) else ()
        for part in parts:  # atoms counted here, the rest walked
            if type(part) in _ATOMS:
                total += -(-size(part) // 16) * 16
            else:
                todo.append(part)
    return total


def _field_names(obj: object) -> tuple[str, ...]:
    if is_dataclass(obj) and not isinstance(obj, type):
        return tuple(f.name for f in fields(obj))
    return ()


def entry_size(key_bytes: int, tile: CachedTile) -> int:
    return key_bytes + deep_size(tile) + ENTRY_OVERHEAD  # the tile: its answer and ETag included


class TileCache:
    def __init__(self, max_count: int, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes if max_entry_bytes is None else max_entry_bytes
        # Values are (tile, its entry's size), the size measured once, when stored.
        self._cache: LRUCache[Hashable, tuple[CachedTile, int]] = LRUCache(maxsize=max(1, max_bytes),
                                                                           getsizeof=lambda value: value[1])
        # Rendering threads may store while the event loop reads: cachetools is not thread-safe.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedTile | None:
        with self._lock:
            value = self._cache.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return value[0]

    def put(self, key: Hashable, tile: CachedTile, key_bytes: int | None = None) -> None:
        """Keep tile under key; key_bytes is deep_size(key), when the caller has it already."""
        if self.max_count == 0 or len(tile.data) > self.max_entry_bytes:
            return
        size = entry_size(deep_size(key) if key_bytes is None else key_bytes, tile)
        if size > self.max_bytes:
            return
        with self._lock:
            self._cache[key] = (tile, size)
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
