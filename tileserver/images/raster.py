"""Raster reader (Pillow): TIFF, PNG and JPEG, grey or colour, 8, 16 or 32 bits, multi-page TIFF as channels.

A raster is shown as itself by default: 8-bit rasters over 0-255, deeper colour ones over the range of their data,
deeper grey ones (detector frames) at zscale like FITS data (the engine's default cuts), gamma 1, colour images in
their own colours; a fully transparent pixel (alpha 0) is blank, as NaN is in FITS, and alpha is no channel of its
own. EXIF orientation is applied.

Memory: a TIFF whose 8- or 16-bit pages are stored uncompressed, in whole-width strips, is read straight from the
file a band of rows at a time, like a FITS file. Anything else is decoded by Pillow a whole page at once, so it
costs its decoded size in memory while it is built. Either way the pixel count is checked before anything is
decoded, and Pillow's own decompression-bomb limit follows ours.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image, ImageFile, ImageOps

from ..errors import InvalidParameter, TooLarge, UnsupportedImage
from .base import Chip, ImageSource
from .direct import DirectPixels, SourceFile, Strip

# Modes Pillow may open, and what we read them as: one band per channel, each 8, 16 or 32 bits.
CONVERT = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB",
           "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}
SIXTEEN = ("I;16", "I;16B", "I;16L", "I;16N")
BANDS = {"L": ("grey",), "LA": ("grey", "alpha"), "RGB": ("red", "green", "blue"),
         "RGBA": ("red", "green", "blue", "alpha"), "I": ("grey",), "F": ("grey",), **{m: ("grey",) for m in SIXTEEN}}
TYPE_RANGES = {"L": (0.0, 255.0), "LA": (0.0, 255.0), "RGB": (0.0, 255.0), "RGBA": (0.0, 255.0),
               **{m: (0.0, 65535.0) for m in SIXTEEN}}
BITS = {"I": 32, "F": 32, **{m: 16 for m in SIXTEEN}}
# TIFF raw modes whose bytes are the pixel values Pillow would decode: (mode, numpy type of one band).
STORED = {"L": ("L", "u1"), "LA": ("LA", "u1"), "RGB": ("RGB", "u1"), "RGBA": ("RGBA", "u1"),
          "I;16": ("I;16", "<u2"), "I;16B": ("I;16B", ">u2")}
ORIENTATION = 0x0112
MAX_PAGES = 4096  # pages become channels: as many as a FITS cube may have

_LIMIT = threading.Lock()  # Image.MAX_IMAGE_PIXELS is process-wide

Runs = list[tuple[int, int, int]]  # (first row, stop row, file offset) of rows stored one after the other


def open_raster(path: Path, selector: str | None, max_pixels: int, max_bytes: int = 2**62) -> ImageSource:
    try:
        with _LIMIT:
            # Pillow refuses images over twice its limit and warns over it: we refuse over it, with our message.
            # Pillow checks at open; the process-wide limit is put back for any other user of Pillow.
            previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = previous
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooLarge(f"the image has more pixels than the server's limit of {max_pixels}") from None
    except Exception:  # Pillow raises many kinds on a damaged file; all mean the same to the user
        raise UnsupportedImage("not a readable TIFF, PNG or JPEG file") from None
    try:
        width, height = image.size
        if width * height > max_pixels:
            raise TooLarge(f"the image has {width} x {height} pixels, over the server's limit of {max_pixels}")
        pages = _pages(image, selector)
        _check_pages(image, pages, max_pixels)
        stored = [_stored_runs(image, page) for page in pages]
        runs = [r for r in stored if r is not None]
        if len(runs) == len(stored):
            return _stored_source(path, image, pages, runs)
        need = _decoded_bytes(image, pages)
        if need > max_bytes:
            from . import over_budget

            raise over_budget(need, max_bytes)
        frames = [_decode(image, page, len(pages) > 1) for page in pages]
    except (TooLarge, InvalidParameter, UnsupportedImage):
        image.close()
        raise
    except Exception:
        image.close()
        raise UnsupportedImage("the image data cannot be decoded (truncated or damaged file)") from None
    source = _decoded_source(frames, pages, image.format or "")
    if image not in frames:
        image.close()  # its pixels live on, converted or copied, in the frames
    return source


def _check_pages(image: Image.Image, pages: list[int], max_pixels: int) -> None:
    """The limits on the pages that will really be decoded (a selected page is not page 0), before decoding."""
    for page in pages:
        image.seek(page)
        width, height = image.size
        if width * height > max_pixels:
            raise TooLarge(f"page {page} has {width} x {height} pixels, over the server's limit of {max_pixels}")
    image.seek(pages[0])


def _decoded_bytes(image: Image.Image, pages: list[int]) -> int:
    """Memory Pillow will hold for the pages decoded whole: the decoded page and its conversion."""
    width, height = image.size
    mode = image.mode
    bands = len(BANDS.get(CONVERT.get(mode, mode), ("r", "g", "b", "a")))
    sample = 4 if mode in ("I", "F") else 2 if mode in SIXTEEN else 1
    return len(pages) * width * height * bands * sample * 2


def _pages(image: Image.Image, selector: str | None) -> list[int]:
    """The pages to show: the selected one, or every page of the first page's size and mode (a TIFF's reduced
    resolutions and thumbnails are left out); more pages than MAX_PAGES are refused before they are walked."""
    count = getattr(image, "n_frames", 1)
    if count > MAX_PAGES and selector is None:
        raise TooLarge(f"the image has {count} pages, over the limit of {MAX_PAGES} channels")
    if selector is not None:
        if not selector.isdigit() or int(selector) >= count:
            raise InvalidParameter(f"the image has no page [{selector}] (it has pages 0 to {count - 1})")
        return [int(selector)]
    first = (image.size, image.mode)
    pages = []
    for page in range(count):
        image.seek(page)
        if (image.size, image.mode) == first:
            pages.append(page)
    image.seek(0)
    return pages


def _stored_runs(image: ImageFile.ImageFile, page: int) -> Runs | None:
    """Where the rows of a TIFF page lie in the file, if they are stored as Pillow would merely copy them
    (uncompressed, whole-width strips, no orientation to apply); None if the page must be decoded."""
    image.seek(page)
    if image.format != "TIFF" or image.mode not in BANDS or image.getexif().get(ORIENTATION, 1) != 1:
        return None
    width, height = image.size
    runs: Runs = []
    for codec, extents, offset, args in image.tile:
        if extents is None:
            return None
        x0, y0, x1, y1 = extents
        rawmode, stride, step = (tuple(args) + (0, 1))[:3] if isinstance(args, tuple) else (args, 0, 1)
        mode, dtype = STORED.get(rawmode, (None, "u1"))
        row_bytes = width * len(BANDS[image.mode]) * np.dtype(dtype).itemsize
        if codec != "raw" or (x0, x1) != (0, width) or mode != image.mode or stride not in (0, row_bytes) or step != 1:
            return None
        if runs and runs[-1][1] == y0 and runs[-1][2] + (y0 - runs[-1][0]) * row_bytes == offset:
            runs[-1] = (runs[-1][0], y1, runs[-1][2])  # the next strip follows in the file: one read for both
        else:
            runs.append((y0, y1, offset))
    runs.sort()
    if [r[0] for r in runs] != [0, *(r[1] for r in runs[:-1])] or runs[-1][1] != height:
        return None
    return runs


def _stored_source(path: Path, image: Image.Image, pages: list[int], stored: list[Runs]) -> ImageSource:
    mode, width = image.mode, image.size[0]
    nbands = len(BANDS[mode])
    dtype = np.dtype(STORED[mode][1])
    row_bytes = width * nbands * dtype.itemsize
    file_format = image.format or ""
    image.close()
    fd = os.open(path, os.O_RDONLY)
    end = max(offset + (stop - first) * row_bytes for runs in stored for first, stop, offset in runs)
    if end > os.fstat(fd).st_size:
        os.close(fd)
        raise UnsupportedImage("the TIFF file is truncated: its data are shorter than its header says")

    def read(channel: int, y0: int, y1: int) -> np.ndarray:
        page, band = divmod(channel, nbands)
        out = np.empty((y1 - y0, width), np.float32)
        for first, stop, offset in stored[page]:
            lo, hi = max(first, y0), min(stop, y1)
            if lo < hi:
                buf = os.pread(fd, (hi - lo) * row_bytes, offset + (lo - first) * row_bytes)
                if len(buf) != (hi - lo) * row_bytes:
                    raise UnsupportedImage("the TIFF file is truncated")
                out[lo - y0:hi - y0] = np.frombuffer(buf, dtype).reshape(hi - lo, width, nbands)[:, :, band]
        return out

    direct = DirectPixels(SourceFile(path), [[Strip(*run) for run in runs] for runs in stored], width,
                          image.size[1], nbands, dtype, lambda raw, out: np.copyto(out, raw, casting="unsafe"),
                          bottom_up=False)

    def close() -> None:
        os.close(fd)
        direct.close()

    source = _source(mode, image.size, pages, file_format, read, close, TYPE_RANGES[mode])
    source.direct = direct
    return source


def _decode(image: Image.Image, page: int, copy: bool) -> Image.Image:
    image.seek(page)
    image.load()
    frame = image.copy() if copy else image  # seeking to the next page would replace a frame we keep
    ImageOps.exif_transpose(frame, in_place=True)
    target = CONVERT.get(frame.mode, frame.mode)
    if target not in BANDS:
        raise UnsupportedImage(f"unsupported pixel mode {frame.mode}")
    if frame.mode == "P" and "transparency" in frame.info:
        target = "RGBA"
    return frame.convert(target) if target != frame.mode else frame


def _type_range(frames: list[Image.Image]) -> tuple[float, float] | None:
    """The display range of the pixel type, or of the data for 32-bit pixels (None if it has no finite extent)."""
    mode = frames[0].mode
    if mode in TYPE_RANGES:
        return TYPE_RANGES[mode]
    # Modes without a fixed range (I, F) have one band, so one (min, max) pair each.
    extrema = [cast(tuple[float, float], frame.getextrema()) for frame in frames]
    lo, hi = float(min(e[0] for e in extrema)), float(max(e[1] for e in extrema))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if mode == "F" and 0.0 <= lo and hi <= 1.0:
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def _decoded_source(frames: list[Image.Image], pages: list[int], file_format: str) -> ImageSource:
    width = frames[0].size[0]
    nbands = len(BANDS[frames[0].mode])

    def read(channel: int, y0: int, y1: int) -> np.ndarray:
        frame, band = divmod(channel, nbands)
        rows = np.asarray(frames[frame].crop((0, y0, width, y1)))
        return (rows[:, :, band] if rows.ndim == 3 else rows).astype(np.float32)

    def close() -> None:
        for frame in frames:
            frame.close()

    return _source(frames[0].mode, frames[0].size, pages, file_format, read, close, _type_range(frames))


def _alpha_as_blank(read: Callable[[int, int, int], np.ndarray], alpha: int) -> Callable[[int, int, int], np.ndarray]:
    """A reader of the colour bands only, where fully transparent pixels (alpha 0) are blank (NaN): the viewer
    shows them in the blank colour rather than offering the alpha band as a channel of its own."""
    def read_colour(channel: int, y0: int, y1: int) -> np.ndarray:
        colour = np.array(read(channel, y0, y1), np.float32)  # a copy: the reader's rows may be shared
        colour[read(alpha, y0, y1) == 0] = np.nan
        return colour

    return read_colour


def _source(mode: str, size: tuple[int, int], pages: list[int], file_format: str,
            read: Callable[[int, int, int], np.ndarray], close: Callable[[], None],
            type_range: tuple[float, float] | None) -> ImageSource:
    width, height = size
    bands = BANDS[mode]
    if len(pages) == 1 and bands[-1] == "alpha":
        read, bands = _alpha_as_blank(read, len(bands) - 1), bands[:-1]
    if len(pages) == 1:
        names = list(bands)
    elif len(bands) == 1:
        names = [f"page {p}" for p in pages]
    else:
        names = [f"page {p} {b}" for p in pages for b in bands]
    header: dict[str, Any] = {"FORMAT": file_format, "MODE": mode, "PAGES": len(pages)}
    whole = [[1, width, 1], [1, height, 1]]
    return ImageSource(
        read=read,
        width=width,
        height=height,
        nchannels=len(names),
        bits_per_channel=BITS.get(mode, 8),
        header=header,
        chips=[Chip(size=(width, height), dataslice=whole, detslice=whole, header=header)],
        kind="raster",
        channel_names=names,
        cuts="type" if type_range else "stats",
        type_range=type_range,
        mix="rgb" if len(pages) == 1 else "spectrum",
        close=close,
    )
