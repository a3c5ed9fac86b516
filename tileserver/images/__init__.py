"""Image readers. `open_image` picks one by the file's first bytes, not its name."""

from __future__ import annotations

from pathlib import Path

from ..errors import UnsupportedImage
from .base import Chip, ImageSource

__all__ = ["Chip", "ImageSource", "open_image", "sniff"]


def sniff(path: Path) -> str | None:
    """'fits', 'raster' or None, from the magic bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head.startswith(b"\x1f\x8b"):
        return "fits"  # gzip'd FITS is the only compressed container we read
    if head[:4] in (b"II*\x00", b"MM\x00*") or head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return "raster"
    return None


def open_image(path: Path, selector: str | None = None, max_pixels: int = 2**31) -> ImageSource:
    kind = sniff(path)
    if kind == "fits":
        from .fits import open_fits

        return open_fits(path, selector, max_pixels)
    if kind == "raster":
        from .raster import open_raster

        return open_raster(path, selector, max_pixels)
    raise UnsupportedImage("the file is not an image the server can read (FITS, TIFF, PNG or JPEG)")
