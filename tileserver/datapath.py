"""Confinement of client-supplied paths to the data folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import Forbidden, ImageNotFound

MAX_PATH_LENGTH = 1024


def resolve(data_dir: Path, relative: str, param: str = "FIF", want_dir: bool = False) -> Path:
    """The real path of `relative` inside data_dir, or an error that names no server path.

    Symlinks are followed and the result must still lie inside data_dir: a link leading out is refused like `..`.
    """
    if len(relative) > MAX_PATH_LENGTH:
        raise Forbidden("the path is too long", param)
    if "\x00" in relative or "\\" in relative:
        raise Forbidden("the path holds characters that are not allowed", param)
    cleaned = relative.strip().lstrip("/") if want_dir else relative.strip()
    if cleaned.startswith(("/", "~")) or ".." in Path(cleaned).parts:
        raise Forbidden("the path must be relative to the data folder and stay inside it", param)
    root = os.path.realpath(data_dir)
    real = os.path.realpath(os.path.join(root, cleaned))
    if real != root and not real.startswith(root + os.sep):
        raise Forbidden("the path must be relative to the data folder and stay inside it", param)
    try:
        mode = os.stat(real).st_mode
    except OSError:
        raise ImageNotFound("no such image" if not want_dir else "no such folder", param) from None
    if want_dir:
        if not stat.S_ISDIR(mode):
            raise ImageNotFound("no such folder", param)
    elif not stat.S_ISREG(mode):
        # Directories, FIFOs and devices are never images; opening a FIFO would block the worker.
        raise ImageNotFound("no such image", param)
    elif not os.access(real, os.R_OK):
        raise ImageNotFound("no such image", param)
    return Path(real)
