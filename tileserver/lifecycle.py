"""The life of an image in a worker: opened from its published cache entry, or opened first and built after.

Open first: a source whose layout allows random access answers INFO as soon as its header is read and a sample
of its pixels gives the statistics; its tiles are served at once (full resolution from the source, coarser levels
as strided previews, see sourcelevels.py) while a background thread builds the cache entry. One process builds
(the entry's lock); every process's thread waits on that lock, then swaps its preview for the published entry. A
source whose first read decompresses it whole (gzip'd, compressed in tall tiles), or in an S3 bucket, is built first.

Identity: the key is computed from the status of the file as opened (the pinned open), so the pixels served and
built are those of the version the key names; the build checks the file again before it publishes, and a file
rewritten meanwhile is not published (its new version gets a new key and a new build).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import datapath
from .config import Settings
from .display import stats
from .display.stats import ChannelStats
from .errors import CacheFull, Overloaded, SourceChanged, TileServerError, TooLarge
from .iip import Query
from .images import ImageSource, open_image
from .images.direct import SourceFile, identity
from .store import pyramid
from .store.diskcache import CheckedPyramid, DiskCache, Entry
from .store.manifest import Described, ImageMeta, Manifest
from .store.pyramid import Geometry
from .store.sourcelevels import Levels, SourceLevels, sample

log = logging.getLogger("tileserver")

PREVIEW = "-preview"  # appended to the cache tag of an image whose reduced levels are not built yet
BUILD_RETRY = 10.0  # seconds before a build that failed for a passing reason (busy, store down) is tried again
ROOM_CHECK = 1.0  # seconds between looks at a full cache disk, for a build that found no room there


@dataclass
class Image:
    """An image open in this process: its levels (built, or some still previews), statistics and description."""

    key: str
    name: str  # as the client names it: the FIF path and its [selector] (a Query's fif is the path alone)
    pyramid: Levels
    manifest: Described  # a Manifest once built
    default_cuts: list[tuple[float, float]] = field(default_factory=list)
    final_levels: frozenset[int] = frozenset()
    source: ImageSource | None = None  # held open while levels are read from it
    build_error: str = ""  # why the background build failed (the image then stays a preview)
    build_full: bool = False  # it failed for want of room on the cache disk: built again once there is room
    retry_at: float = 0.0  # when a build that failed for a passing reason may start again (monotonic)
    build_args: tuple[Any, ...] = ()  # what the background build needs: path, query, pinned file

    def __del__(self) -> None:
        # The source closes when the last request reading from this image lets go of it.
        self.close()

    def close(self) -> None:
        source, self.source = self.source, None
        if source is not None:
            source.close()

    @property
    def geometry(self) -> Geometry:
        return self.pyramid.geometry

    @property
    def stats(self) -> list[ChannelStats]:
        return self.manifest["stats"]

    @property
    def meta(self) -> ImageMeta:
        return self.manifest["image"]

    @property
    def final(self) -> bool:
        return len(self.final_levels) == self.geometry.levels

    def level_final(self, z: int) -> bool:
        return z in self.final_levels

    def tag_for(self, z: int) -> str:
        """What identifies the tiles of level z: the cache key, marked while the level is a preview."""
        return self.key if z in self.final_levels else self.key + PREVIEW

    @property
    def cache_tag(self) -> str:
        return self.key if self.final else self.key + PREVIEW


@dataclass
class BuildState:
    stage: str = "queued"
    fraction: float = 0.0
    started: float = field(default_factory=time.time)
    image: str = ""  # as the client names it


def describe(source: ImageSource, name: str) -> ImageMeta:
    """The image part of a manifest: what INFO tells of the source besides its pixels."""
    return {
        "name": name,
        "kind": source.kind,
        "object_name": source.object_name,
        "bits_per_channel": source.bits_per_channel,
        "header": source.header,
        "chips": [vars(chip) for chip in source.chips],
        "channel_names": source.channel_names,
        "extensions": source.extensions,
        "cuts": source.cuts,
        "type_range": source.type_range,
        "mix": source.mix,
    }


class Cluster(Protocol):
    """Cluster mode (cluster/node.py): entries from the store, built once cluster-wide; its state for /status."""

    def open(self, path: Path, query: Query, key: str) -> CheckedPyramid: ...

    def status(self) -> dict[str, Any]: ...


class Lifecycle:
    """Engine's part that opens images and runs their builds (Engine mixes it in; see engine.py)."""

    settings: Settings
    data_dir: Path
    cache: DiskCache
    cluster: Cluster | None
    opener: Callable[[Entry], CheckedPyramid]
    identity: Callable[[Path, str | None, int], str]
    key_for: Callable[[Query], tuple[Path, str]]  # Engine's: where the file is (under the access rules), its key
    remote: Any  # Engine's RemoteSources of an s3:// data_dir (None on disk), and its pinned() and _open_remote()
    pinned: Callable[[Path], Any]
    _open_remote: Callable[[Path, Query, str], Image]
    board: Any
    progress: dict[str, BuildState]
    listeners: list[Callable[[str, str, BuildState], None]]
    _lock: threading.Lock
    _open: Any
    _builds: threading.BoundedSemaphore
    _waiting: int

    def _init_lifecycle(self) -> None:
        self._key_locks: dict[str, threading.Lock] = {}
        self._build_threads: dict[str, threading.Thread] = {}

    def close(self, timeout: float = 60.0) -> None:
        """At shutdown: let the builds in progress finish (a few seconds at most), then close every open image."""
        deadline = time.monotonic() + timeout
        for thread in list(self._build_threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            images = list(self._open.values())
            self._open.clear()
        for image in images:
            image.close()

    def forget(self, key: str, image: Image | None = None) -> None:
        """Drop an image whose entry turned out broken or unpublished (the next request reopens it, rebuilding it if
        needed). Never waits on a lock (it may run on the event loop)."""
        with self._lock:
            current = self._open.get(key)
            if current is not None and (image is None or current is image):
                del self._open[key]
        target = image or current
        if target is not None and isinstance(target.pyramid.stored, CheckedPyramid):
            self.cache.discard(target.pyramid.stored.entry)

    def build_status(self, key: str) -> dict[str, Any] | None:
        """The build of key in progress, wherever it runs ({key, image, stage, fraction, pid, time}): this process's
        own first (its live state), else another's (the progress board); None when none runs."""
        state = self.progress.get(key)
        if state is not None and state.stage == "done":  # built; publishing it is a matter of milliseconds
            return None
        if state is not None:
            return {"key": key, "image": state.image, "stage": state.stage, "fraction": round(state.fraction, 4),
                    "pid": os.getpid(), "time": time.time()}
        record = self.board.read(key)
        if record is None:
            return None
        return {**record, "stage": record.get("stage", ""), "fraction": round(float(record["fraction"]), 4)}

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            if len(self._key_locks) > 10_000:
                self._key_locks.clear()  # only ever a brief double open of one image
            return self._key_locks.setdefault(key, threading.Lock())

    def opened(self, key: str) -> Image | None:
        """The image open under key in this process, if any; a preview whose build failed for a passing reason
        starts it again here, on the next request once due (never waits: safe on the event loop)."""
        with self._lock:
            image = self._open.get(key)
        if image is not None and image.retry_at and self._retry_due(image):
            self._start_build(image)
        return image

    def _retry_due(self, image: Image) -> bool:
        """Whether a failed build may start again: BUILD_RETRY seconds after it failed (busy, the store down), or,
        if it found the cache disk full, once the disk has room (looked at every ROOM_CHECK seconds)."""
        now = time.monotonic()
        if now < image.retry_at:
            return False
        if image.build_full and self.cache.full.state() is not None:
            image.retry_at = now + ROOM_CHECK
            return False
        return True

    def _remember(self, image: Image, replace: Image | None = None) -> Image:
        """Keep image open under its key (in place of `replace` only, when given); returns the one kept."""
        with self._lock:
            current = self._open.get(image.key)
            if current is None or current is replace or replace is None:
                self._open[image.key] = image
                return image
            return current

    def open(self, query: Query, final: bool = False) -> Image:
        """The image of a query: as soon as INFO can answer, or once built if `final` (blocking: call in a thread)."""
        image = self._open_now(query)
        if final and image.pyramid.stored is None:  # shown from the source: its entry is being built
            thread = self._build_threads.get(image.key)
            if thread is not None:
                thread.join()
            image = self.opened(image.key) or image
            if image.build_full:
                raise CacheFull(image.build_error)
            if image.pyramid.stored is None:
                raise Overloaded(image.build_error or "the image could not be built; try again later")
        return image

    def _open_now(self, query: Query) -> Image:
        path, key = self.key_for(query)
        if (image := self.opened(key)) is not None:
            return image
        with self._key_lock(key):
            image = self.opened(key)
            if image is not None:
                return image
            if self.remote is not None:  # in the object store: see Engine._open_remote
                return self._remember(self._open_remote(path, query, key))
            with self.pinned(path) as pinned:
                file = SourceFile(pinned)
                try:
                    return self._open_pinned(path, pinned, file, query)
                finally:
                    if not file.kept:
                        file.close()

    def _open_pinned(self, path: Path, pinned: Path, file: SourceFile, query: Query) -> Image:
        # The key names the version we hold open: ctime never goes back, so a file equal to ours after the key was
        # computed was ours when it was. A path gone meanwhile is a file being replaced (unlink, then create).
        try:
            key = self.identity(path, query.selector, self.settings.tile_size)
            changed = identity(os.stat(path)) != file.identity
        except FileNotFoundError:
            changed = True
        if changed:
            raise SourceChanged("the image file changed on disk while it was being opened; try again")
        image = self.opened(key)
        if image is not None:
            return image
        # A build in progress elsewhere answers None at once: this process shows a preview meanwhile.
        image = self.cache.open(key, lambda entry: self._final(entry, query, pinned), wait=False)
        if image is not None:
            return self._remember(image)
        source = self._read_source(pinned, query)
        if not source.random_access:
            try:
                if self.cluster is not None:
                    stored = self.cluster.open(path, query, key)
                    return self._remember(self._wrap(stored, query, pinned))
                return self._remember(self._build_first(pinned, file, source, query, key))
            finally:
                source.close()
        try:
            image = self._preview(key, query, source, file)
        except BaseException:
            source.close()
            raise
        file.kept = True  # the preview reads check it; the build checks it before publishing
        kept = self._remember(image)
        if kept is image:
            image.build_args = (path, query, file)
            self._start_build(image)
        return kept

    def _start_build(self, image: Image) -> None:
        """Build a preview's entry in the background (once at a time per image)."""
        with self._lock:
            if image.key in self._build_threads or not image.build_args:
                return
            image.retry_at, image.build_error, image.build_full = 0.0, "", False
            thread = threading.Thread(target=self._build_after, args=(image, *image.build_args), daemon=True,
                                      name=f"build-{image.key[:8]}")
            self._build_threads[image.key] = thread
        thread.start()

    def _read_source(self, pinned: Path, query: Query) -> ImageSource:
        with datapath.sealed(pinned):  # headers are user content: they open nothing but their own file
            source = open_image(pinned, query.selector, self.settings.max_image_pixels,
                                self.settings.max_fits_header_bytes, self.settings.max_request_bytes)
        try:
            g = pyramid.Geometry(source.width, source.height, source.nchannels, self.settings.tile_size)
            pyramid.check_tile_count(g, self.settings.max_image_pixels)
        except TooLarge:
            source.close()
            raise
        return source

    def _image(self, key: str, query: Query, levels: Levels, manifest: Described, final: frozenset[int],
               source: ImageSource | None) -> Image:
        image = Image(key, self._display_name(query), levels, manifest, final_levels=final,
                      source=source)
        image.default_cuts = stats.first_view_cuts(image.meta, image.stats, image.geometry.nchannels)
        return image

    def _final(self, entry: Entry, query: Query, pinned: Path, source: ImageSource | None = None) -> Image:
        return self._wrap(self.opener(entry), query, pinned, source)

    def _wrap(self, stored: CheckedPyramid, query: Query, pinned: Path, source: ImageSource | None = None) -> Image:
        """The image of a published entry; its full resolution read from the source when the entry has none."""
        g = stored.geometry
        manifest = stored.entry.manifest
        levels = Levels(g, stored, None, stored.stored_levels)
        if manifest.get("full_resolution") == "source":
            if source is None:
                source = self._read_source(pinned, query)
            if source.direct is None:
                source.close()
                stored.close()
                raise pyramid.CorruptEntry("the source no longer has a regular layout")
            levels = Levels(g, stored, SourceLevels(g, source), stored.stored_levels)
            return self._image(stored.entry.key, query, levels, manifest, frozenset(range(g.levels)), source)
        return self._image(stored.entry.key, query, levels, manifest, frozenset(range(g.levels)), None)

    def _build(self, path: Path, query: Query, key: str) -> CheckedPyramid:
        """Build (or wait for) key's entry and return it opened: the blocking path, for the cluster's builders."""
        with self.pinned(path) as pinned:
            file = SourceFile(pinned)
            source = self._read_source(pinned, query)
            try:
                with self._builds:
                    return self.cache.open_or_build(
                        key, lambda tmp: self._build_into(source, file, query, key, tmp, None),
                        self.opener)
            finally:
                source.close()
                file.close()
                with self._lock:
                    self.progress.pop(key, None)
                self.board.remove(key)

    def _preview(self, key: str, query: Query, source: ImageSource, file: SourceFile) -> Image:
        """An image served from its source while its entry is built: statistics from a sample, levels previewed."""
        g = pyramid.Geometry(source.width, source.height, source.nchannels, self.settings.tile_size)
        manifest: Described = {"stats": [stats.channel_stats(s) for s in sample(source)],
                               "image": describe(source, self._display_name(query)),
                               "identity": list(file.identity)}
        file.check()  # the sample is of the version the key names
        levels = Levels(g, None, SourceLevels(g, source, file), frozenset())
        return self._image(key, query, levels, manifest, frozenset({g.levels - 1}), source)

    def _build_after(self, preview: Image, path: Path, query: Query, file: SourceFile) -> None:
        """Background: build the preview's entry (or wait for another process building it), then swap it in."""
        key, source = preview.key, preview.source
        assert source is not None
        try:
            if self.cluster is not None:  # from the store, built once cluster-wide
                final = self._wrap(self.cluster.open(path, query, key), query, Path(), source)
            else:
                with self._builds:
                    final = self.cache.open_or_build(
                        key, lambda tmp: self._build_into(source, file, query, key, tmp, preview.manifest),
                        lambda entry: self._final(entry, query, Path(), source))
        except Exception as exc:
            if isinstance(exc, (SourceChanged, pyramid.CorruptEntry)):
                self.forget(key, preview)  # the next request opens the new version
            elif isinstance(exc, Overloaded):  # busy, or the store down: the preview serves; try again later
                preview.retry_at = time.monotonic() + BUILD_RETRY
                log.warning("building %s failed for now (%s); retrying on a request after %.0f s",
                            self._display_name(query), exc.message, BUILD_RETRY)
            elif isinstance(exc, CacheFull):  # the preview serves; built once the disk has room again
                preview.retry_at, preview.build_full = time.monotonic() + ROOM_CHECK, True
            elif not isinstance(exc, TileServerError):
                log.exception("building %s failed", self._display_name(query))
            preview.build_error = exc.message if isinstance(exc, TileServerError) else "internal server error"
            return
        finally:
            with self._lock:
                self.progress.pop(key, None)
            self.board.remove(key)
            with self._lock:
                if self._build_threads.get(key) is threading.current_thread():
                    del self._build_threads[key]
        if final.source is source:
            preview.source = None  # the final image owns the source now
        self._remember(final, replace=preview)

    def _build_first(self, pinned: Path, file: SourceFile, source: ImageSource, query: Query, key: str) -> Image:
        """A source without random access: build its entry before answering (or wait for another process's)."""
        with self._lock:
            if self._waiting >= 2 * self.settings.max_concurrent_builds:
                raise Overloaded("the server is busy building other images; try again in a few seconds")
            self._waiting += 1
        try:
            with self._builds:
                return self.cache.open_or_build(key, lambda tmp: self._build_into(source, file, query, key, tmp, None),
                                                lambda entry: self._final(entry, query, pinned))
        finally:
            with self._lock:
                self._waiting -= 1
                self.progress.pop(key, None)
            self.board.remove(key)  # a failed build must not leave its last fraction for the next one

    def _build_into(self, source: ImageSource, file: SourceFile, query: Query, key: str, folder: Path,
                    described: Described | None) -> Manifest:
        state = self.progress.setdefault(key, BuildState(image=self._display_name(query)))

        def report(stage: str, fraction: float) -> None:
            state.stage, state.fraction = stage, fraction
            for listener in self.listeners:
                listener(key, self._display_name(query), state)

        report("reading", 0.0)
        built = pyramid.build(source, folder, self.settings.tile_size, self.settings.thread_count, report,
                                 store_top=source.direct is None or self.remote is not None)
        if described is None:
            described = {"stats": [stats.channel_stats(s) for s in sample(source)],
                         "image": describe(source, self._display_name(query)), "identity": list(file.identity)}
        # A file rewritten during the build may have been read half old, half new: never publish that.
        file.check()
        return {**built, **described}

    def _display_name(self, query: Query) -> str:
        return query.fif + (f"[{query.selector}]" if query.selector else "")
