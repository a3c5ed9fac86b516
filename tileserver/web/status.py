"""The status pages: /status (HTML, from templates/status.html), /status.json and /metrics, for every worker.

They answer only clients in `admin_allow` (loopback by default), and not at all when `admin_pages` is off; the
numbers come from monitor.py.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import config
from ..errors import Forbidden
from .metrics import render_metrics
from .monitor import Monitor

NO_STORE = {"Cache-Control": "no-store"}


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    if not monitor.allowed(request.client.host if request.client else None):
        raise Forbidden("the status pages are not open to your address (setting admin_allow)", "path")
    return monitor


async def status_json(request: Request) -> Response:
    return JSONResponse(_monitor(request).snapshot(), headers=NO_STORE)


async def status_page(request: Request) -> Response:
    template = request.app.state.templates.get_template("status.html")
    page = template.render(page_context(_monitor(request).snapshot(), request.scope.get("root_path", "")))
    return HTMLResponse(page, headers=NO_STORE)


async def metrics(request: Request) -> Response:
    return PlainTextResponse(render_metrics(_monitor(request).snapshot()), headers=NO_STORE,
                             media_type="text/plain; version=0.0.4")


def routes(settings: config.Settings) -> list[Route]:
    if not settings.admin_pages:
        return []
    return [
        Route("/status", status_page, methods=["GET", "HEAD"]),
        Route("/status.json", status_json, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET", "HEAD"]),
    ]


def page_context(snap: dict[str, Any], root: str) -> dict[str, Any]:
    """What templates/status.html shows, as text cells (the template escapes them)."""
    mem, disk = snap["memory_cache"], snap["disk_cache"]
    return {
        "snap": snap, "totals": snap["totals"], "disk": disk, "root": root.rstrip("/"),
        "disk_size": _size(disk["bytes"]), "updated": _when(snap["time"]),
        "room": {"max": _size(disk["max_bytes"]), "free": _size(disk["free_bytes"]),
                 "filesystem": _size(disk["filesystem_bytes"]), "min_free": _size(disk["min_free_bytes"]),
                 "stale": _size(disk["stale"]["bytes"])},
        "hit_rate": "–" if mem["hit_rate"] is None else f"{100 * mem['hit_rate']:.1f} %",
        "workers": [(w["pid"], f"{w['uptime']:.0f} s", w["requests"], w["tiles"], w["tiles_per_second"],
                     w["errors"], _size(w["rss"])) for w in snap["workers"]],
        "builds": [(b["image"] or b["key"], b["stage"], f"{100 * b['fraction']:.0f} %", b["pid"])
                   for b in snap["builds"]],
        "entries": [(e["image"], _size(e["bytes"]), _when(e["last_use"]), e["hits"]) for e in disk["entries"]],
        "cluster": _cluster_context(snap["cluster"]) if snap.get("cluster") else None,
    }


def _cluster_context(c: dict[str, Any]) -> dict[str, Any]:
    """The cluster as seen from this node; the Dask dashboard is the live view of workers and tasks."""
    scheduler = c["scheduler"] or {}
    return {
        "node": c["node"], "store": c["store"]["url"], "store_health": _health(c["store"]),
        "redis_health": _health(c["redis"]), "scheduler_health": _health(scheduler or None),
        "dashboard": scheduler.get("dashboard"),
        "nodes": [(n.get("node", ""), n.get("pid", ""), n.get("images", ""),
                   f"{time.time() - n.get('time', 0):.0f} s ago") for n in c["nodes"]],
        "workers": [(w["name"], w["address"], w["threads"], _size(w["memory"] or 0))
                    for w in scheduler.get("workers", [])],
        "builds": [(b.get("image", ""), b.get("stage", ""), f"{100 * float(b.get('fraction', 0)):.0f} %",
                    b.get("pid", "")) for b in c["builds"]],
    }


def _health(part: dict[str, Any] | None) -> str:
    if not part:
        return "not configured"
    return "up" if part.get("ok") else "DOWN: " + str(part.get("error", "no answer"))


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""
