"""The manifest of a cache entry (manifest.json), typed: what the builder writes, what an open image describes.

A manifest is plain JSON on disk and a plain dict in memory; these TypedDicts name its fields for the type checker,
so that every module reads the same fields under the same names. Its parts:

- `Built`, written by the pyramid builder (store/pyramid.py): geometry, level files, where the full resolution is;
- `Described`, what INFO tells of the image besides its pixels: per-channel statistics (display/stats.ChannelStats)
  and the image's description (`ImageMeta`), taken when the image is first opened (lifecycle.py);
- `Manifest`, a published entry: both, and what the disk cache adds when it publishes (key, checksums...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict, cast

from ..display.stats import ChannelStats


class LevelFile(TypedDict):
    z: int
    name: str
    bytes: int


class Checksums(TypedDict):
    name: str
    bytes: int


class ImageMeta(TypedDict):
    """The image part of a manifest: what INFO tells of the source besides its pixels."""

    name: str  # as the client names it: path[selector]
    kind: str  # "fits" or "raster"
    object_name: str
    bits_per_channel: int
    header: dict[str, Any]
    chips: list[dict[str, Any]]
    channel_names: list[str]
    extensions: list[dict[str, Any]]
    cuts: str  # "stats" or "type": first-view cuts from the statistics or from the type's range
    type_range: Sequence[float] | None
    mix: str


class Built(TypedDict):
    """What the pyramid builder writes."""

    format: int
    source: dict[str, Any]  # the file's size and mtime_ns
    geometry: dict[str, int]
    levels: int
    full_resolution: str  # "stored", or "source" (read from the file itself: a regular layout)
    files: list[LevelFile]
    build_seconds: float


class Described(TypedDict):
    """What an open image knows of itself, built or not."""

    stats: list[ChannelStats]
    image: ImageMeta
    identity: list[int]  # the file's identity (device, inode, size, times) when it was read


class TierRef(TypedDict):
    store: str
    key: str


class Manifest(Built, Described, total=False):
    """A published entry. The disk cache adds these fields when it publishes; a tier entry names its origin."""

    key: str
    created: float
    build_id: str
    checksums: Checksums
    tier: TierRef  # cluster/tier.py


def parse(data: object, version: int | None = None) -> Manifest | None:
    """A manifest read back from JSON (a file, the object store), or None unless it is one (of format `version`,
    when given)."""
    if not isinstance(data, dict) or (version is not None and data.get("format") != version):
        return None
    return cast(Manifest, data)  # written by the code above: the fields are there
