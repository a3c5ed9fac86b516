"""The walk over a FITS file's headers that runs before astropy parses it: header sizes and the number of HDUs
are checked on the raw cards, so that a file claiming megabytes of header or thousands of HDUs is refused before
astropy spends seconds and gigabytes on it."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

from ..errors import TooLarge

MAX_HDUS = 1000  # astropy parses every header at open; real files have at most a few hundred HDUs


PARSED_BYTES_PER_HEADER_BYTE = 15  # what astropy's parsed cards cost in memory, per byte of header


def check_header_sizes(path: Path, max_bytes: int) -> int:
    """Refuse a file with a header over max_bytes before astropy parses it: that costs it about a second and 15 MB
    of memory per MB of header. Walks the HDUs by the data sizes their headers declare, reading headers only; a file
    whose structure breaks down on the way (or a broken gzip stream) is left for astropy to refuse. Returns the
    header bytes walked, all HDUs together."""
    walked = [0]
    try:
        _walk_headers(path, max_bytes, walked)
    except (OSError, EOFError, zlib.error):
        pass
    return walked[0]


def _walk_headers(path: Path, max_bytes: int, walked: list[int]) -> None:
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
        start = b"SIMPLE  ="
        for _ in range(MAX_HDUS + 1):
            size, cards = 0, {}
            while "END" not in cards:
                block = f.read(2880)
                if len(block) < 2880 or size == 0 and not block.startswith(start):
                    return
                size += 2880
                walked[0] += 2880
                if size > max_bytes:
                    raise TooLarge(f"the file has a FITS header of more than {max_bytes} bytes, the server's limit")
                for i in range(0, 2880, 80):
                    key = block[i:i + 8].rstrip().decode("ascii", "replace")
                    if key == "END":
                        cards["END"] = 0
                        break
                    if key in ("BITPIX", "PCOUNT", "GCOUNT") or key.startswith("NAXIS"):
                        try:
                            cards[key] = int(block[i + 10:i + 80].split(b"/")[0])
                        except ValueError:
                            return
            naxis = cards.get("NAXIS", 0)
            pixels = math.prod(cards.get(f"NAXIS{k}", 0) for k in range(1, naxis + 1)) if naxis > 0 else 0
            data = abs(cards.get("BITPIX", 8)) // 8 * cards.get("GCOUNT", 1) * (cards.get("PCOUNT", 0) + pixels)
            f.seek(-(-data // 2880) * 2880, os.SEEK_CUR)
            start = b"XTENSION="
        raise TooLarge(f"the file has more than {MAX_HDUS} HDUs, the server's limit")


def image_hdus(path: Path, max_bytes: int = 8 << 20, max_hdus: int = 200) -> list[dict[str, object]] | None:
    """The image HDUs of a FITS file, from its raw cards (no astropy): [{"index", "name", "shape"}] with shape in
    FITS axis order, for images of two axes or more (tile-compressed ones included); None when the file cannot be
    walked (not FITS, broken); [] when it holds no image (tables only). Reads headers only."""
    try:
        return _image_hdus(path, max_bytes, max_hdus)
    except (OSError, EOFError, zlib.error, ValueError, TooLarge):
        return None


def _card_value(raw: bytes) -> str:
    text = raw.split(b"/")[0].strip().decode("ascii", "replace") if not raw.strip().startswith(b"'") else \
        raw.strip()[1:].split(b"'")[0].decode("ascii", "replace")
    return text.strip()


def _image_hdus(path: Path, max_bytes: int, max_hdus: int) -> list[dict[str, object]] | None:
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    out: list[dict[str, object]] = []
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
        start = b"SIMPLE  ="
        for index in range(max_hdus):
            size, cards = 0, {}
            while "END" not in cards:
                block = f.read(2880)
                if len(block) < 2880 or size == 0 and not block.startswith(start):
                    return out if index else None
                size += 2880
                if size > max_bytes:
                    return out
                for i in range(0, 2880, 80):
                    key = block[i:i + 8].rstrip().decode("ascii", "replace")
                    if key == "END":
                        cards["END"] = ""
                        break
                    if block[i + 8:i + 10] == b"= ":
                        cards[key] = _card_value(block[i + 10:i + 80])
            numbers = {k: int(v) for k, v in cards.items()
                       if k in ("BITPIX", "PCOUNT", "GCOUNT") or k.startswith("NAXIS") and v.lstrip("-").isdigit()}
            naxis = numbers.get("NAXIS", 0)
            axes = [numbers.get(f"NAXIS{k}", 0) for k in range(1, naxis + 1)]
            compressed = cards.get("ZIMAGE") == "T"
            if compressed:
                zaxes = [cards.get(f"ZNAXIS{k}", "0") for k in range(1, int(cards.get("ZNAXIS", "0") or 0) + 1)]
                shape = [int(a) for a in zaxes if a.isdigit()]
            else:
                shape = axes
            image = compressed or index == 0 or cards.get("XTENSION", "").upper() == "IMAGE"
            if image and len(shape) >= 2 and min(shape) > 0:
                name = cards.get("EXTNAME", "") or ("PRIMARY" if index == 0 else "")
                out.append({"index": index, "name": name.upper(), "shape": shape})
            pixels = math.prod(axes) if naxis > 0 else 0
            data = abs(numbers.get("BITPIX", 8)) // 8 * numbers.get("GCOUNT", 1) * (numbers.get("PCOUNT", 0) + pixels)
            f.seek(-(-data // 2880) * 2880, os.SEEK_CUR)
            start = b"XTENSION="
    return out
