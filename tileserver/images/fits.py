"""FITS reader: primary or extension image HDUs, every BITPIX, BSCALE/BZERO/BLANK, cubes as channels, mosaics of
detectors assembled by DETSEC/DATASEC, tile-compressed HDUs and gzip'd files.

Only headers are read at open, and every size is checked against the limits before anything is allocated.
Uncompressed data are then read with pread straight from the file, a few rows at a time, so memory stays bounded
whatever the image size; tile-compressed HDUs decompress only the tiles a band of rows needs (astropy sections).
A gzip'd file has no random access: astropy decompresses each HDU we show whole into memory, so a .fits.gz costs
its uncompressed size in RAM while it is being built.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from ..errors import InvalidParameter, TooLarge, UnsupportedImage
from . import mosaic
from .base import Chip, ImageSource, header_to_dict
from .direct import DirectPixels, SourceFile, Strip
from .fitswalk import check_header_sizes
from .mosaic import Placement

BITPIX_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
MAX_CHANNELS = 4096
CHUNK_BYTES = 8 << 20  # raw bytes read and converted at a time from an uncompressed file
TALL_TILE = 1024  # compressed tiles taller than this are decompressed whole once, not again for every band
# Header cards that describe a single HDU's storage, not the image a viewer shows.
STORAGE_KEYS = ("SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK",
                "CHECKSUM", "DATASUM", "ZIMAGE", "ZBITPIX", "ZCMPTYPE")
# Cards that place one detector in a mosaic: meaningless in the header of the whole mosaic.
SECTION_KEYS = ("DATASEC", "DETSEC", "TRIMSEC", "BIASSEC", "CCDSEC", "AMPSEC")

# warnings.catch_warnings swaps process-wide state: one thread at a time.
_WARNINGS = threading.Lock()

# (channel, first, stop) -> FITS rows first <= r < stop (bottom first) of one channel, raw stored values.
RawRows = Callable[[int, int, int], np.ndarray]


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence astropy's warnings about sloppy or truncated files: we check the sizes ourselves."""
    with _WARNINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@dataclass
class Plane:
    """One image HDU: its size, its scaling and a reader of its raw rows."""

    index: int
    header: fits.Header
    width: int
    height: int
    nchannels: int
    bscale: float
    bzero: float
    blank: int | None
    rows: RawRows
    rows_per_read: int  # how many rows to ask `rows` for at a time
    data_offset: int | None = None  # where the data start in the file, when stored plainly (no compression)
    dtype: np.dtype | None = None
    random_access: bool = True  # False when the first read decompresses the whole HDU


# -- headers ------------------------------------------------------------------------------------------------------


def _axes(header: fits.Header) -> list[int]:
    """Axis lengths, FITS order (NAXIS1 first), of an image HDU's data; compressed HDUs expose the image's."""
    naxis = _get(header, "NAXIS", 0)
    if not isinstance(naxis, int) or naxis < 0 or naxis > 999:
        raise UnsupportedImage("the FITS header has an invalid NAXIS")
    axes = []
    for i in range(1, naxis + 1):
        n = _get(header, f"NAXIS{i}")
        if not isinstance(n, int) or n < 0:
            raise UnsupportedImage(f"the FITS header has an invalid NAXIS{i}")
        axes.append(n)
    return axes


def _get(header: fits.Header, key: str, default: Any = None) -> Any:
    try:  # an unparsable card (astropy raises VerifyError, among others) reads as None
        return header.get(key, default)
    except Exception:  # astropy parses a card's value on access: a damaged one fails there, in many ways
        return None


def _name(hdu: Any) -> str:
    try:
        return str(hdu.name)  # EXTNAME (PRIMARY for the first HDU)
    except Exception:  # astropy parses the card on access: a damaged one fails there
        return ""


def is_image_hdu(hdu: Any) -> bool:
    if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        return False
    axes = _axes(hdu.header)
    return len(axes) >= 2 and min(axes) > 0


def list_extensions(hdul: fits.HDUList) -> list[dict[str, Any]]:
    """Every HDU; one whose header is damaged is listed as holding no image, the others stay usable."""
    out = []
    for i, hdu in enumerate(hdul):
        try:
            shape, image = _axes(hdu.header), is_image_hdu(hdu)
        except UnsupportedImage:
            shape, image = [], False
        out.append({"index": i, "name": _name(hdu), "type": type(hdu).__name__, "shape": shape, "image": image})
    return out


def _public(header: fits.Header) -> dict[str, Any]:
    return {k: v for k, v in header_to_dict(header).items() if k not in STORAGE_KEYS}


def _extra_axes(axes: list[int]) -> list[tuple[int, int]]:
    """(FITS axis number, length) of the axes beyond the image plane that make channels; length-1 ones vanish."""
    return [(i + 1, n) for i, n in enumerate(axes) if i >= 2 and n > 1]


def _channel_indices(channel: int, extra: list[tuple[int, int]]) -> list[int]:
    """0-based index along each extra axis of a channel (the first extra axis varies fastest, as in the file)."""
    out = []
    for _, n in extra:
        channel, i = divmod(channel, n)
        out.append(i)
    return out


def channel_names(header: fits.Header, extra: list[tuple[int, int]]) -> list[str]:
    """A name per channel: the world coordinate of its plane along each extra axis ("FREQ 1.42e+09 Hz"), or its
    1-based index there ("axis 4 #2") when that axis has no linear WCS."""
    if not extra:
        return []
    count = math.prod(n for _, n in extra)
    names = []
    for channel in range(count):
        parts = []
        for (axis, _), i in zip(extra, _channel_indices(channel, extra)):
            ctype = str(header.get(f"CTYPE{axis}", "")).strip()
            crval, cdelt = header.get(f"CRVAL{axis}"), header.get(f"CDELT{axis}", header.get(f"CD{axis}_{axis}"))
            crpix = header.get(f"CRPIX{axis}", 1.0)
            if ctype and all(isinstance(v, (int, float)) for v in (crval, cdelt, crpix)):
                unit = str(header.get(f"CUNIT{axis}", "")).strip()
                parts.append(f"{ctype} {crval + (i + 1 - crpix) * cdelt:.6g}" + (f" {unit}" if unit else ""))
            else:
                parts.append(f"axis {axis} #{i + 1}")
        names.append(", ".join(parts))
    return names


# -- opening ------------------------------------------------------------------------------------------------------


def open_fits(path: Path, selector: str | None, max_pixels: int, max_header_bytes: int = 8 << 20,
              max_bytes: int = 2**62) -> ImageSource:
    check_header_sizes(path, max_header_bytes)
    try:
        with _quiet():
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False, do_not_scale_image_data=True)
    except Exception as e:  # astropy raises many kinds on a damaged file; all mean the same to the user
        raise UnsupportedImage(f"not a readable FITS file ({_short(e)})") from None
    fd = -1
    try:
        if len(hdul) == 0:
            raise UnsupportedImage("the FITS file is empty")
        fd = os.open(path, os.O_RDONLY)
        gzipped = os.pread(fd, 2, 0) == b"\x1f\x8b"
        lock = threading.Lock()  # astropy reads of one file share its handle

        def plane(index: int) -> Plane:
            return _plane(hdul, index, fd, gzipped, lock, max_pixels, max_bytes)

        source = _mosaic(hdul, plane, max_pixels) if not selector else None
        if source is None:
            chosen = plane(_select(hdul, selector))
            source = _single(hdul, chosen)
            source.random_access = chosen.random_access
            if chosen.data_offset is not None and not gzipped:
                source.direct = _direct(path, chosen)
    except Exception:
        if fd >= 0:
            os.close(fd)
        hdul.close()
        raise
    source.extensions = list_extensions(hdul)

    direct = source.direct  # not `source` itself in the closure: that would be a cycle, left to the collector

    def close() -> None:
        os.close(fd)
        hdul.close()
        if direct is not None:
            direct.close()

    source.close = close
    return source


def _short(e: Exception) -> str:
    # astropy messages may name the file; keep the first line without any path.
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text.split(": '/")[0].split(" '/")[0][:200]


def _select(hdul: fits.HDUList, selector: str | None) -> int:
    """Index of the HDU to show: the selected one, or else the first image HDU."""
    if selector:
        index = _find_selected(hdul, selector)
        if not is_image_hdu(hdul[index]):
            raise UnsupportedImage(f"extension [{selector}] holds no image")
        return index
    for i, hdu in enumerate(hdul):
        if is_image_hdu(hdu):
            return i
    raise UnsupportedImage("the FITS file holds no image HDU")


def _find_selected(hdul: fits.HDUList, selector: str) -> int:
    if selector.isdigit():
        index = int(selector)
        if index >= len(hdul):
            raise InvalidParameter(f"the file has no extension [{selector}] (it has {len(hdul)} HDUs)")
        return index
    name, _, ver = selector.partition(",")
    for i, hdu in enumerate(hdul):
        version = str(_get(hdu.header, "EXTVER", 1))
        if _name(hdu).upper() == name.strip().upper() and (not ver or version == ver.strip()):
            return i
    raise InvalidParameter(f"the file has no extension named [{selector}]")


def _plane(hdul: fits.HDUList, index: int, fd: int, gzipped: bool, lock: threading.Lock, max_pixels: int,
           max_bytes: int = 2**62) -> Plane:
    """Check an image HDU's sizes against the limits and the file, then set up the reading of its rows."""
    hdu = hdul[index]
    header = hdu.header
    axes = _axes(header)
    width, height = axes[0], axes[1]
    if width * height > max_pixels:
        raise TooLarge(f"the image has {width} x {height} pixels, over the server's limit of {max_pixels}")
    extra = _extra_axes(axes)
    nchannels = math.prod(n for _, n in extra)
    if nchannels > MAX_CHANNELS:
        raise TooLarge(f"the image has {nchannels} channels, over the limit of {MAX_CHANNELS}")
    bitpix = header.get("BITPIX")
    if bitpix not in BITPIX_DTYPES:
        raise UnsupportedImage(f"unsupported BITPIX {bitpix!r}")
    bscale, bzero, blank = header.get("BSCALE", 1.0), header.get("BZERO", 0.0), header.get("BLANK")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (bscale, bzero)):
        raise UnsupportedImage("the FITS header has an invalid BSCALE or BZERO")
    if bitpix < 0 or not isinstance(blank, int):
        blank = None  # floating-point data mark blanks as NaN
    dtype = np.dtype(BITPIX_DTYPES[bitpix])
    rows_per_read = height  # as many as asked for: a band of rows
    offset, random_access = None, True
    if isinstance(hdu, fits.CompImageHDU) and int(hdu.tile_shape[-2]) <= TALL_TILE:
        rows = _section_rows(hdu, len(axes), extra, lock)
        # Each read costs astropy milliseconds of set-up, and shares one lock with the build: previews made of
        # hundreds of single rows would wait for seconds. Built first, as a whole, with progress.
        random_access = False
    elif isinstance(hdu, fits.CompImageHDU) or gzipped:
        # Decompressed whole (a gzip stream has no random access): the budget is checked on what that will hold.
        need = nchannels * height * width * (dtype.itemsize + 4)
        if need > max_bytes:
            from . import over_budget

            raise over_budget(need, max_bytes)
        rows = _memory_rows(hdu, nchannels, height, width, lock)
        random_access = False
    else:
        offset = _data_offset(hdul, index)
        if offset + dtype.itemsize * width * height * nchannels > os.fstat(fd).st_size:
            raise UnsupportedImage("the FITS file is truncated: its data are shorter than its header says")
        rows = _pread_rows(fd, offset, dtype, width, height)
        rows_per_read = max(1, CHUNK_BYTES // (width * dtype.itemsize))
    return Plane(index, header, width, height, nchannels, float(bscale), float(bzero), blank, rows, rows_per_read,
                 offset, dtype, random_access)


def _direct(path: Path, plane: Plane) -> DirectPixels:
    """The plain data of an HDU read by offset: one stored plane per channel, FITS rows bottom first."""
    assert plane.data_offset is not None and plane.dtype is not None
    size = plane.width * plane.height * plane.dtype.itemsize
    pages = [[Strip(0, plane.height, plane.data_offset + c * size)] for c in range(plane.nchannels)]
    return DirectPixels(SourceFile(path), pages, plane.width, plane.height, 1, plane.dtype,
                        lambda raw, out: _to_float(raw, out, plane), bottom_up=True)


def _data_offset(hdul: fits.HDUList, index: int) -> int:
    """Where an HDU's data start in the file. fileinfo() verifies the header first and refuses a card it cannot
    parse; the offset astropy found while reading the header does not depend on that card."""
    try:
        with _quiet():
            return int(hdul.fileinfo(index)["datLoc"])
    except Exception:  # VerifyError and kin, for a header that is sloppy but readable
        offset = getattr(hdul[index], "_data_offset", None)
        if not isinstance(offset, int):
            raise UnsupportedImage("the FITS header cannot be read") from None
        return offset


def _pread_rows(fd: int, offset: int, dtype: np.dtype, width: int, height: int) -> RawRows:
    row_bytes = width * dtype.itemsize

    def rows(channel: int, first: int, stop: int) -> np.ndarray:
        nbytes = (stop - first) * row_bytes
        buf = os.pread(fd, nbytes, offset + (channel * height + first) * row_bytes)
        if len(buf) != nbytes:  # the file shrank since it was opened
            raise UnsupportedImage("the FITS file is truncated")
        return np.frombuffer(buf, dtype).reshape(stop - first, width)

    return rows


def _section_rows(hdu: fits.CompImageHDU, naxis: int, extra: list[tuple[int, int]], lock: threading.Lock) -> RawRows:
    """Rows of a tile-compressed HDU: astropy decompresses only the tiles they touch."""

    def rows(channel: int, first: int, stop: int) -> np.ndarray:
        index: list[Any] = [0] * naxis  # length-1 axes
        index[0], index[1] = slice(None), slice(first, stop)
        for (axis, _), i in zip(extra, _channel_indices(channel, extra)):
            index[axis - 1] = i
        try:
            with lock:
                data = hdu.section[tuple(reversed(index))]
        except Exception:  # astropy's messages about damaged tiles say nothing a user can act on
            raise UnsupportedImage("the compressed FITS data cannot be read (a damaged or truncated file)") from None
        return np.asarray(data).reshape(stop - first, -1)

    return rows


def _memory_rows(hdu: Any, nchannels: int, height: int, width: int, lock: threading.Lock) -> RawRows:
    """Rows of an HDU decompressed whole by astropy at the first read: that of a gzip'd file (a gzip stream cannot
    be read backwards, nor in pieces at a reasonable cost), or one compressed in tiles taller than TALL_TILE."""
    loaded: list[np.ndarray] = []

    def rows(channel: int, first: int, stop: int) -> np.ndarray:
        with lock:
            if not loaded:
                try:
                    with _quiet():
                        data = hdu.data
                except Exception as e:
                    raise UnsupportedImage(f"the FITS data cannot be read ({_short(e)})") from None
                if data is None or data.size != nchannels * height * width:
                    raise UnsupportedImage("the FITS file is truncated: its data are shorter than its header says")
                loaded.append(data.reshape(nchannels, height, width))
        return loaded[0][channel, first:stop]

    return rows


# -- pixels -------------------------------------------------------------------------------------------------------


def _to_float(raw: np.ndarray, out: np.ndarray, plane: Plane) -> None:
    """out = raw * BSCALE + BZERO in float32, BLANK -> NaN. Either may be a flipped view."""
    if plane.bscale == 1.0 and plane.bzero == 0.0:
        np.copyto(out, raw, casting="unsafe")
    elif raw.dtype.itemsize <= 2:  # as astropy, 8- and 16-bit data scale in float32
        np.multiply(raw, np.float32(plane.bscale), out=out, casting="unsafe")
        out += np.float32(plane.bzero)
    else:  # wider values scale in float64 and round once
        np.copyto(out, raw * plane.bscale + plane.bzero, casting="unsafe")
    if plane.blank is not None:
        out[raw == plane.blank] = np.nan


def _merged_header(hdul: fits.HDUList, plane: Plane) -> dict[str, Any]:
    """The HDU's cards over those of an empty primary HDU (which extensions inherit: OBJECT, TELESCOP...)."""
    primary = hdul[0]
    inherited = _public(primary.header) if plane.index and primary.header.get("NAXIS", 0) == 0 else {}
    for key in ("NAXIS", "NEXTEND"):
        inherited.pop(key, None)
    return {**inherited, **_public(plane.header)}


def _single(hdul: fits.HDUList, plane: Plane) -> ImageSource:
    whole = Placement.whole(plane)
    header = _merged_header(hdul, plane)
    return _source(plane, [whole], plane.width, plane.height, header, [whole.chip(_public(plane.header))])


def _source(first: Plane, placements: list[Placement], width: int, height: int, header: dict[str, Any],
            chips: list[Chip]) -> ImageSource:
    return ImageSource(
        read=mosaic.reader(placements, width, height, _to_float),
        width=width,
        height=height,
        nchannels=first.nchannels,
        bits_per_channel=abs(int(first.header["BITPIX"])),
        header=header,
        chips=chips,
        kind="fits",
        object_name=str(header.get("OBJECT", "")),
        channel_names=channel_names(first.header, _extra_axes(_axes(first.header))),
    )


# -- mosaics ------------------------------------------------------------------------------------------------------


def _mosaic_indices(hdul: fits.HDUList) -> list[int]:
    """The image HDUs to assemble: those with a DETSEC, if there are several; when EXTNAMEs repeat (SCI, VAR, DQ
    for each chip), only those named as the first."""
    found = [i for i, hdu in enumerate(hdul) if is_image_hdu(hdu) and mosaic.parse_section(hdu.header.get("DETSEC"))]
    names = [_name(hdul[i]) for i in found]
    if names and names.count(names[0]) > 1:
        found = [i for i, name in zip(found, names) if name == names[0]]
    return found if len(found) > 1 else []


def _mosaic(hdul: fits.HDUList, plane: Callable[[int], Plane], max_pixels: int) -> ImageSource | None:
    """The detectors of a multi-extension file assembled by DETSEC and DATASEC, or None if it is no mosaic."""
    planes = [plane(i) for i in _mosaic_indices(hdul)]
    sections = [(mosaic.parse_section(p.header.get("DATASEC")), mosaic.parse_section(p.header["DETSEC"]))
                for p in planes]
    placed = mosaic.layout(planes, sections) if planes else None
    if placed is None or any(p.nchannels != planes[0].nchannels for p in planes):
        return None
    placements, width, height = placed
    if width * height > max_pixels:
        raise TooLarge(f"the mosaic has {width} x {height} pixels, over the server's limit of {max_pixels}")
    header = _merged_header(hdul, planes[0])
    for key in SECTION_KEYS:
        header.pop(key, None)
    header["NAXIS1"], header["NAXIS2"] = width, height
    mosaic.move_wcs(header, placements[0])
    chips = [placement.chip(_public(p.header)) for placement, p in zip(placements, planes)]
    source = _source(planes[0], placements, width, height, header, chips)
    source.random_access = all(p.random_access for p in planes)
    return source
