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

Integrity: entry.py (every tile read is checked). Room: space.py (a full disk, the free-space floor, the default
byte limit). Entries another version of the server wrote (another FORMAT_VERSION) or whose manifest cannot be read
are stale: listed, counted against the byte limit and evicted first.
"""

from __future__ import annotations

import builtins  # DiskCache.list() hides the builtin inside the class
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
from typing import TYPE_CHECKING, TypeVar

from ..errors import CacheFull
from . import manifest as manifests
from . import pyramid, space
from .entry import CHECKSUMS as CHECKSUMS
from .entry import LAST_USE as LAST_USE
from .entry import MANIFEST as MANIFEST
from .entry import CheckedPyramid as CheckedPyramid
from .entry import Entry as Entry
from .entry import tile_checksum as tile_checksum
from .entry import write_checksums as write_checksums
from .manifest import Manifest

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("tileserver.cache")

TOUCH_INTERVAL = 10.0  # seconds between two recency updates of the same entry by one process
EVICT_LOCK = "evict.lock"
EVICT_PASSES = 3  # an entry skipped because it was being opened is tried again this many times

T = TypeVar("T")
Build = Callable[[Path], Manifest]


def cache_key(path: Path, selector: str | None, tile_size: int) -> str:
    """Changes whenever the bytes of the pyramid would: a rewritten file gets a new entry. Size and mtime are not
    enough (a copy can keep both, and touch -d sets any mtime): a file replaced by a rename has a new inode, and a
    rewrite in place moves the ctime, which no one can set back. The selector is canonical (iip.split_fif)."""
    st = path.stat()
    ident = (f"{path}\0{selector or ''}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_dev}\0{st.st_ino}\0{st.st_ctime_ns}"
             f"\0{tile_size}\0{pyramid.FORMAT_VERSION}")
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def for_settings(settings: Settings) -> DiskCache:
    return DiskCache(Path(settings.cache_dir), settings.max_cache_image_count, settings.max_cache_bytes,
                     settings.min_free_bytes)


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


@dataclass(frozen=True)
class Stale:
    """An entry this version cannot use: written in another cache format, or whose manifest cannot be read."""

    key: str
    folder: Path
    nbytes: int
    reason: str


class DiskCache:
    def __init__(self, root: Path, max_images: int, max_bytes: int, min_free: int = 0) -> None:
        """max_bytes 0: a fraction of the size of the cache's filesystem (space.DEFAULT_FRACTION). min_free: bytes
        eviction keeps free on that filesystem."""
        self.root = root
        self.entries = root / "entries"
        self.tmp = root / "tmp"
        self.locks = root / "locks"
        self._touched: dict[str, float] = {}
        self._broken: set[str] = set()  # build ids of entries this process found corrupt
        self.ensure_folders()
        self.max_images = max_images
        self.max_bytes = max_bytes or space.default_max_bytes(root)
        self.min_free = min_free
        self.full = space.FullDisk(root, min_free)
        self.on_evict: Callable[[builtins.list[str]], None] | None = None  # told what make_room evicted

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
        entry = self._scan(key)
        return entry if isinstance(entry, Entry) else None

    def _scan(self, key: str) -> Entry | str | None:
        """The entry under key; or why it is stale; or None when there is none (removed meanwhile)."""
        folder = self.entries / key
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "no manifest" if os.path.lexists(folder) else None
        except (OSError, ValueError):
            return "unreadable manifest"
        if not isinstance(data, dict) or not isinstance(data.get("files"), builtins.list):
            return "unreadable manifest"
        manifest = manifests.parse(data, pyramid.FORMAT_VERSION)
        if manifest is None:
            return f"cache format {data.get('format')!r}, not {pyramid.FORMAT_VERSION}"
        return Entry(key, folder, manifest)

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
            entry = self._build_with_room(key, build)
            result = opener(entry)  # still under the lock, so no evictor can take the entry before this
        self.evict(keep=key)
        return result

    def _build_with_room(self, key: str, build: Build) -> Entry:
        """Build key's entry; on a full disk, log the episode, evict to make room if that can, and try once more."""
        for attempt in range(2):
            try:
                entry = self._build(key, build)
            except space.NoRoom as e:
                self.full.started(e.needed, f"a new entry ({key})")
                if attempt or not self.make_room(e.needed, keep=key):
                    raise CacheFull("the server's cache disk is full; try again later") from None
                continue
            self.full.ended()
            return entry
        raise AssertionError("unreachable")

    def make_room(self, needed: int, keep: str | None = None) -> bool:
        """Evict, least recently used first, until `needed` bytes more than min_free are free on the filesystem;
        evicts nothing, and answers False, when even every other entry would not make that room."""
        free = space.usage(self.root).free
        others = [e.nbytes for e in self.list() if e.key != keep] + [s.nbytes for s in self.stale()]
        if free + sum(others) < needed + self.min_free:
            return False
        removed = self.evict(keep=keep, need_free=needed + self.min_free)
        if self.on_evict is not None:
            self.on_evict(removed)  # this process lets go of their files, so that their room is free indeed
        return True

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
            needed = space.apparent_bytes(tmp) if space.is_full(e) else 0
            shutil.rmtree(tmp, ignore_errors=True)
            if space.is_full(e):
                raise space.NoRoom(needed) from None
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
        return [entry for entry in map(self._read, self._names()) if entry is not None]

    def stale(self) -> builtins.list[Stale]:
        """Entries of another cache format or with an unreadable manifest."""
        found = []
        for name in self._names():
            reason = self._scan(name)
            if isinstance(reason, str):
                folder = self.entries / name
                found.append(Stale(name, folder, space.apparent_bytes(folder), reason))
        return found

    def _names(self) -> builtins.list[str]:
        try:
            return os.listdir(self.entries)
        except OSError:
            return []

    def last_use(self, entry: Entry) -> float:
        try:
            return (entry.folder / LAST_USE).stat().st_mtime
        except OSError:
            return 0.0

    def evict(self, keep: str | None = None, need_free: int | None = None) -> builtins.list[str]:
        """Remove entries beyond the image-count and byte bounds, and while less than `need_free` bytes (default
        min_free) are free on the filesystem: stale entries first, then the least recently used. An entry whose
        lock is held (being built, opened or removed) is skipped; the next eviction reconsiders it."""
        removed: builtins.list[str] = []
        trash: builtins.list[Path] = []
        need_free = self.min_free if need_free is None else need_free
        with self._lock(EVICT_LOCK):
            for attempt in range(EVICT_PASSES):
                if attempt:
                    time.sleep(0.01)  # the entries skipped were being opened: that takes a moment only
                if self._evict_pass(keep, need_free, removed, trash):
                    break
        for folder in trash:
            shutil.rmtree(folder, ignore_errors=True)
        if removed:
            log.info("evicted %d cache entr%s: %s", len(removed), "y" if len(removed) == 1 else "ies",
                     " ".join(removed))
        return removed

    def _evict_pass(self, keep: str | None, need_free: int, removed: builtins.list[str],
                    trash: builtins.list[Path]) -> bool:
        """One pass of eviction, stale entries then the oldest; returns whether the bounds now hold."""
        entries = sorted(self.list(), key=self.last_use)
        stale = self.stale()
        count, total = len(entries), sum(e.nbytes for e in entries) + sum(s.nbytes for s in stale)
        free = space.usage(self.root).free if need_free else 0

        def hold() -> bool:
            return count <= self.max_images and total <= self.max_bytes and free >= need_free

        for key, nbytes, is_image in [(s.key, s.nbytes, False) for s in stale] + [(e.key, e.nbytes, True)
                                                                                  for e in entries]:
            if hold():
                return True
            if key == keep:
                continue
            with self._lock(key + ".lock", wait=False) as locked:
                if not locked:
                    continue
                moved = self._to_trash(key)
                _unlink(self.locks / (key + ".lock"))  # waiters notice and lock its successor
            if moved is not None:
                trash.append(moved)
            removed.append(key)
            count, total, free = count - is_image, total - nbytes, free + nbytes
        return hold() or all(e.key == keep for e in entries) and not stale

    def clear(self) -> int:
        """Remove every entry, stale ones included, and what dead processes left; returns how many entries."""
        names = self._names()
        for name in names:
            self.remove(name)
        self.clean_tmp()
        for name in os.listdir(self.locks):
            with self._lock(name, wait=False) as locked:
                if locked and name != EVICT_LOCK:
                    _unlink(self.locks / name)  # nobody holds it; a waiter that opened it locks its successor
        return len(names)

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
