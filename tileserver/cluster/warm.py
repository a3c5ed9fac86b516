"""`tileserver cache warm` on the cluster (when dask_scheduler is set): every image a build task on the workers.

Coarse first: the smallest files are submitted first and with the highest priority, so that many images become
viewable early and the big ones fill the rest of the run. Resumable: an image already published in the store is
skipped up front (and a task finds it published if another run got there first), so a warm run interrupted at any
point is simply run again. The tasks are the same as the nodes' (key `build-<identity>`): an image a viewer opens
during the warm is built once, not twice.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import TextIO

from .. import config
from ..errors import TileServerError
from . import builds

BAR = 30  # characters of the progress bar


def warm_on_cluster(settings: config.Settings, images: list[str], out: TextIO = sys.stderr) -> int:
    """Build every image on the workers; returns the number of failures."""
    from distributed import Client, as_completed

    from ..engine import Engine
    from ..iip import InfoQuery
    from ..store.objectstore import ObjectStore

    engine = Engine(dataclasses.replace(settings, access_file=""))
    remote, data = engine.remote, Path(settings.data_dir)
    engine.identity = remote.identity if remote else builds.identity(data)
    store = ObjectStore(settings.store_url)

    def size(rel: str) -> int:
        return (remote.head(rel) or {"size": 0})["size"] if remote else (data / rel).stat().st_size

    ordered = sorted(images, key=lambda rel: (size(rel), rel))
    keys = {rel: engine.key_for(InfoQuery(fif=rel, selector=None))[1] for rel in ordered}
    todo = [rel for rel in ordered if store.manifest(keys[rel]) is None]
    done, failures, start = len(ordered) - len(todo), 0, time.monotonic()
    _bar(out, done, len(ordered), failures, start)
    with Client(settings.dask_scheduler, timeout=30, set_as_default=False) as client:
        futures = {client.submit(builds.build_task, builds.job_for(settings, rel, keys[rel]),
                                 key=builds.task_key(keys[rel]), pure=False, priority=len(todo) - i): rel
                   for i, rel in enumerate(todo)}
        for future in as_completed(futures, loop=client.loop):
            try:
                future.result()
            except Exception as e:
                reason = e.message if isinstance(e, TileServerError) else type(e).__name__
                out.write(f"\nfailed  {futures[future]}: {reason}\n")
                failures += 1
            done += 1
            _bar(out, done, len(ordered), failures, start)
    out.write("\n")
    return failures


def _bar(out: TextIO, done: int, total: int, failures: int, start: float) -> None:
    filled = BAR * done // max(1, total)
    line = f"warm [{'#' * filled}{'.' * (BAR - filled)}] {done}/{total} images"
    if failures:
        line += f", {failures} failed"
    line += f", {time.monotonic() - start:.0f} s"
    out.write(("\r" if out.isatty() else "\n") + line)
    out.flush()
