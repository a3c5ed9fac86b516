"""The disk cache of pyramids, shared by every worker process of a server (and by servers sharing the folder).

The truth lives on disk: `entries/<key>/` holds a published pyramid (manifest.json, level files, tile checksums and
a `last-use` file whose mtime is the LRU recency), `tmp/` the builds in progress and the trash of removals,
`locks/<key>.lock` one lock file per key. Every lock is an flock, which the kernel releases when its holder dies,
so a process killed at any instant never leaves a lock held, and no shared state lives only in memory.

Per key: a builder holds the lock exclusively from its check for an entry until it has opened the entry it
published; an opener holds it shared while it reads the manifest and opens the files; the evictor removes an entry
only if it can take that lock at once. So an entry is never pulled from under a process opening it, and once a
process has the files open, removal (rename, then unlink) does not disturb it: on Linux an unlinked file lives on
while it is open. Builds are written into `tmp/` and published by one atomic rename: a crash leaves no half-written
entry, and the temporary folder of a dead builder is removed by the next builder of that key or at start-up.

Integrity: the sizes of the level files are checked at open, and every tile read is checked against a 64-bit sum
of its words recorded at publication, so an entry truncated, zero-filled or removed, at rest or while served, is
detected (pyramid.CorruptEntry) and rebuilt rather than served. The sum costs ~10 µs per 256² tile (a CRC32 ~65
µs) against ~300 µs to render and encode it, and catches every zero-filled or truncated tile.
"""

from __future__ import annotations

import builtins  # DiskCache.list() hides the builtin inside the class
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..errors import CacheFull
from . import manifest as manifests
from . import pyramid
from .manifest import Built, Manifest

log = logging.getLogger("tileserver.cache")

MANIFEST = "manifest.json"
LAST_USE = "last-use"
CHECKSUMS = "checksums.u64"
TOUCH_INTERVAL = 10.0  # seconds between two recency updates of the same entry by one process
EVICT_LOCK = "evict.lock"
EVICT_PASSES = 3  # an entry skipped because it was being opened is tried again this many times

T = TypeVar("T")
Build = Callable[[Path], Manifest]


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


def cache_key(path: Path, selector: str | None, tile_size: int) -> str:
    """Changes whenever the bytes of the pyramid would: a rewritten file gets a new entry. Size and mtime are not
    enough (a copy can keep both, and touch -d sets any mtime): a file replaced by a rename has a new inode, and a
    rewrite in place moves the ctime, which no one can set back. The selector is canonical (iip.split_fif)."""
    st = path.stat()
    ident = (f"{path}\0{selector or ''}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_dev}\0{st.st_ino}\0{st.st_ctime_ns}"
             f"\0{tile_size}\0{pyramid.FORMAT_VERSION}")
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def tile_checksum(tile: np.ndarray) -> np.uint64:
    """Sum of the tile's bytes as 64-bit words, modulo 2**64: zero-filled or cut-short data changes it. (A XOR
    would not do: it cancels over constant tiles, such as a NaN border.)"""
    words = tile.reshape(-1).view(np.uint32)
    even = words.size & ~1
    total = np.add.reduce(words[:even].view(np.uint64))  # wraps around, silently, as wanted
    if even < words.size:  # an odd number of float32 values: add the last one on its own
        total = np.add.reduce(np.array([total, words[-1]], np.uint64))
    return total


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
            total += g.grid(f["z"])[0] * g.grid(f["z"])[1]
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

    def tile(self, z: int, i: int) -> np.ndarray:
        data = super().tile(z, i)
        if tile_checksum(data) != self.checksums[self._first[z] + i]:
            raise pyramid.CorruptEntry(f"tile {z},{i} does not match its checksum")
        return data

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
        sums = np.array([tile_checksum(pyr.tile(z, i)) for z in (f["z"] for f in manifest["files"])
                         for i in range(g.grid(z)[0] * g.grid(z)[1])], np.uint64)
    finally:
        pyr.close()
    with open(folder / CHECKSUMS, "wb") as f:
        f.write(sums.tobytes())
        os.fsync(f.fileno())


# The pyramids are the images' pixels, full resolution included: only the server's own user may read them, whatever
# the umask it was started with (the access file would be moot otherwise).
PRIVATE_UMASK = 0o077
FOLDER_MODE, FILE_MODE = 0o700, 0o600


def make_private(root: Path) -> int:
    """Folders 0700 and files 0600 under root, the root included (entries written by older versions, a folder made
    by hand); returns how many modes it changed."""
    changed = 0
    for folder, _subfolders, files in os.walk(root):
        for path, mode in [(folder, FOLDER_MODE)] + [(os.path.join(folder, f), FILE_MODE) for f in files]:
            try:
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
                    continue
                os.chmod(path, mode)
                changed += 1
            except OSError:
                continue  # removed meanwhile (eviction by another process)
    return changed


class DiskCache:
    def __init__(self, root: Path, max_images: int, max_bytes: int) -> None:
        self.root = root
        self.entries = root / "entries"
        self.tmp = root / "tmp"
        self.locks = root / "locks"
        self.max_images = max_images
        self.max_bytes = max_bytes
        self._touched: dict[str, float] = {}
        self._broken: set[str] = set()  # build ids of entries this process found corrupt
        self.ensure_folders()

    def ensure_folders(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
        for folder in (self.entries, self.tmp, self.locks):
            folder.mkdir(exist_ok=True, mode=FOLDER_MODE)

    @contextmanager
    def _lock(self, name: str, shared: bool = False, wait: bool = True) -> Iterator[bool]:
        """flock on locks/name; yields whether it was taken (always, when waiting). The file may be unlinked
        between our open and our flock (eviction, a removed cache folder): then we lock its successor instead."""
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
        while True:
            self.ensure_folders()  # the cache folder may have been removed while serving
            path = self.locks / name
            fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            try:
                try:
                    fcntl.flock(fd, mode)
                except BlockingIOError:
                    yield False
                    return
                try:
                    current = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    current = False
                if current:
                    yield True
                    return
            finally:
                os.close(fd)  # closing releases the lock

    def get(self, key: str) -> Entry | None:
        """The published entry for key, or None (absent, unreadable manifest, or found corrupt here)."""
        entry = self._read(key)
        if entry is None or entry.build_id in self._broken:
            return None
        self.touch(key)
        return entry

    def contains(self, key: str) -> bool:
        """Whether key has a published entry (not known broken here); not a use: polling keeps nothing alive."""
        return (entry := self._read(key)) is not None and entry.build_id not in self._broken

    def _read(self, key: str) -> Entry | None:
        folder = self.entries / key
        try:
            manifest = manifests.parse(json.loads((folder / MANIFEST).read_text(encoding="utf-8")),
                                       pyramid.FORMAT_VERSION)
        except (OSError, ValueError):
            return None
        return None if manifest is None else Entry(key, folder, manifest)

    def touch(self, key: str, force: bool = False) -> None:
        """Mark key as used now (the LRU order); at most once per TOUCH_INTERVAL per process unless forced."""
        now = time.monotonic()
        if not force and now - self._touched.get(key, -TOUCH_INTERVAL) < TOUCH_INTERVAL:
            return
        if len(self._touched) > 100_000:
            self._touched.clear()
        self._touched[key] = now
        try:
            os.utime(self.entries / key / LAST_USE)
        except OSError:
            pass

    def open(self, key: str, opener: Callable[[Entry], T], wait: bool = True) -> T | None:
        """The published entry for key opened by `opener`, or None. Waits while another process builds it, unless
        not `wait`: then a build in progress answers None at once."""
        with self._lock(key + ".lock", shared=True, wait=wait) as locked:
            entry = self.get(key) if locked else None
            if entry is None:
                return None
            try:
                return opener(entry)
            except pyramid.CorruptEntry as e:
                log.warning("cache entry %s is corrupt (%s): rebuilding it", key, e)
                self._broken.add(entry.build_id)
                return None

    def open_or_build(self, key: str, build: Build, opener: Callable[[Entry], T]) -> T:
        """The entry for key opened by `opener`, built first by `build(tmp_folder) -> manifest` if needed.
        When several processes ask at once, one builds and the others wait on the lock, then open its entry."""
        with self._lock(key + ".lock"):
            entry = self.get(key)
            if entry is not None:
                try:
                    return opener(entry)
                except pyramid.CorruptEntry as e:
                    log.warning("cache entry %s is corrupt (%s): rebuilding it", key, e)
            self._unpublish(key)  # a broken leftover under that name
            self._clean_builds(key)  # we hold the key's lock: whoever left these is dead
            entry = self._build(key, build)
            result = opener(entry)  # still under the lock, so no evictor can take the entry before this
        self.evict(keep=key)
        return result

    def get_or_build(self, key: str, build: Build) -> Entry:
        return self.open_or_build(key, build, lambda entry: entry)

    def _build(self, key: str, build: Build) -> Entry:
        tmp = self.tmp / f"{key}.{os.getpid()}.build"
        start = time.monotonic()
        try:
            tmp.mkdir(parents=True, mode=FOLDER_MODE)
            manifest = build(tmp)
            if not (tmp / CHECKSUMS).exists():  # a tier entry (cluster mode) brings its published checksums
                write_checksums(tmp, manifest)
            manifest["key"], manifest["created"], manifest["build_id"] = key, time.time(), uuid.uuid4().hex
            manifest["checksums"] = {"name": CHECKSUMS, "bytes": os.path.getsize(tmp / CHECKSUMS)}
            with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
                json.dump(manifest, f)
                f.flush()
                os.fsync(f.fileno())
            (tmp / LAST_USE).touch()
            os.rename(tmp, self.entries / key)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CacheFull("the server's cache disk is full; try again later") from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("built %s (%s) in %.2f s", key, manifest.get("image", {}).get("name", "?"), time.monotonic() - start)
        return Entry(key, self.entries / key, manifest)

    def building(self, key: str) -> bool:
        """Whether some live process holds key's lock exclusively (a build in progress, or a removal)."""
        with self._lock(key + ".lock", shared=True, wait=False) as free:
            return not free

    def discard(self, entry: Entry) -> None:
        """Forget an entry found corrupt: this process will not open it again, and the next build of its key
        replaces it. Removed now if nobody holds its lock; never waits (callers may be on the event loop)."""
        self._broken.add(entry.build_id)
        with self._lock(entry.key + ".lock", wait=False) as locked:
            current = self._read(entry.key) if locked else None
            if current is not None and current.build_id == entry.build_id:
                self._unpublish(entry.key)

    def remove(self, key: str) -> None:
        """Unpublish an entry; waits for a build of that key in progress."""
        with self._lock(key + ".lock"):
            self._unpublish(key)

    def _unpublish(self, key: str) -> None:
        """Rename the entry out of entries/ (atomic), then delete it. Processes that have its files open keep
        reading them. Call with the key's lock held."""
        trash = self._to_trash(key)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def _to_trash(self, key: str) -> Path | None:
        trash = self.tmp / f"trash.{key}.{os.getpid()}.{time.monotonic_ns()}"
        try:
            os.rename(self.entries / key, trash)
        except FileNotFoundError:
            return None
        except OSError:
            # Not a folder we can move (a stray file by that name): delete it in place.
            shutil.rmtree(self.entries / key, ignore_errors=True)
            return None
        return trash

    def list(self) -> list[Entry]:
        try:
            names = os.listdir(self.entries)
        except OSError:
            return []
        return [entry for entry in map(self._read, names) if entry is not None]

    def last_use(self, entry: Entry) -> float:
        try:
            return (entry.folder / LAST_USE).stat().st_mtime
        except OSError:
            return 0.0

    def evict(self, keep: str | None = None) -> builtins.list[str]:
        """Remove the least recently used entries beyond the image-count and byte bounds. An entry whose lock is
        held (being built, opened or removed) is skipped; the next eviction reconsiders it."""
        removed: builtins.list[str] = []
        trash: builtins.list[Path] = []
        with self._lock(EVICT_LOCK):
            for attempt in range(EVICT_PASSES):
                if attempt:
                    time.sleep(0.01)  # the entries skipped were being opened: that takes a moment only
                if self._evict_pass(keep, removed, trash):
                    break
        for folder in trash:
            shutil.rmtree(folder, ignore_errors=True)
        if removed:
            log.info("evicted %d cache entr%s: %s", len(removed), "y" if len(removed) == 1 else "ies",
                     " ".join(removed))
        return removed

    def _evict_pass(self, keep: str | None, removed: builtins.list[str], trash: builtins.list[Path]) -> bool:
        """One pass of eviction, oldest first; returns whether the bounds now hold."""
        entries = sorted(self.list(), key=self.last_use)
        count, total = len(entries), sum(e.nbytes for e in entries)
        for entry in entries:
            if count <= self.max_images and total <= self.max_bytes:
                return True
            if entry.key == keep:
                continue
            with self._lock(entry.key + ".lock", wait=False) as locked:
                if not locked:
                    continue
                moved = self._to_trash(entry.key)
                _unlink(self.locks / (entry.key + ".lock"))  # waiters notice and lock its successor
            if moved is not None:
                trash.append(moved)
            removed.append(entry.key)
            count, total = count - 1, total - entry.nbytes
        return count <= self.max_images and total <= self.max_bytes or all(e.key == keep for e in entries)

    def clear(self) -> int:
        n = 0
        for entry in self.list():
            self.remove(entry.key)
            n += 1
        self.clean_tmp()
        return n

    def _clean_builds(self, key: str) -> None:
        """Remove the temporary folders of earlier builds of key. Call with the key's lock held."""
        try:
            names = os.listdir(self.tmp)
        except OSError:
            return
        for name in names:
            if name.startswith(key + "."):
                shutil.rmtree(self.tmp / name, ignore_errors=True)

    def clean_tmp(self) -> None:
        """Remove what dead processes left in tmp/: half-deleted entries, and the build folders of keys whose lock
        nobody holds (a live builder always holds its key's lock). Safe while other workers run."""
        try:
            names = os.listdir(self.tmp)
        except OSError:
            return
        keys = set()
        for name in names:
            if name.startswith("trash."):
                shutil.rmtree(self.tmp / name, ignore_errors=True)
            else:
                keys.add(name.split(".", 1)[0])
        for key in keys:
            with self._lock(key + ".lock", wait=False) as locked:
                if locked:
                    self._clean_builds(key)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
