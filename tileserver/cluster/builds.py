"""Pyramid builds as Dask tasks, keyed by the image identity.

The task's key is `build-<image key>`: however many nodes ask for a new image at once, the scheduler holds one task
under that key and hands every node a future on it. A worker builds the pyramid the embedded way (the engine, into a
scratch disk cache in its local directory, its progress reported into Redis), publishes it to the store and drops its
scratch copy. A task that finds the pyramid already published returns at once, so a task computed again (after every
node let go of its future, or by `cache warm` after an interruption) costs one GET. A worker that dies mid-build has
its task rescheduled on another worker by the scheduler; the scheduler is started with allowed-failures = 1, so that
happens once, and a second death fails the build instead of passing it around.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..store import pyramid
from ..store.manifest import Manifest

TASK_PREFIX = "build-"


@dataclass(frozen=True)
class BuildJob:
    fif: str  # as the client named it, selector included
    key: str  # the image identity the asking node computed
    environ: tuple[tuple[str, str], ...]  # the node's settings as TILESERVER_* variables


def identity(data_dir: Path) -> Callable[[Path, str | None, int], str]:
    """The image identity in cluster mode: the disk cache's, less what differs from one machine to the next (the
    mount point, the device number), so that every node and worker seeing the same shared file names it alike."""

    def key(path: Path, selector: str | None, tile_size: int) -> str:
        st = path.stat()
        name = path.relative_to(data_dir).as_posix()
        ident = (f"{name}\0{selector or ''}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_ctime_ns}"
                 f"\0{tile_size}\0{pyramid.FORMAT_VERSION}")
        return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:24]

    return key


def task_key(key: str) -> str:
    return TASK_PREFIX + key


def job_for(settings: config.Settings, fif: str, key: str) -> BuildJob:
    env = config.to_environ(settings)
    # Workers build the embedded way: no scheduler of their own, no access rules (the node checked the user).
    for name in ("dask_scheduler", "access_file", "cache_dir", "clear_cache"):
        env.pop(config.SETTINGS_BY_NAME[name].env, None)
    return BuildJob(fif, key, tuple(sorted(env.items())))


def _scratch() -> Path:
    try:
        from distributed import get_worker

        base = Path(get_worker().local_directory)
    except (ImportError, ValueError):
        base = Path(tempfile.gettempdir())
    return base / "tileserver-builds"


def build_task(job: BuildJob) -> Manifest:
    """Run on a Dask worker: the published manifest of job.key, building and publishing it first if needed."""
    from .. import iip as protocol
    from ..engine import Engine
    from ..errors import ImageNotFound
    from ..store.diskcache import CheckedPyramid
    from ..store.objectstore import ObjectStore
    from .bus import RedisBus

    environ = dict(job.environ)
    environ[config.SETTINGS_BY_NAME["cache_dir"].env] = str(_scratch())
    settings = config.resolve({}, environ, Path(os.devnull))
    store = ObjectStore(settings.store_url)
    published = store.manifest(job.key)
    if published is not None:
        return published
    engine = Engine(settings)
    engine.identity = engine.remote.identity if engine.remote else identity(Path(settings.data_dir))
    bus = RedisBus(settings.redis_url) if settings.redis_url else None
    if bus is not None:
        engine.board = bus  # same interface: progress reaches every node
    query = protocol.parse([("FIF", job.fif), ("INFO", "")])
    _, key = engine.key_for(query)
    if key != job.key:
        raise ImageNotFound("the image changed on disk while it was being opened; try again", "FIF")
    image = engine.open(query, final=True)  # not a preview: the built entry
    stored = image.pyramid.stored
    assert isinstance(stored, CheckedPyramid), "a final open holds the built cache entry"
    entry = stored.entry
    try:
        manifest, mine = store.publish(key, entry.folder, entry.manifest)
    finally:
        image.pyramid.close()
        engine.cache.remove(key)  # the store holds it now; the scratch copy only took space
    if mine and bus is not None:
        bus.count("published:" + key)  # how many times this identity was published: once, by design
    return manifest
