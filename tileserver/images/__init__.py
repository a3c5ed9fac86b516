"""Image readers. `open_image` picks one by the file's first bytes, not its name."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import TileServerError, TooLarge, UnsupportedImage
from .base import Chip, ImageSource

__all__ = ["Chip", "ImageSource", "open_image", "over_budget", "sniff"]


def over_budget(nbytes: int, max_bytes: int) -> TooLarge:
    return TooLarge(f"decoding this image would take about {nbytes // 2**20} MB of memory, over the server's "
                    f"per-request budget (max_request_bytes, {max_bytes // 2**20} MB)")


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
    if head.startswith((b"II*\x00", b"MM\x00*", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):  # TIFF, PNG, JPEG
        return "raster"
    return None


def open_image(path: Path, selector: str | None = None, max_pixels: int = 2**31,
               max_header_bytes: int = 8 << 20, max_bytes: int = 2**62) -> ImageSource:
    """Open an image for reading (headers only: no pixel is read yet). `selector` picks a FITS extension (index or
    EXTNAME[,EXTVER]) or a TIFF page; images over max_pixels pixels per channel are refused (TooLarge), and so are
    those a reader would have to decode whole into more than max_bytes of memory (a PNG, a .fits.gz...)."""
    try:
        st = os.stat(path)
    except OSError:
        raise UnsupportedImage("the file cannot be read") from None
    kind = sniff(path)
    if kind == "fits":
        from .fits import open_fits

        source = open_fits(path, selector, max_pixels, max_header_bytes, max_bytes)
    elif kind == "raster":
        from .raster import open_raster

        source = open_raster(path, selector, max_pixels, max_bytes)
    else:
        raise UnsupportedImage("the file is not an image the server can read (FITS, TIFF, PNG or JPEG)")
    source.origin = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    source.read = checked_reader(source.read, source.width)
    return source


DAMAGED = "the image's pixels cannot be decoded: the file is damaged (or was rewritten while it was read)"


def checked_reader(read: Callable[[int, int, int], np.ndarray], width: int) -> Callable[[int, int, int], np.ndarray]:
    """A reader that gives exactly what it promises, (y1 - y0, width) rows, or a clear UnsupportedImage (415): a
    decoder's own failure on damaged data (Pillow, astropy and zlib raise many kinds) or rows of another shape
    (a header at odds with its data) never reach the caller as anything else."""
    def read_checked(channel: int, y0: int, y1: int) -> np.ndarray:
        try:
            rows = read(channel, y0, y1)
        except TileServerError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, OSError, EOFError, SyntaxError, ArithmeticError,
                struct.error, zlib.error):
            raise UnsupportedImage(DAMAGED) from None
        if getattr(rows, "shape", None) != (y1 - y0, width):
            raise UnsupportedImage(DAMAGED)
        return rows

    return read_checked
