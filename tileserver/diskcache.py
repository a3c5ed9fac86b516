"""The disk cache of pyramids, shared by every worker process of a server (and by servers sharing the folder).

The truth lives on disk: `entries/<key>/` holds a published pyramid (manifest.json + level files), `tmp/` the
builds in progress, `locks/` the lock files. Build-once and eviction use flock locks, which the kernel releases
when a process dies, so a worker killed at any instant never leaves a lock held. A build is written into a
temporary folder and published with one atomic rename: a crash leaves no half-written entry.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import pyramid
from .errors import CacheFull

MANIFEST = "manifest.json"
LAST_USE = "last-use"
TOUCH_INTERVAL = 10.0  # seconds between two recency updates of the same entry by one process


@dataclass(frozen=True)
class Entry:
    key: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def nbytes(self) -> int:
        return sum(f["bytes"] for f in self.manifest["files"])


def cache_key(path: Path, selector: str | None, tile_size: int) -> str:
    """Changes whenever the bytes of the pyramid would: a rewritten file (size, mtime) gets a new entry."""
    st = path.stat()
    ident = f"{path}\0{selector or ''}\0{st.st_size}\0{st.st_mtime_ns}\0{tile_size}\0{pyramid.FORMAT_VERSION}"
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:24]


class DiskCache:
    def __init__(self, root: Path, max_images: int, max_bytes: int) -> None:
        self.root = root
        self.entries = root / "entries"
        self.tmp = root / "tmp"
        self.locks = root / "locks"
        self.max_images = max_images
        self.max_bytes = max_bytes
        self._touched: dict[str, float] = {}
        self.ensure_folders()

    def ensure_folders(self) -> None:
        for folder in (self.entries, self.tmp, self.locks):
            folder.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _lock(self, name: str, exclusive: bool = True) -> Iterator[None]:
        self.ensure_folders()  # the cache folder may have been removed while serving
        fd = os.open(self.locks / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def get(self, key: str) -> Entry | None:
        """The published entry for key, or None (absent or unreadable manifest)."""
        folder = self.entries / key
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if manifest.get("format") != pyramid.FORMAT_VERSION:
            return None
        self.touch(key)
        return Entry(key, folder, manifest)

    def touch(self, key: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._touched.get(key, -TOUCH_INTERVAL) < TOUCH_INTERVAL:
            return
        self._touched[key] = now
        try:
            os.utime(self.entries / key / LAST_USE)
        except OSError:
            pass

    def get_or_build(self, key: str, build: Callable[[Path], dict[str, Any]]) -> Entry:
        """The entry for key, built by `build(tmp_folder) -> manifest` if needed. When several processes ask at
        once, one builds and the others wait on the lock, then find the published entry."""
        entry = self.get(key)
        if entry:
            return entry
        with self._lock(key + ".lock"):
            entry = self.get(key)
            if entry:
                return entry
            self.remove(key)  # a broken leftover under that name
            tmp = self.tmp / f"{key}.{os.getpid()}.{time.monotonic_ns()}"
            tmp.mkdir(parents=True)
            try:
                manifest = build(tmp)
                manifest["key"] = key
                manifest["created"] = time.time()
                (tmp / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
                (tmp / LAST_USE).touch()
                os.rename(tmp, self.entries / key)
            except OSError as e:
                shutil.rmtree(tmp, ignore_errors=True)
                if e.errno in (28, 122):  # ENOSPC, EDQUOT
                    raise CacheFull("the server's cache disk is full; try again later") from None
                raise
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        self.evict(keep=key)
        entry = self.get(key)
        if entry is None:
            raise CacheFull("the cache entry vanished right after its build")
        return entry

    def remove(self, key: str) -> None:
        """Unpublish an entry. Renaming first makes removal atomic; processes that still have its files open keep
        reading them (on Linux an unlinked file lives while it is open)."""
        folder = self.entries / key
        if not folder.exists():
            return
        trash = self.tmp / f"trash.{key}.{os.getpid()}.{time.monotonic_ns()}"
        try:
            os.rename(folder, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def list(self) -> list[Entry]:
        out = []
        try:
            names = os.listdir(self.entries)
        except OSError:
            return out
        for name in names:
            try:
                manifest = json.loads((self.entries / name / MANIFEST).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            out.append(Entry(name, self.entries / name, manifest))
        return out

    def last_use(self, entry: Entry) -> float:
        try:
            return (entry.folder / LAST_USE).stat().st_mtime
        except OSError:
            return 0.0

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove the least recently used entries beyond the image-count and byte bounds."""
        removed = []
        with self._lock("evict.lock"):
            entries = sorted(self.list(), key=self.last_use)
            count, total = len(entries), sum(e.nbytes for e in entries)
            for entry in entries:
                if count <= self.max_images and total <= self.max_bytes:
                    break
                if entry.key == keep:
                    continue
                self.remove(entry.key)
                removed.append(entry.key)
                count, total = count - 1, total - entry.nbytes
        return removed

    def clear(self) -> int:
        n = 0
        for entry in self.list():
            self.remove(entry.key)
            n += 1
        self.clean_tmp(max_age=0)
        return n

    def clean_tmp(self, max_age: float = 3600.0) -> None:
        """Remove temporary folders of builders that are gone (dead pid) or older than max_age seconds."""
        try:
            names = os.listdir(self.tmp)
        except OSError:
            return
        now = time.time()
        for name in names:
            path = self.tmp / name
            parts = name.split(".")
            pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
            try:
                old = now - path.stat().st_mtime > max_age
            except OSError:
                continue
            if old or (pid is not None and not _alive(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
