"""The extra folder (setting extra_dir): catalogs and region files offered to the viewer, listed and read with the
same confinement as images. Every user of the server sees the same extra files (the access rules cover images)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import datapath
from ..errors import NotFound, TileServerError

# Suffix -> (kind, format): what the viewer does with a file is decided by its name, as the image browser does.
FORMATS = {
    ".csv": ("catalog", "csv"), ".tsv": ("catalog", "csv"),
    ".json": ("catalog", "geojson"), ".geojson": ("catalog", "geojson"),
    ".xml": ("catalog", "votable"), ".vot": ("catalog", "votable"), ".votable": ("catalog", "votable"),
    ".reg": ("regions", "ds9"),
}
MAX_ENTRIES = 2000
MAX_DEPTH = 4
MAX_FILE_BYTES = 64 * 2**20  # a catalog or region file read whole into memory: past this, refused
NO_FILE = "no such file in the extra folder"


def format_of(name: str) -> tuple[str, str] | None:
    """(kind, format) of a file name, or None for a file the viewer cannot use."""
    return FORMATS.get(os.path.splitext(name.lower())[1])


def list_extra(extra_dir: str) -> dict[str, Any]:
    """{"entries": [{"name", "path", "kind", "format", "size"}], "truncated"}: usable files of the extra folder and
    its sub-folders (MAX_DEPTH deep), sorted by path; hidden names and links leading out are skipped, and each real
    folder is walked once, so link loops cost nothing. An unset extra_dir lists nothing."""
    entries: list[dict[str, Any]] = []
    if not extra_dir:
        return {"entries": entries, "truncated": False}
    root = Path(extra_dir)
    top = os.stat(datapath.resolve(root, "", "path", want_dir=True))
    truncated = _walk(root, "", 0, entries, {(top.st_dev, top.st_ino)})
    entries.sort(key=lambda e: e["path"].lower())
    return {"entries": entries, "truncated": truncated}


def _walk(root: Path, relative: str, depth: int, entries: list[dict[str, Any]], seen: set[tuple[int, int]]) -> bool:
    """Append the usable files under root/relative; True when MAX_ENTRIES cut the listing short."""
    try:
        listed = datapath.listdir(root, relative)
    except TileServerError:
        return False
    for entry in listed:
        if entry.identity in seen:
            continue  # a folder or file already listed under another name (a link, a loop)
        seen.add(entry.identity)
        if entry.is_dir:
            if depth + 1 < MAX_DEPTH and _walk(root, entry.path, depth + 1, entries, seen):
                return True
            continue
        found = format_of(entry.name)
        if found is None:
            continue
        if len(entries) >= MAX_ENTRIES:
            return True
        entries.append({"name": entry.name, "path": entry.path, "kind": found[0], "format": found[1],
                        "size": entry.size})
    return False


def resolve(extra_dir: str, relative: str) -> Path:
    """The real path of a file of the extra folder, confined like an image path (403 by spelling, else 404)."""
    if not extra_dir:
        raise NotFound("the server has no extra folder", "path")
    try:
        return datapath.resolve(Path(extra_dir), relative, "path")
    except NotFound:
        raise NotFound(NO_FILE, "path") from None


def read(extra_dir: str, relative: str) -> bytes:
    """The bytes of a file of the extra folder, read through the door (TooLarge past MAX_FILE_BYTES)."""
    path = resolve(extra_dir, relative)
    try:
        return datapath.read_resolved(Path(extra_dir), path, MAX_FILE_BYTES, "path")
    except NotFound:
        raise NotFound(NO_FILE, "path") from None
