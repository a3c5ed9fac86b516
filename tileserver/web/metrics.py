"""The Prometheus text of the merged status snapshot (/metrics)."""

from __future__ import annotations

from typing import Any

METRICS: tuple[tuple[str, str, str, str], ...] = (
    # name, type, help, where: a worker field, or a path into the snapshot
    ("tileserver_requests_total", "counter", "HTTP requests answered.", "w:requests"),
    ("tileserver_tiles_total", "counter", "Tiles served.", "w:tiles"),
    ("tileserver_errors_total", "counter", "Responses with a 5xx status.", "w:errors"),
    ("tileserver_client_errors_total", "counter", "Responses with a 4xx status.", "w:client_errors"),
    ("tileserver_worker_rss_bytes", "gauge", "Resident memory of the worker process.", "w:rss"),
    ("tileserver_worker_uptime_seconds", "gauge", "Seconds since the worker started.", "w:uptime"),
    ("tileserver_memory_cache_hits_total", "counter", "Tiles found in the worker's memory cache.",
     "w:memory_cache.hits"),
    ("tileserver_memory_cache_misses_total", "counter", "Tile lookups missing the worker's memory cache.",
     "w:memory_cache.misses"),
    ("tileserver_memory_cache_bytes", "gauge", "Bytes of tiles in the worker's memory cache.", "w:memory_cache.bytes"),
    ("tileserver_disk_cache_images", "gauge", "Images in the disk cache.", "disk_cache.images"),
    ("tileserver_disk_cache_bytes", "gauge", "Bytes in the disk cache.", "disk_cache.bytes"),
    ("tileserver_disk_cache_max_bytes", "gauge", "Most bytes the disk cache keeps.", "disk_cache.max_bytes"),
    ("tileserver_disk_cache_free_bytes", "gauge", "Bytes free on the disk cache's filesystem.",
     "disk_cache.free_bytes"),
    ("tileserver_disk_cache_filesystem_bytes", "gauge", "Size of the disk cache's filesystem.",
     "disk_cache.filesystem_bytes"),
    ("tileserver_disk_cache_writable", "gauge", "1 while the disk cache can write, 0 while its disk is full.",
     "disk_cache.writable"),
    ("tileserver_disk_cache_stale_bytes", "gauge", "Bytes of stale entries (another cache format, unreadable).",
     "disk_cache.stale.bytes"),
    ("tileserver_builds_in_progress", "gauge", "Pyramid builds running now.", "builds"),
)


def _pick(record: dict[str, Any], path: str) -> float:
    value: Any = record
    for part in path.split("."):
        value = value[part]
    if isinstance(value, bool):
        return int(value)
    return len(value) if isinstance(value, list) else value


def render_metrics(snap: dict[str, Any]) -> str:
    lines = [
        "# HELP tileserver_info The running version.",
        "# TYPE tileserver_info gauge",
        f'tileserver_info{{version="{snap["version"]}"}} 1',
    ]
    for name, kind, help_text, where in METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        if where.startswith("w:"):
            lines += [f'{name}{{worker="{w["pid"]}"}} {_pick(w, where[2:])}' for w in snap["workers"]]
        else:
            lines.append(f"{name} {_pick(snap, where)}")
    return "\n".join(lines) + "\n"
