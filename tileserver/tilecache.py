"""The per-process memory cache of encoded tiles, bounded by count and by bytes."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from cachetools import LRUCache


class TileCache:
    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.max_count = max_count
        self._cache: LRUCache[Hashable, bytes] = LRUCache(maxsize=max_bytes, getsizeof=len)
        # Rendering threads store while the event loop reads: cachetools is not thread-safe.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            data = self._cache.get(key)
        if data is None:
            self.misses += 1
        else:
            self.hits += 1
        return data

    def put(self, key: Hashable, data: bytes) -> None:
        if self.max_count == 0 or len(data) > self._cache.maxsize:
            return
        with self._lock:
            self._cache[key] = data
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
