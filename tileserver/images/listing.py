"""Listing of the data folder for the viewer's image browser: sub-folders and images, each image marked as cached
or not. Paths are confined like FIF paths; entries whose real path leaves the data folder are not listed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import datapath
from ..access import Grant
from ..store.diskcache import MANIFEST, DiskCache, cache_key

# Suffixes the readers understand (they sniff the bytes; the listing goes by name to stay cheap on big folders).
IMAGE_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
MAX_ENTRIES = 5000


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def is_cached(cache: DiskCache, path: Path, tile_size: int) -> bool:
    # Looks for the manifest instead of calling cache.get(), which would count as a use and disturb the LRU order.
    try:
        key = cache_key(path, None, tile_size)
    except OSError:
        return False
    return (cache.entries / key / MANIFEST).is_file()


def list_folder(data_dir: Path, relative: str, cache: DiskCache, tile_size: int,
                grant: Grant | None = None) -> dict[str, Any]:
    """{"path", "parent", "entries": [{"name", "path", "type": "folder"|"image", "size", "mtime", "cached"}],
    "truncated"}: folders first, then images, each sorted by name; hidden entries are skipped, and so are those
    the grant (access control) does not let its user see."""
    folder = datapath.resolve(data_dir, relative, "path", want_dir=True, grant=grant)
    root = os.path.realpath(data_dir)
    rel_folder = os.path.relpath(folder, root)
    rel_folder = "" if rel_folder == "." else rel_folder.replace(os.sep, "/")
    folders: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    truncated = False
    with os.scandir(folder) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            if len(folders) + len(images) >= MAX_ENTRIES:
                truncated = True
                break
            item = _describe(entry, root, rel_folder, cache, tile_size)
            if item is not None and (grant is None or _granted(grant, item, root)):
                (folders if item["type"] == "folder" else images).append(item)
    folders.sort(key=lambda e: e["name"].lower())
    images.sort(key=lambda e: e["name"].lower())
    parent = None if not rel_folder else (rel_folder.rpartition("/")[0])
    return {"path": rel_folder, "parent": parent, "entries": folders + images, "truncated": truncated}


def _granted(grant: Grant, item: dict[str, Any], root: str) -> bool:
    """The user may open the entry, both as listed and where it really is (a link may lead into another folder)."""
    may = grant.may_enter if item["type"] == "folder" else grant.may_read
    real = os.path.relpath(os.path.realpath(os.path.join(root, item["path"])), root).replace(os.sep, "/")
    return may(item["path"]) and may(real)


def _describe(entry: os.DirEntry[str], root: str, rel_folder: str, cache: DiskCache,
              tile_size: int) -> dict[str, Any] | None:
    real = os.path.realpath(entry.path)
    # A symlink leading out of the data folder would be refused when opened: do not offer it.
    if not real.startswith(root + os.sep):
        return None
    path = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
    try:
        if entry.is_dir():
            return {"name": entry.name, "path": path, "type": "folder"}
        if not entry.is_file() or not is_image_name(entry.name):
            return None
        st = entry.stat()
    except OSError:
        return None
    return {"name": entry.name, "path": path, "type": "image", "size": st.st_size, "mtime": st.st_mtime,
            "cached": is_cached(cache, Path(real), tile_size)}
