"""Room on the disk cache's filesystem: its size and free space, the default byte limit, and full-disk episodes.

A write that fails for want of room (ENOSPC, or EDQUOT over a quota) starts an episode: the first process to see
it creates the marker file `<cache_dir>/disk-full` (what did not fit, and when) and logs one error; the other
failures of the episode, in any worker, log nothing more. The episode ends when the filesystem has room again for
what did not fit (plus min_free_bytes), as the next health check, status page or build sees, or when an entry is
published; whichever process removes the marker logs it. While it lasts, /healthz reports the cache degraded.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("tileserver.cache")

DEFAULT_FRACTION = 0.5  # max_cache_bytes 0 (the default): this fraction of the cache filesystem's size
MIN_DEFAULT_BYTES = 2**20
MARKER = "disk-full"


class NoRoom(Exception):
    """A cache write failed for want of room; `needed` is the size of what was being written."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


@dataclass(frozen=True)
class Usage:
    total: int  # the filesystem's size
    free: int  # what the server's user may still write there (blocks reserved for root excluded)


def usage(path: Path) -> Usage:
    st = os.statvfs(path)
    return Usage(st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)


def default_max_bytes(path: Path) -> int:
    return max(MIN_DEFAULT_BYTES, int(usage(path).total * DEFAULT_FRACTION))


def is_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def apparent_bytes(folder: Path) -> int:
    """The sizes of the files under folder. A pyramid's level files are given their full size before they are
    written, so a build cut short by a full disk tells how much room it needed."""
    total = 0
    for parent, _folders, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                continue  # removed meanwhile
    return total


class FullDisk:
    """The full-disk episode of one cache folder, shared by every process through the marker file."""

    def __init__(self, root: Path, min_free: int) -> None:
        self.root = root
        self.marker = root / MARKER
        self.min_free = min_free
        self._local: dict[str, Any] | None = None  # when even the marker could not be written

    def started(self, needed: int, what: str) -> None:
        free = usage(self.root).free
        record = {"since": time.time(), "needed_bytes": needed, "free_bytes": free, "what": what}
        try:
            fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # an episode already logged, by this process or another
        except OSError:
            if self._local is not None:
                return
            self._local = record
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                try:
                    json.dump(record, f)
                except OSError:
                    pass  # an empty marker still marks the episode
        log.error("cache %s: the disk is full (%s free): %s needed %s; evicting to make room where that can, "
                  "images that do not fit are answered 507 until the disk has room again",
                  self.root, size(free), what, size(needed))

    def state(self) -> dict[str, Any] | None:
        """The episode in progress, or None (ending it if the disk has room again)."""
        record = self._local
        try:
            text = self.marker.read_text(encoding="utf-8")
        except FileNotFoundError:
            if record is None:
                return None
        except OSError:
            text = ""
        else:
            try:
                record = json.loads(text)
            except ValueError:
                record = {}
        record = record if isinstance(record, dict) else {}
        needed = record.get("needed_bytes", 0)
        free = usage(self.root).free
        if free >= (needed if isinstance(needed, int) else 0) + self.min_free:
            self.ended(free)
            return None
        return {**record, "free_bytes": free}

    def ended(self, free: int | None = None) -> None:
        had_local, self._local = self._local is not None, None
        try:
            os.unlink(self.marker)
        except FileNotFoundError:
            if not had_local:
                return
        except OSError:
            return
        free = usage(self.root).free if free is None else free
        log.warning("cache %s: the disk has room again (%s free): caching resumes", self.root, size(free))


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""
