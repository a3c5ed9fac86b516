"""A node in cluster mode: where the engine goes on a disk-cache miss, and what /status shows of the cluster.

On a miss the node asks the store for the image's published pyramid; if there is none, the Dask cluster builds and
publishes it (one task per image identity, whichever nodes ask), or, with no scheduler set, this node builds it and
publishes it. Either way the node then serves it through its local tier (tier.py). attach() is the one seam with the
engine: it sets engine.cluster, engine.board (progress through Redis) and the opener of cache entries.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import CacheFull, Overloaded, StoreUnavailable
from ..store.diskcache import CheckedPyramid, DiskCache, Entry
from ..store.manifest import Manifest
from ..store.objectstore import ObjectStore
from . import builds
from .bus import RedisBus
from .tier import TIER, TieredPyramid, materialize

if TYPE_CHECKING:
    from ..engine import Engine
    from ..iip import Query

log = logging.getLogger("tileserver.cluster")

HEARTBEAT = 10.0  # seconds between two registrations of this node in Redis
CONNECT_TIMEOUT = 10.0  # seconds to reach the Dask scheduler
LEASE_SECONDS = 30  # a build lease outlives its dead holder this long at most
LEASE_WAIT = 600.0  # seconds a node waits for another node's build before answering 503
LEASE_POLL = 0.2
BUILD_SLOTS = "builds"  # the semaphore of cluster_max_builds


class ClusterNode:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.store = ObjectStore(settings.store_url)
        self.bus = RedisBus(settings.redis_url) if settings.redis_url else None
        self.name = f"{socket.gethostname()}:{settings.port}"
        self.started = time.time()
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._stop = threading.Event()
        self.built_here = 0  # pyramids this process built itself (no scheduler)
        self.fetched = 0  # tiles this process fetched from the store into its tier
        self.waiting_for_slot = 0  # builds of this process waiting for a slot of cluster_max_builds
        self._count_lock = threading.Lock()

    # -- the engine's seam ---------------------------------------------------------------------------------------

    def opener(self, entry: Entry) -> CheckedPyramid:
        if TIER in entry.manifest:
            return TieredPyramid(entry, self.store, self.shrink, self._fetched)
        return CheckedPyramid(entry)

    def _fetched(self) -> None:
        self.fetched += 1

    def open(self, path: Path, query: Query, key: str) -> CheckedPyramid:
        """The pyramid of key, from the store through the local tier; built (once, cluster-wide) if unpublished."""
        published = self.store.manifest(key)
        if published is None:
            if not self.settings.dask_scheduler:
                return self._build_here(path, query, key)
            published = self._build_on_cluster(query, key)
        return self._open_published(key, published)

    def _open_published(self, key: str, published: Manifest) -> CheckedPyramid:
        cache = self.engine.cache
        try:
            return cache.open_or_build(key, lambda tmp: materialize(self.store, key, published, tmp), self.opener)
        except CacheFull:
            self.shrink(key)
            return cache.open_or_build(key, lambda tmp: materialize(self.store, key, published, tmp), self.opener)

    def _build_here(self, path: Path, query: Query, key: str) -> CheckedPyramid:
        """No scheduler: build here under a cluster-wide lease; another node's build is waited for, not repeated.
        Without Redis (or with it down) every node may build; the conditional publication keeps the first."""
        holder = f"{self.name}:{os.getpid()}:{threading.get_ident()}"
        deadline = time.monotonic() + LEASE_WAIT
        while self.bus is not None and self.bus.lease("build:" + key, holder, LEASE_SECONDS) is False:
            published = self.store.manifest(key)
            if published is not None:
                return self._open_published(key, published)
            if time.monotonic() > deadline:
                raise Overloaded("another node is still building this image; try again in a moment")
            time.sleep(LEASE_POLL)
        renewing = threading.Event()
        if self.bus is not None:
            threading.Thread(target=self._renew, args=(key, holder, renewing), daemon=True).start()
        try:
            published = self.store.manifest(key)  # published while we waited for Redis to answer?
            if published is not None:
                return self._open_published(key, published)
            self._take_slot(holder)
            pyr = self.engine._build(path, query, key)
            self.built_here += 1
            _, mine = self.store.publish(key, pyr.entry.folder, pyr.entry.manifest)
            if mine and self.bus is not None:
                self.bus.count("published:" + key)
            return pyr
        finally:
            renewing.set()
            if self.bus is not None:
                self.bus.release("build:" + key, holder)
                self.bus.free_slot(BUILD_SLOTS, holder)

    def _take_slot(self, holder: str) -> None:
        """With cluster_max_builds, wait for one of the build slots shared by every node (holding the image's lease
        meanwhile: the other nodes asking for it keep waiting for this one). Redis down: no limit, as for leases."""
        limit = self.settings.cluster_max_builds
        if self.bus is None or not limit:
            return
        deadline = time.monotonic() + LEASE_WAIT
        with self._count_lock:
            self.waiting_for_slot += 1
        try:
            while self.bus.slot(BUILD_SLOTS, holder, limit, LEASE_SECONDS) is False:
                if time.monotonic() > deadline:
                    raise Overloaded("every build slot of the cluster is taken; try again in a moment")
                time.sleep(LEASE_POLL)
        finally:
            with self._count_lock:
                self.waiting_for_slot -= 1

    def _renew(self, key: str, holder: str, done: threading.Event) -> None:
        assert self.bus is not None
        while not done.wait(LEASE_SECONDS / 3):
            self.bus.lease("build:" + key, holder, LEASE_SECONDS)
            self.bus.slot(BUILD_SLOTS, holder, 0, LEASE_SECONDS)  # a limit of 0 renews a slot held, takes none

    def _build_on_cluster(self, query: Query, key: str) -> Manifest:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        client = self.client()
        fif = query.fif + (f"[{query.selector}]" if query.selector else "")
        future = client.submit(builds.build_task, builds.job_for(self.settings, fif, key), key=builds.task_key(key),
                               pure=False)
        try:
            manifest: Manifest = future.result()
        except KilledWorker:
            raise StoreUnavailable("the workers building this image died; try again later") from None
        except (FutureCancelledError, OSError, TimeoutError):
            raise StoreUnavailable("the build cluster does not answer; try again later") from None
        finally:
            future.release()
        return manifest

    def client(self) -> Any:
        """This process's Dask client, connected at first use (after gunicorn forked the workers)."""
        with self._client_lock:
            if self._client is None:
                from distributed import Client

                try:
                    self._client = Client(self.settings.dask_scheduler, timeout=CONNECT_TIMEOUT,
                                          set_as_default=False, name=f"tileserver-{self.name}-{os.getpid()}")
                except (OSError, TimeoutError):
                    raise StoreUnavailable("the build cluster cannot be reached; try again later") from None
            return self._client

    def shrink(self, keep: str) -> None:
        """The cache disk is full: drop half of the other entries, least recently used first."""
        cache = self.engine.cache
        count = len(cache.list())
        smaller = DiskCache(cache.root, max(1, count // 2), cache.max_bytes)
        removed = smaller.evict(keep=keep)
        log.warning("local tier shrunk by %d entr%s", len(removed), "y" if len(removed) == 1 else "ies")

    # -- registry and status -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.bus is not None:
            threading.Thread(target=self._heartbeats, name="cluster-heartbeat", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()

    def _heartbeats(self) -> None:
        while not self._stop.is_set():
            assert self.bus is not None
            self.bus.heartbeat(self.name, {"node": self.name, "pid": os.getpid(), "started": self.started,
                                           "images": len(self.engine.cache.list())})
            self._stop.wait(HEARTBEAT)

    def status(self) -> dict[str, Any]:
        """The cluster as this node sees it: nodes, workers, builds in flight, store and Redis health, dashboard."""
        out: dict[str, Any] = {"node": self.name, "store": self.store.health(), "fetched_tiles": self.fetched,
                               "built_here": self.built_here,
                               "redis": self.bus.health() if self.bus else None,
                               "nodes": self.bus.nodes() if self.bus else [],
                               "builds": self.bus.builds() if self.bus else [],
                               "scheduler": None, "build_slots": None}
        if self.bus is not None and self.settings.cluster_max_builds:
            out["build_slots"] = {"limit": self.settings.cluster_max_builds, "waiting_here": self.waiting_for_slot,
                                  "taken": self.bus.slots_taken(BUILD_SLOTS)}
        if self.settings.dask_scheduler:
            out["scheduler"] = self._scheduler_status()
        return out

    def _scheduler_status(self) -> dict[str, Any]:
        try:
            info = self.client().scheduler_info(n_workers=-1)
        except (StoreUnavailable, OSError, TimeoutError):
            return {"ok": False, "address": self.settings.dask_scheduler, "workers": [], "dashboard": None}
        host = self.settings.dask_scheduler.split("://", 1)[-1].rsplit(":", 1)[0]
        port = info.get("services", {}).get("dashboard")
        workers = [{"name": str(w.get("name")), "address": address, "threads": w.get("nthreads"),
                    "memory": w.get("memory_limit"), "tasks": w.get("metrics", {}).get("task_counts", {})}
                   for address, w in info.get("workers", {}).items()]
        return {"ok": True, "address": self.settings.dask_scheduler, "workers": workers,
                "dashboard": f"http://{host}:{port}/status" if port else None}


def attach(engine: Engine, settings: Settings) -> ClusterNode | None:
    """Switch the engine to cluster mode when store_url is set; no-op otherwise."""
    if not settings.store_url:
        return None
    node = ClusterNode(engine, settings)
    engine.cluster = node
    engine.opener = node.opener
    engine.identity = engine.remote.identity if engine.remote else builds.identity(Path(settings.data_dir))
    if node.bus is not None:
        engine.board = node.bus
    node.start()
    return node
