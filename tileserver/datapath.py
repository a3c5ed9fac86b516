"""Confinement of client-supplied paths to the data folder.

Two answers, chosen so that a client learns nothing about the server's files:
- 403 for a path refused by its spelling alone (absolute, `..`, backslashes, control characters, too long), before
  any file is looked at;
- 404 with one message, "no such image", for whatever the file system decides: missing, a symlink leading out,
  not a regular file (folder, FIFO, device), unreadable. A symlink out is never followed far enough to tell whether
  its target exists.
Percent-decoding happens once, in the web layer: a `%2e%2e` that arrives here is a file name, not a `..`.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import Forbidden, ImageNotFound

if TYPE_CHECKING:
    from .access import Grant

MAX_PATH_LENGTH = 1024
MAX_NAME_LENGTH = 255  # bytes per path component: the limit of Linux file systems
PROC_FD = "/proc/self/fd"
NOT_FOUND = {False: "no such image", True: "no such folder"}
OUTSIDE = "the path must be relative to the data folder and stay inside it"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_spelling(relative: str, param: str = "FIF") -> list[str]:
    """The path's components, or Forbidden for a path that could only mean to leave the data folder."""
    if len(relative) > MAX_PATH_LENGTH:
        raise Forbidden("the path is too long", param)
    # Backslashes would be separators on Windows (and in UNC names); control characters have no place in a name and
    # would end up in logs; lone surrogates (from JSON) cannot name a file.
    if "\\" in relative or _CONTROL.search(relative) or not _encodable(relative):
        raise Forbidden("the path holds characters that are not allowed", param)
    if relative.startswith(("/", "~")):
        raise Forbidden(OUTSIDE, param)
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Forbidden(OUTSIDE, param)
    if any(len(p.encode()) > MAX_NAME_LENGTH for p in parts):
        raise Forbidden("the path has a name that is too long", param)
    return parts


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def resolve(data_dir: Path, relative: str, param: str = "FIF", want_dir: bool = False,
            grant: Grant | None = None) -> Path:
    """The real path of `relative` inside data_dir (symlinks followed, and still inside), or a domain error.

    With a grant (access control on), its user must be allowed both the path as written and the path it resolves
    to: a symlink from a public folder into a private one does not open the private one.
    """
    parts = check_spelling(relative.strip(" ") if not want_dir else relative.strip(" ").lstrip("/"), param)
    missing = ImageNotFound(NOT_FOUND[want_dir], param)
    denied = Forbidden("you are not allowed to see this " + ("folder" if want_dir else "image"), param)

    def allowed(rel: str) -> bool:
        return grant is None or (grant.may_enter(rel) if want_dir else grant.may_read(rel))

    if not allowed("/".join(parts)):
        raise denied
    root = os.path.realpath(data_dir)
    real = os.path.realpath(os.path.join(root, *parts))
    if real != root and not real.startswith(root + os.sep):
        raise missing  # a symlink leading out: answered like a missing file, its target never looked at
    if not allowed(os.path.relpath(real, root).replace(os.sep, "/")):
        raise denied
    try:
        mode = os.stat(real).st_mode
    except (OSError, ValueError):
        raise missing from None
    if want_dir != stat.S_ISDIR(mode) or not want_dir and not stat.S_ISREG(mode):
        # Directories, FIFOs and devices are never images; opening a FIFO would block the worker.
        raise missing
    if not os.access(real, os.R_OK if not want_dir else os.R_OK | os.X_OK):
        raise missing
    return Path(real)


@contextmanager
def pinned(data_dir: Path, real: Path, param: str = "FIF") -> Iterator[Path]:
    """A path to the very file `resolve` approved, that no later rename or symlink swap can redirect.

    The file is opened here one component at a time from the data folder, following no symlink (each step looks up a
    name inside the folder opened by the previous step, through /proc/self/fd/N, like openat), and the readers get
    /proc/self/fd/N: the file already open. Between `resolve` and this, a swap turns into "no such image".
    """
    root = os.path.realpath(data_dir)
    parts = Path(os.path.relpath(real, root)).parts
    if not os.path.isdir(PROC_FD) or not parts or parts[0] == "..":
        raise ImageNotFound(NOT_FOUND[False], param)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            step = os.open(f"{PROC_FD}/{fd}/{part}", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            os.close(fd)
            fd = step
        # O_NONBLOCK: should a FIFO have been swapped in, opening it must not wait for a writer.
        file_fd = os.open(f"{PROC_FD}/{fd}/{parts[-1]}",
                          os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        raise ImageNotFound(NOT_FOUND[False], param) from None
    finally:
        os.close(fd)
    try:
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            raise ImageNotFound(NOT_FOUND[False], param)
        yield Path(f"{PROC_FD}/{file_fd}")
    finally:
        os.close(file_fd)
