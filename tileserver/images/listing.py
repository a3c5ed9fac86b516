"""Listing of the data folder for the viewer's image browser: sub-folders and images, each image marked as cached
or not. Paths are confined like FIF paths; entries whose real path leaves the data folder are not listed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import datapath
from ..access import Grant
from ..errors import TileServerError
from ..store.diskcache import MANIFEST, DiskCache, cache_key
from .fitswalk import image_hdus

# Suffixes the readers understand (they sniff the bytes; the listing goes by name to stay cheap on big folders).
IMAGE_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
MAX_ENTRIES = 5000
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
MAX_WALKED_GZIP = 64 << 20  # a compressed file is read through to find its HDUs: only below this size
_walked: dict[tuple[str, int, float], list[dict[str, Any]] | None] = {}  # (real path, size, mtime) -> HDUs


def fits_images(data_dir: Path, real: str, size: int, mtime: float) -> list[dict[str, Any]] | None:
    """The image HDUs of a listed FITS file (see fitswalk.image_hdus), remembered while the file is unchanged;
    None when unknown (unreadable, or a big compressed file)."""
    key = (real, size, mtime)
    if key not in _walked:
        if real.lower().endswith(".gz") and size > MAX_WALKED_GZIP:
            return None
        try:
            with datapath.pinned(data_dir, Path(os.path.realpath(data_dir)) / real, "path") as pinned:
                hdus = image_hdus(pinned)
        except (OSError, TileServerError):  # a file that cannot be opened is listed without its HDUs
            hdus = None
        if len(_walked) > 10_000:
            _walked.clear()
        _walked[key] = hdus
    return _walked[key]


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def is_cached(cache: DiskCache, path: Path, tile_size: int) -> bool:
    try:
        key = cache_key(path, None, tile_size)
    except OSError:
        return False
    return (cache.entries / key / MANIFEST).is_file()  # a listing of thousands: the file's presence is enough


def list_folder(data_dir: Path, relative: str, cache: DiskCache, tile_size: int,
                grant: Grant | None = None) -> dict[str, Any]:
    """{"path", "parent", "entries": [{"name", "path", "type": "folder"|"image", "size", "mtime", "cached",
    "hdus"?}], "truncated"}: folders first, then images, each sorted by name; hidden entries are skipped, and so
    are those the grant (access control) does not let its user see, and FITS files holding no image (tables
    only). A FITS file of several image HDUs lists them in "hdus": [{"index", "name", "shape"}], each openable
    as path[index]."""
    listed = datapath.listdir(data_dir, relative, "path", grant=grant, limit=MAX_ENTRIES)
    folder = datapath.resolve(data_dir, relative, "path", want_dir=True, grant=grant)
    root = os.path.realpath(data_dir)
    rel_folder = os.path.relpath(folder, root)
    rel_folder = "" if rel_folder == "." else rel_folder.replace(os.sep, "/")
    folders: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    truncated = len(listed) > MAX_ENTRIES
    for entry in listed[:MAX_ENTRIES]:
        item: dict[str, Any]
        if entry.is_dir:
            item = {"name": entry.name, "path": entry.path, "type": "folder"}
        elif is_image_name(entry.name):
            item = {"name": entry.name, "path": entry.path, "type": "image", "size": entry.size,
                    "mtime": entry.mtime, "cached": is_cached(cache, Path(root) / entry.real, tile_size)}
            if entry.name.lower().endswith(FITS_SUFFIXES):
                hdus = fits_images(data_dir, entry.real, entry.size, entry.mtime)
                if hdus == []:
                    continue  # tables only: nothing to show
                if hdus and len(hdus) > 1:
                    item["hdus"] = hdus
        else:
            continue
        if grant is None or _granted(grant, item, entry.real):
            (folders if item["type"] == "folder" else images).append(item)
    folders.sort(key=lambda e: e["name"].lower())
    images.sort(key=lambda e: e["name"].lower())
    parent = None if not rel_folder else (rel_folder.rpartition("/")[0])
    return {"path": rel_folder, "parent": parent, "entries": folders + images, "truncated": truncated}


def _granted(grant: Grant, item: dict[str, Any], real: str) -> bool:
    """The user may open the entry, both as listed and where it really is (a link may lead into another folder)."""
    may = grant.may_enter if item["type"] == "folder" else grant.may_read
    return may(item["path"]) and may(real)
