"""The one door: every file the server opens because of a request (images, extra files, catalogs, regions, the
manual, the client's files, listings of folders) is resolved, confined and opened here, and nowhere else.

Confinement of client-supplied paths to a served folder (the data folder, the extra folder, the manual...).

Two answers, chosen so that a client learns nothing about the server's files:
- 403 for a path refused by its spelling alone (absolute, `..`, backslashes, control characters, too long), before
  any file is looked at;
- 404 with one message, "no such image", for whatever the file system decides: missing, a symlink leading out,
  not a regular file (folder, FIFO, device), unreadable. A symlink out is never followed far enough to tell whether
  its target exists.
Percent-decoding happens once, in the web layer: a `%2e%2e` that arrives here is a file name, not a `..`.
Hidden names (a component starting with a dot: .git, .htpasswd, .ssh) are never served, as written or as a symlink
resolves; a name that is not UTF-8 cannot be asked for, so it is never listed either.

`sealed()` is the other half: while a parser reads user content (VOTable, ds9 regions, FITS headers, rasters), no
file or socket can be opened in that thread, whatever reference the content holds (see security.rst).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import FolderNotFound, Forbidden, ImageNotFound, TooLarge

if TYPE_CHECKING:
    from .access import Grant

MAX_PATH_LENGTH = 1024
MAX_NAME_LENGTH = 255  # bytes per path component: the limit of Linux file systems
PROC_FD = "/proc/self/fd"
NOT_FOUND = {False: "no such image", True: "no such folder"}
OUTSIDE = "the path must be relative to the data folder and stay inside it"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ROOTS: set[str] = set()  # the folders served through the door in this process (the test suite audits opens in them)
_local = threading.local()


def through_door() -> bool:
    """Whether this thread is inside one of the door's own opens (for the test suite's audit hook)."""
    return getattr(_local, "door", 0) > 0


@contextmanager
def _door() -> Iterator[None]:
    _local.door = getattr(_local, "door", 0) + 1
    try:
        yield
    finally:
        _local.door -= 1


def _root(folder: Path | str) -> str:
    root = os.path.realpath(folder)
    ROOTS.add(root)
    return root


def inside(root: str, real: str) -> bool:
    """Whether real is root or below it (also for root = '/', where root + '/' would be '//')."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _hidden(parts: list[str] | tuple[str, ...]) -> bool:
    return any(p.startswith(".") for p in parts)


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
    missing = (FolderNotFound if want_dir else ImageNotFound)(NOT_FOUND[want_dir], param)
    denied = Forbidden("you are not allowed to see this " + ("folder" if want_dir else "image"), param)

    def allowed(rel: str) -> bool:
        return grant is None or (grant.may_enter(rel) if want_dir else grant.may_read(rel))

    if _hidden(parts):
        raise missing  # .git, .htpasswd...: not there, as far as a client can tell
    if not allowed("/".join(parts)):
        raise denied
    root = _root(data_dir)
    real = os.path.realpath(os.path.join(root, *parts))
    if not inside(root, real):
        raise missing  # a symlink leading out: answered like a missing file, its target never looked at
    below = os.path.relpath(real, root).replace(os.sep, "/")
    if _hidden(below.split("/")) and real != root:
        raise missing  # a public name for a hidden file
    if not allowed(below if real != root else ""):
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


def open_pinned(data_dir: Path, real: Path, param: str = "FIF") -> int:
    """An open descriptor of the very file `resolve` approved, that no later rename or symlink swap can redirect.

    The file is opened one component at a time from the served folder, following no symlink (each step looks up a
    name inside the folder opened by the previous step, through /proc/self/fd/N, like openat). Between `resolve`
    and this, a swap turns into "no such image". The caller closes the descriptor.
    """
    root = _root(data_dir)
    parts = Path(os.path.relpath(real, root)).parts
    if not os.path.isdir(PROC_FD) or not parts or parts[0] == ".." or _hidden(parts):
        raise ImageNotFound(NOT_FOUND[False], param)
    with _door():
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
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise ImageNotFound(NOT_FOUND[False], param)
    return file_fd


@contextmanager
def pinned(data_dir: Path, real: Path, param: str = "FIF") -> Iterator[Path]:
    """A path to the very file `resolve` approved (/proc/self/fd/N: the file already open, see open_pinned), for
    readers that want a path."""
    file_fd = open_pinned(data_dir, real, param)
    try:
        yield Path(f"{PROC_FD}/{file_fd}")
    finally:
        os.close(file_fd)


def read_bytes(data_dir: Path, relative: str, limit: int, param: str = "path") -> bytes:
    """The whole content of a (small) file of a served folder: resolved, pinned, and refused past `limit` bytes
    before it is read."""
    real = resolve(data_dir, relative, param)
    return read_resolved(data_dir, real, limit, param)


def read_resolved(data_dir: Path, real: Path, limit: int, param: str = "path") -> bytes:
    fd = open_pinned(data_dir, real, param)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise TooLarge(f"the file is larger than {limit // 2**20} MB", param)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise TooLarge(f"the file is larger than {limit // 2**20} MB", param)  # it grew since fstat
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Entry:
    """One listed name of a served folder: `path` relative to the folder's root, `real` where it leads."""

    name: str
    path: str
    real: str
    is_dir: bool
    size: int
    mtime: float
    identity: tuple[int, int]  # (device, inode): a folder reached twice (by a link loop) is listed once


def listdir(data_dir: Path, relative: str, param: str = "path", grant: Grant | None = None,
            limit: int = 100_000) -> list[Entry]:
    """The entries of a folder of a served folder that a client may be told of: no hidden name, no name that is
    not UTF-8 (no client could ask for it, and JSON could not carry it), no link leading out or into a hidden
    name, no link loop (ELOOP entries vanish); folders and regular files only; at most limit + 1 entries (one more
    tells the caller the listing was cut), in name order."""
    folder = resolve(data_dir, relative, param, want_dir=True, grant=grant)
    root = _root(data_dir)
    below = os.path.relpath(folder, root).replace(os.sep, "/")
    below = "" if below == "." else below
    out: list[Entry] = []
    with _door():
        try:
            names = os.listdir(folder)
        except OSError:
            return out
        for name in sorted(names):
            if len(out) > limit:
                break
            if name.startswith(".") or not _encodable(name):
                continue
            full = os.path.join(folder, name)
            real = os.path.realpath(full)
            real_below = os.path.relpath(real, root).replace(os.sep, "/")
            if not inside(root, real) or real == root or _hidden(real_below.split("/")):
                continue
            try:
                st = os.stat(full)
            except (OSError, ValueError):
                continue  # a dangling link or a loop
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                continue
            path = f"{below}/{name}" if below else name
            out.append(Entry(name, path, real_below, stat.S_ISDIR(st.st_mode), st.st_size, st.st_mtime,
                             (st.st_dev, st.st_ino)))
    return out


# -- the seal: parsers of user content open nothing -----------------------------------------------------------

# Audit events that reach outside the process's memory: files, sockets, programs.
_BLOCKED = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "urllib.Request",
            "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "ftplib.connect",
            "http.client.connect", "smtplib.connect", "webbrowser.open")
_ALLOWED_PREFIXES: tuple[str, ...] = ()
_hook_installed = threading.Lock()
_installed: list[bool] = []


def _allowed_prefixes() -> tuple[str, ...]:
    """Where a sealed parser may still open files for reading: Python's library folders and this package (a lazy
    import), astropy's configuration and cache. Not sys.path as a whole: its first entry may be the working
    folder, and not /proc/self/fd: other requests' files are open there."""
    import sysconfig

    folders = {os.path.realpath(p) for p in sysconfig.get_paths().values() if os.path.isdir(p)}
    folders.add(os.path.realpath(os.path.dirname(__file__)))
    try:
        from astropy.config import get_cache_dir, get_config_dir

        folders |= {os.path.realpath(get_config_dir()), os.path.realpath(get_cache_dir())}
    except Exception:  # astropy without a writable home: nothing of its own to read then
        pass
    return tuple(sorted(f.rstrip(os.sep) + os.sep for f in folders))


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not getattr(_local, "sealed", 0):
        return
    if event == "open":
        target, mode = args[0], args[1] if len(args) > 1 else "r"
        if isinstance(target, int):
            return  # an already open descriptor
        text = os.fsdecode(target) if isinstance(target, (str, bytes)) else str(target)
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writing = writing or bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if not writing and (os.path.abspath(text).startswith(_ALLOWED_PREFIXES) or text in _local.allow):
            return
        raise PermissionError("this content refers to a file outside itself, which the server does not open")
    if event.startswith(_BLOCKED):
        raise PermissionError("this content refers to a resource outside itself, which the server does not open")


@contextmanager
def sealed(*allow: Path | str) -> Iterator[None]:
    """While parsing user content in this thread, nothing outside the content can be opened: files (but Python's
    own library, for lazy imports, descriptors already open and the paths in `allow`: the pinned file a reader was
    given), sockets, URLs, programs. An attempt raises PermissionError, whatever library makes it."""
    global _ALLOWED_PREFIXES
    with _hook_installed:
        if not _installed:
            _ALLOWED_PREFIXES = _allowed_prefixes()
            sys.addaudithook(_audit)
            _installed.append(True)
    previous: frozenset[str] = getattr(_local, "allow", frozenset())
    _local.allow = previous | {str(p) for p in allow}
    _local.sealed = getattr(_local, "sealed", 0) + 1
    try:
        yield
    finally:
        _local.sealed -= 1
        _local.allow = previous
