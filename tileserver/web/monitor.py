"""What the server is doing, for every worker: the counters and the merged view behind the status pages.

Each worker process counts its own requests in memory (`CountRequests`, a middleware) and publishes them, at most
once a second, as one small JSON file `<cache_dir>/status/<host>.<server pid>/<pid>.json`; whichever worker answers
/status reads every file of its server, so the page is the same from any worker. Files of dead workers are
skipped and removed. The pages themselves are in status.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import socket
import time
import urllib.parse
from pathlib import Path
from typing import Any

from starlette.types import Scope

from .. import __version__, access, atomic, config
from ..engine import Engine
from ..iip import split_fif
from ..store import space
from ..store.diskcache import DiskCache
from ..store.manifest import Manifest
from ..store.progress import ProgressBoard

PUBLISH_INTERVAL = 1.0  # seconds: the page may lag this much behind another worker's counters
WINDOW = 60  # seconds over which the recent rates are counted
FIF_ARG = re.compile(rb"(?:^|&)FIF=([^&]*)", re.IGNORECASE)  # parameter names are case-insensitive
TILE_ARG = re.compile(rb"(?:^|&)JTL=", re.IGNORECASE)


def server_id(settings: config.Settings) -> str:
    """Names the server this process belongs to: gunicorn workers share their master's pid."""
    master = os.getppid() if settings.workers > 1 else os.getpid()
    return f"{socket.gethostname()}.{master}"


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class RecentCount:
    """Events in the last WINDOW seconds, in one-second buckets."""

    def __init__(self) -> None:
        self._seconds = [0] * WINDOW
        self._counts = [0] * WINDOW

    def add(self, now: float) -> None:
        second = int(now)
        slot = second % WINDOW
        if self._seconds[slot] != second:
            self._seconds[slot], self._counts[slot] = second, 0
        self._counts[slot] += 1

    def buckets(self) -> dict[str, int]:
        """The counts by second, to publish (JSON keys are strings)."""
        return {str(s): c for s, c in zip(self._seconds, self._counts, strict=True) if c}


def recent(buckets: dict[str, int], now: float) -> int:
    """Events of the last WINDOW seconds before `now`, from published buckets (so an idle worker's count decays)."""
    oldest = int(now) - WINDOW
    return sum(c for s, c in buckets.items() if int(s) > oldest)


@functools.lru_cache(maxsize=1024)  # asked on every tile request, of the few images being viewed
def image_name(fif: bytes) -> str:
    """One record per image, however its FIF is spelt (escaped, or with its HDU selector in brackets)."""
    path, selector = split_fif(urllib.parse.unquote_plus(fif.decode("latin-1")))
    return path + (f"[{selector}]" if selector else "")


class Monitor:
    """This worker's counters, their publication, and the merged view of every worker of the server."""

    def __init__(self, settings: config.Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.root = Path(settings.cache_dir) / "status"
        self.server = server_id(settings)
        self.board = ProgressBoard(Path(settings.cache_dir) / "progress")
        self.allow = access.parse_networks(settings.admin_allow, "admin_allow")
        self.started = time.time()
        self.requests = self.errors = self.client_errors = self.tiles = 0
        self.recent_tiles = RecentCount()
        self.recent_errors = RecentCount()
        self.image_hits: dict[str, int] = {}  # FIF -> tile requests
        self._published = 0.0
        self._flush_pending = False
        self._prune_dead_servers()
        self.publish()  # an idle worker shows up too

    # -- counting (this worker) ------------------------------------------------------------------------------

    def count(self, scope: Scope, status: int) -> None:
        now = time.time()
        self.requests += 1
        if status >= 500:
            self.errors += 1
            self.recent_errors.add(now)
        elif status >= 400:
            self.client_errors += 1
        query = scope.get("query_string", b"")
        if status < 400 and TILE_ARG.search(query):
            self.tiles += 1
            self.recent_tiles.add(now)
            match = FIF_ARG.search(query)
            if match:
                fif = image_name(match.group(1))
                if fif in self.image_hits or len(self.image_hits) < 10_000:
                    self.image_hits[fif] = self.image_hits.get(fif, 0) + 1
        self._schedule_publish(now)

    def _schedule_publish(self, now: float) -> None:
        if now - self._published >= PUBLISH_INTERVAL:
            self.publish()
        elif not self._flush_pending:
            # The last requests before a quiet spell get published too, a moment later.
            self._flush_pending = True
            asyncio.get_running_loop().call_later(PUBLISH_INTERVAL, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        self.publish()

    def record(self) -> dict[str, Any]:
        tiles = self.engine.tiles
        return {
            "pid": os.getpid(), "started": self.started, "updated": time.time(), "rss": rss_bytes(),
            "requests": self.requests, "errors": self.errors, "client_errors": self.client_errors,
            "tiles": self.tiles, "recent_tiles": self.recent_tiles.buckets(),
            "recent_errors": self.recent_errors.buckets(),
            "memory_cache": {"hits": tiles.hits, "misses": tiles.misses, "tiles": tiles.count, "bytes": tiles.nbytes},
            "images": dict(self.image_hits),
        }

    def publish(self) -> None:
        """Write this worker's record; a failure (full disk, cache folder removed) only delays the page."""
        self._published = time.time()
        folder = self.root / self.server
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic.write(folder / f"{os.getpid()}.json", json.dumps(self.record()))
        except OSError:
            pass

    # -- the merged view -------------------------------------------------------------------------------------

    def workers(self) -> list[dict[str, Any]]:
        self.publish()  # this worker's own line is always fresh
        out = []
        folder = self.root / self.server
        for path in sorted(folder.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not _alive(int(record.get("pid", 0))):
                path.unlink(missing_ok=True)
                continue
            out.append(record)
        return out

    def _prune_dead_servers(self) -> None:
        host = socket.gethostname() + "."
        try:
            names = os.listdir(self.root)
        except OSError:
            return
        for name in names:
            pid = name[len(host):]
            if name.startswith(host) and pid.isdigit() and not _alive(int(pid)) and name != self.server:
                for path in (self.root / name).glob("*"):
                    path.unlink(missing_ok=True)
                try:
                    (self.root / name).rmdir()
                except OSError:
                    pass

    def builds(self) -> list[dict[str, Any]]:
        """Builds in progress: the board's (every worker of this server) and this process's own."""
        keys = dict.fromkeys([path.stem for path in sorted(self.board.folder.glob("*.json"))]
                             + list(self.engine.progress))
        return [build for key in keys if (build := self.engine.build_status(key)) is not None]

    def snapshot(self) -> dict[str, Any]:
        now = time.time()
        workers = self.workers()
        hits: dict[str, int] = {}
        for w in workers:
            for fif, n in w["images"].items():
                hits[fif] = hits.get(fif, 0) + n
        cache = self.engine.cache
        entries = sorted(cache.list(), key=cache.last_use, reverse=True)
        memory = {k: sum(w["memory_cache"][k] for w in workers) for k in ("hits", "misses", "tiles", "bytes")}
        lookups = memory["hits"] + memory["misses"]
        window = min(WINDOW, max(1.0, now - min((w["started"] for w in workers), default=now)))
        return {
            "version": __version__,
            "time": now,
            "workers": [{
                "pid": w["pid"], "uptime": round(now - w["started"], 1), "rss": w["rss"],
                "requests": w["requests"], "errors": w["errors"], "client_errors": w["client_errors"],
                "tiles": w["tiles"], "tiles_per_second": round(recent(w["recent_tiles"], now) / window, 2),
                "memory_cache": w["memory_cache"], "updated": round(max(0.0, now - w["updated"]), 1),
            } for w in workers],
            "totals": {
                "requests": sum(w["requests"] for w in workers),
                "errors": sum(w["errors"] for w in workers),
                "client_errors": sum(w["client_errors"] for w in workers),
                "tiles": sum(w["tiles"] for w in workers),
                "tiles_per_second": round(sum(recent(w["recent_tiles"], now) for w in workers) / window, 2),
                "recent_errors": sum(recent(w["recent_errors"], now) for w in workers),
            },
            "memory_cache": {**memory, "hit_rate": round(memory["hits"] / lookups, 4) if lookups else None},
            "disk_cache": {
                "images": len(entries), "bytes": sum(e.nbytes for e in entries),
                "max_images": cache.max_images, "max_bytes": cache.max_bytes, "min_free_bytes": cache.min_free,
                **self.room(cache),
                "entries": [{
                    "key": e.key, "image": _name(e.manifest), "bytes": e.nbytes,
                    "last_use": cache.last_use(e), "hits": hits.get(_name(e.manifest), 0),
                } for e in entries],
            },
            "builds": self.builds(),
            "cluster": self.engine.cluster.status() if self.engine.cluster else None,
        }

    @staticmethod
    def room(cache: DiskCache) -> dict[str, Any]:
        """The filesystem under the cache, the stale entries in it, and the full-disk episode if one is on."""
        usage = space.usage(cache.root)
        stale = cache.stale()
        full = cache.full.state()
        return {"filesystem_bytes": usage.total, "free_bytes": usage.free, "writable": full is None, "full": full,
                "stale": {"entries": len(stale), "bytes": sum(s.nbytes for s in stale),
                          "reasons": sorted({s.reason for s in stale})}}

    def allowed(self, host: str | None) -> bool:
        return access.is_trusted(host, self.allow)


def _name(manifest: Manifest) -> str:
    return str(manifest.get("image", {}).get("name", "?"))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
