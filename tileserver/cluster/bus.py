"""Redis between the nodes (the redis_url setting): build progress that every node's websockets relay, and the
registry of live nodes that /status lists.

Progress has the interface of the disk ProgressBoard (report, read, remove, clean), so the websocket code is the same
in both modes: a Dask worker reports into Redis, and whichever node a client's websocket is on reads it there. Each
record expires on its own (PROGRESS_TTL): a worker killed mid-build leaves nothing behind for long, and nothing needs
to survive a restart of Redis, since builders and nodes rewrite their records as they go.

Leases: with no Dask scheduler, a node builds an unpublished image itself, under a lease in Redis (renewed while it
builds, expiring soon after its holder dies), so that the other nodes wait for its publication instead of building
the same image; and, with cluster_max_builds set, under one of that many slots of a semaphore shared by all the nodes.

A Redis that does not answer never fails a build or a request: reports are dropped, reads find nothing, and
redis-py reconnects by itself at the next call once Redis is back.

Where Dask does the job instead: the build lease (a task keyed by the image identity runs once cluster-wide, however
many nodes ask) and the build queue with its concurrency (one build per worker thread).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

PREFIX = "tileserver:"
PROGRESS_TTL = 60  # seconds a progress record outlives its last report
NODE_TTL = 30  # seconds a node stays listed after its last heartbeat
TIMEOUT = 1.0  # seconds any Redis call may take: progress is a courtesy, it must not slow a request


class RedisBus:
    def __init__(self, url: str, min_interval: float = 0.1) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
                                           health_check_interval=10, decode_responses=True)
        self.min_interval = min_interval
        self._last: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _safe(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return call(*args, **kwargs)
        except (redis.RedisError, OSError):
            return None

    # -- the ProgressBoard interface -----------------------------------------------------------------------------

    def report(self, key: str, image: str, stage: str, fraction: float) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last and last[1] == stage and now - last[0] < self.min_interval and stage != "done":
                return
            self._last[key] = (now, stage)
        if stage == "done":
            self.remove(key)
            return
        record = {"key": key, "image": image, "stage": stage, "fraction": round(float(fraction), 4),
                  "pid": f"{socket.gethostname()}:{os.getpid()}", "time": time.time()}
        self._safe(self.client.set, PREFIX + "progress:" + key, json.dumps(record), ex=PROGRESS_TTL)

    def read(self, key: str) -> dict[str, Any] | None:
        text = self._safe(self.client.get, PREFIX + "progress:" + key)
        try:
            record = json.loads(text) if text else None
        except ValueError:
            return None
        return record if isinstance(record, dict) and isinstance(record.get("fraction"), (int, float)) else None

    def remove(self, key: str) -> None:
        with self._lock:
            self._last.pop(key, None)
        self._safe(self.client.delete, PREFIX + "progress:" + key)

    def clean(self, max_age: float = 0.0) -> None:
        """Records expire by themselves."""

    def builds(self) -> list[dict[str, Any]]:
        """Every build in progress in the cluster, as its builder last reported it."""
        keys = self._safe(lambda: list(self.client.scan_iter(PREFIX + "progress:*", count=500))) or []
        values = self._safe(self.client.mget, keys) if keys else []
        out = []
        for text in values or []:
            try:
                record = json.loads(text) if text else None
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return sorted(out, key=lambda r: str(r.get("image", "")))

    # -- leases ---------------------------------------------------------------------------------------------------

    def lease(self, name: str, holder: str, seconds: int) -> bool | None:
        """Take (or renew, if ours) the lease `name` for `seconds`: True if we hold it, False if another holder
        does, None if Redis does not answer (then nobody can be kept out: callers go ahead)."""
        import redis

        try:
            held = self.client.set(PREFIX + "lease:" + name, holder, nx=True, ex=seconds)
            if held:
                return True
            # Ours already (a renewal)? Compare and extend in one step, so a lease that just expired is not stolen.
            return bool(self.client.eval(_RENEW, 1, PREFIX + "lease:" + name, holder, seconds))
        except (redis.RedisError, OSError):
            return None

    def release(self, name: str, holder: str) -> None:
        self._safe(self.client.eval, _RELEASE, 1, PREFIX + "lease:" + name, holder)

    # -- semaphores: limits shared by every node -----------------------------------------------------------------

    def slot(self, name: str, holder: str, limit: int, seconds: int) -> bool | None:
        """Take (or renew, if ours) one of the `limit` slots of the semaphore `name` for `seconds`: True if we hold
        one, False if all are held, None if Redis does not answer (callers go ahead). A holder that dies frees its
        slot when it expires; the clock is Redis's, so the nodes' clocks need not agree."""
        result = self._safe(self.client.eval, _SLOT, 1, PREFIX + "slots:" + name, holder, limit, seconds)
        return None if result is None else bool(result)

    def free_slot(self, name: str, holder: str) -> None:
        self._safe(self.client.zrem, PREFIX + "slots:" + name, holder)

    def slots_taken(self, name: str) -> int:
        return int(self._safe(self.client.eval, _TAKEN, 1, PREFIX + "slots:" + name) or 0)

    # -- nodes, counters, health ---------------------------------------------------------------------------------

    def heartbeat(self, node: str, record: dict[str, Any]) -> None:
        self._safe(self.client.set, PREFIX + "node:" + node, json.dumps({**record, "time": time.time()}),
                   ex=NODE_TTL)

    def nodes(self) -> list[dict[str, Any]]:
        keys = self._safe(lambda: list(self.client.scan_iter(PREFIX + "node:*", count=500))) or []
        values = self._safe(self.client.mget, keys) if keys else []
        out = []
        for text in values or []:
            try:
                out.append(json.loads(text))
            except (TypeError, ValueError):
                continue
        return sorted(out, key=lambda r: str(r.get("url", "")))

    def count(self, name: str) -> None:
        self._safe(self.client.incr, PREFIX + "count:" + name)

    def counter(self, name: str) -> int:
        return int(self._safe(self.client.get, PREFIX + "count:" + name) or 0)

    def health(self) -> dict[str, Any]:
        import redis

        try:
            self.client.ping()
        except (redis.RedisError, OSError) as e:
            return {"ok": False, "url": _public(self.url), "error": type(e).__name__}
        return {"ok": True, "url": _public(self.url)}


_RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0"""
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0"""
# A semaphore is a sorted set of holders scored by when their slot expires, on Redis's clock.
_NOW = """local t = redis.call('time')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
"""
_SLOT = _NOW + """if redis.call('zscore', KEYS[1], ARGV[1]) or redis.call('zcard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('zadd', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('expire', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0"""
_TAKEN = _NOW + "return redis.call('zcard', KEYS[1])"


def _public(url: str) -> str:
    """The URL without its password, for /status."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=netloc))
    return url
