"""Build progress shared by every worker process: one small JSON file per build in progress.

The builder rewrites `<cache_dir>/progress/<key>.json` atomically (write + rename) at most every `min_interval`
seconds, and at each change of stage; any process reads it. Files are keyed by the cache key, so a rebuilt file
(new size or mtime) has a board entry of its own. A finished build removes its file; a failed one leaves it until
the next build of that key or `clean`, and a reader that finds the record of a builder that is no longer running on
this machine (killed, crashed) drops it: "building" is said only while someone builds.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from .. import atomic

STALE_SECONDS = 3600.0


class ProgressBoard:
    def __init__(self, folder: Path, min_interval: float = 0.1) -> None:
        self.folder = folder
        self.min_interval = min_interval
        self._last: dict[str, tuple[float, str]] = {}  # key -> (monotonic time, stage) of its last write here
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def report(self, key: str, image: str, stage: str, fraction: float) -> None:
        """Record one step of a build (called by the builder's thread); throttled, never raises."""
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
                  "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)  # the cache folder may have been removed while serving
            atomic.write(self._path(key), json.dumps(record))
        except OSError:
            pass  # progress is a courtesy: a full disk must not fail the build itself

    def read(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or not isinstance(record.get("fraction"), (int, float)):
            return None
        if record.get("host", socket.gethostname()) == socket.gethostname() and not _alive(record.get("pid")):
            self.remove(key)  # its builder died: the build is not going on
            return None
        return record

    def remove(self, key: str) -> None:
        with self._lock:
            self._last.pop(key, None)
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError:
            pass

    def clean(self, max_age: float = STALE_SECONDS) -> None:
        """Remove the files of builds that stopped reporting long ago (failed or killed builders)."""
        now = time.time()
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            path = self.folder / name
            try:
                if now - path.stat().st_mtime > max_age:
                    path.unlink()
            except OSError:
                pass


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
