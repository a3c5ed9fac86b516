"""FITS reader: image HDUs (primary or extension), every BITPIX, BSCALE/BZERO/BLANK, cubes as channels.

Uncompressed data are read with pread straight from the file, strip by strip, so memory stays bounded by the
strip whatever the image size; compressed or gzip'd data go through astropy's sections.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from ..errors import InvalidParameter, TooLarge, UnsupportedImage
from .base import Chip, ImageSource, header_to_dict

BITPIX_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
# Header cards that describe a single HDU's storage, not the image a viewer shows.
STORAGE_KEYS = ("SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK",
                "CHECKSUM", "DATASUM", "ZIMAGE", "ZBITPIX", "ZCMPTYPE")


def is_image_hdu(hdu: Any) -> bool:
    return isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and len(_axes(hdu.header)) >= 2


def _axes(header: fits.Header) -> list[int]:
    """Axis lengths, FITS order (NAXIS1 first), of an image HDU's data; compressed HDUs expose the image's."""
    naxis = header.get("NAXIS", 0)
    if not isinstance(naxis, int) or naxis < 0 or naxis > 999:
        raise UnsupportedImage("the FITS header has an invalid NAXIS")
    axes = []
    for i in range(1, naxis + 1):
        n = header.get(f"NAXIS{i}")
        if not isinstance(n, int) or n < 0:
            raise UnsupportedImage(f"the FITS header has an invalid NAXIS{i}")
        axes.append(n)
    return axes


def list_extensions(hdul: fits.HDUList) -> list[dict[str, Any]]:
    out = []
    for i, hdu in enumerate(hdul):
        out.append({
            "index": i,
            "name": hdu.name,
            "type": type(hdu).__name__,
            "shape": _axes(hdu.header) if hasattr(hdu, "header") else [],
            "image": is_image_hdu(hdu),
        })
    return out


def select_hdus(hdul: fits.HDUList, selector: str | None) -> list[int]:
    """Indices of the HDUs to show: the selected one, or else the first image HDU."""
    if selector:
        index = _find_selected(hdul, selector)
        if not is_image_hdu(hdul[index]):
            raise UnsupportedImage(f"extension [{selector}] holds no image")
        return [index]
    for i, hdu in enumerate(hdul):
        if is_image_hdu(hdu):
            return [i]
    raise UnsupportedImage("the FITS file holds no image HDU")


def _find_selected(hdul: fits.HDUList, selector: str) -> int:
    if selector.isdigit():
        index = int(selector)
        if index >= len(hdul):
            raise InvalidParameter(f"the file has no extension [{selector}] (it has {len(hdul)} HDUs)")
        return index
    name, _, ver = selector.partition(",")
    for i, hdu in enumerate(hdul):
        if hdu.name.upper() == name.strip().upper() and (not ver or str(hdu.ver) == ver.strip()):
            return i
    raise InvalidParameter(f"the file has no extension named [{selector}]")


def open_fits(path: Path, selector: str | None, max_pixels: int) -> ImageSource:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False, do_not_scale_image_data=True)
    except (OSError, ValueError, TypeError, IndexError, KeyError) as e:
        raise UnsupportedImage(f"not a readable FITS file ({_short(e)})") from None
    try:
        indices = select_hdus(hdul, selector)
        return _open_hdu(path, hdul, indices[0], max_pixels)
    except Exception:
        hdul.close()
        raise


def _short(e: Exception) -> str:
    # astropy messages may name the file; keep the first sentence without any path.
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text.split(": '/")[0][:200]


def _open_hdu(path: Path, hdul: fits.HDUList, index: int, max_pixels: int) -> ImageSource:
    hdu = hdul[index]
    header = hdu.header
    axes = _axes(header)
    if any(n == 0 for n in axes):
        raise UnsupportedImage("the image has a zero-sized axis")
    width, height = axes[0], axes[1]
    # Every axis beyond the second becomes a channel; degenerate (length 1) axes vanish in the product.
    nchannels = math.prod(axes[2:])
    if width * height > max_pixels:
        raise TooLarge(f"the image has {width} x {height} pixels, over the server's limit of {max_pixels}")
    if nchannels > 4096:
        raise TooLarge(f"the image has {nchannels} channels, over the limit of 4096")
    bitpix = header.get("BITPIX")
    if bitpix not in BITPIX_DTYPES and not isinstance(hdu, fits.CompImageHDU):
        raise UnsupportedImage(f"unsupported BITPIX {bitpix!r}")
    scale = _scaling(header, bitpix)
    extensions = list_extensions(hdul)
    if isinstance(hdu, fits.CompImageHDU) or _is_gzip(path):
        read = _section_reader(hdul, hdu, width, height, nchannels, scale)
        close = hdul.close
    else:
        read = _pread_reader(path, hdul.fileinfo(index)["datLoc"], bitpix, width, height, nchannels, scale)
        close = read.close  # type: ignore[attr-defined]
        hdul.close()
    meta = header_to_dict(header)
    public = {k: v for k, v in meta.items() if k not in STORAGE_KEYS}
    chip = Chip(
        size=(width, height),
        dataslice=[[1, width, 1], [1, height, 1]],
        detslice=[[1, width, 1], [1, height, 1]],
        header=public,
    )
    return ImageSource(
        read=read,
        width=width,
        height=height,
        nchannels=nchannels,
        bits_per_channel=abs(int(header.get("ZBITPIX", bitpix) or 32)),
        header=public,
        chips=[chip],
        kind="fits",
        object_name=str(header.get("OBJECT", "")),
        extensions=extensions,
        close=close,
    )


def _scaling(header: fits.Header, bitpix: int | None) -> tuple[float, float, int | None]:
    bscale = header.get("BSCALE", 1.0)
    bzero = header.get("BZERO", 0.0)
    blank = header.get("BLANK") if bitpix in (8, 16, 32, 64) else None
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (bscale, bzero)):
        raise UnsupportedImage("the FITS header has an invalid BSCALE or BZERO")
    return float(bscale), float(bzero), blank if isinstance(blank, int) else None


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _apply_scaling(raw: np.ndarray, out: np.ndarray, scale: tuple[float, float, int | None]) -> None:
    """out = raw * bscale + bzero, flipped so that the top row comes first; BLANK -> NaN."""
    bscale, bzero, blank = scale
    flipped = raw[::-1]
    if bscale == 1.0 and bzero == 0.0:
        out[...] = flipped
    else:
        np.multiply(flipped, np.float32(bscale) if raw.dtype.itemsize <= 2 else bscale, out=out, casting="unsafe")
        out += np.float32(bzero)
    if blank is not None:
        out[flipped == blank] = np.nan


def _pread_reader(path: Path, offset: int, bitpix: int, width: int, height: int, nchannels: int,
                  scale: tuple[float, float, int | None]):
    dtype = np.dtype(BITPIX_DTYPES[bitpix])
    row_bytes = width * dtype.itemsize
    plane_bytes = row_bytes * height
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if offset + plane_bytes * nchannels > size:
        os.close(fd)
        raise UnsupportedImage("the FITS file is truncated: its data are shorter than its header says")

    def read(y0: int, y1: int) -> np.ndarray:
        out = np.empty((nchannels, y1 - y0, width), np.float32)
        # Display row y is FITS row height-1-y: the strip is the file rows [height-y1, height-y0), reversed.
        first = height - y1
        nbytes = (y1 - y0) * row_bytes
        for c in range(nchannels):
            buf = os.pread(fd, nbytes, offset + c * plane_bytes + first * row_bytes)
            if len(buf) != nbytes:
                raise UnsupportedImage("the FITS file is truncated")
            raw = np.frombuffer(buf, dtype).reshape(y1 - y0, width)
            _apply_scaling(raw, out[c], scale)
        return out

    read.close = lambda: os.close(fd)  # type: ignore[attr-defined]
    return read


def _section_reader(hdul: fits.HDUList, hdu: Any, width: int, height: int, nchannels: int,
                    scale: tuple[float, float, int | None]):
    lock = threading.Lock()  # astropy sections share one file handle
    compressed = isinstance(hdu, fits.CompImageHDU)

    def read(y0: int, y1: int) -> np.ndarray:
        out = np.empty((nchannels, y1 - y0, width), np.float32)
        first = height - y1
        with lock:
            for c in range(nchannels):
                if nchannels == 1:
                    raw = hdu.section[..., first:height - y0, :] if compressed else hdu.section[first:height - y0, :]
                else:
                    raw = hdu.section[np.unravel_index(c, _extra_shape(hdu))][first:height - y0, :] \
                        if not compressed else hdu.section[c, first:height - y0, :]
                raw = np.asarray(raw).reshape(y1 - y0, width)
                if compressed:  # astropy already applied the compressed HDU's scaling
                    out[c] = raw[::-1]
                else:
                    _apply_scaling(raw, out[c], scale)
        return out

    return read


def _extra_shape(hdu: Any) -> tuple[int, ...]:
    return tuple(hdu.header[f"NAXIS{i}"] for i in range(hdu.header["NAXIS"], 2, -1))
