"""Files written whole or not at all: readers (other processes, other threads) see the old file or the new one,
never a half-written one."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write `data` (text as UTF-8) to `path` through a temporary file in the same folder, then rename it over
    `path`. The temporary name is this thread's own, so concurrent writers do not mix; the last complete file wins.
    On failure the temporary file is removed and the error raised."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    body = data.encode() if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
