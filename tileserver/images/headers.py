"""Every header of a FITS file, as a FITS header viewer shows them: one entry per HDU (primary, images, tables),
each card with its keyword, value and comment as written. Headers only: no data is read."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from astropy.io import fits

from ..errors import TooLarge, UnsupportedImage
from . import over_budget
from .fits import _quiet, check_header_sizes
from .fitswalk import PARSED_BYTES_PER_HEADER_BYTE

MAX_HDUS = 1000


def _value(value: Any) -> Any:
    """A card's value as JSON: numbers, strings, booleans; NaN, undefined and complex values as text."""
    if isinstance(value, bool) or isinstance(value, int) or isinstance(value, str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return None if value is None or isinstance(value, fits.card.Undefined) else str(value)


def _card(card: Any) -> list[Any]:
    """[keyword, value, comment]; a card astropy cannot parse is kept as its raw text, as ds9 shows it."""
    try:
        return [card.keyword, _value(card.value), card.comment]
    except Exception:  # astropy parses on access: a damaged card fails there, in many ways
        try:
            return [str(card.image)[:8].strip(), str(card.image)[10:].rstrip(), ""]
        except Exception:
            return ["", "", ""]


def read_headers(path: Path, max_header_bytes: int, max_bytes: int = 2**62) -> list[dict[str, Any]]:
    """[{index, name, type, cards: [[keyword, value, comment], ...]}] of every HDU of the file; refused (TooLarge)
    when parsing all of them would take more than max_bytes of memory."""
    need = check_header_sizes(path, max_header_bytes) * PARSED_BYTES_PER_HEADER_BYTE
    if need > max_bytes:
        raise over_budget(need, max_bytes)
    try:
        with _quiet(), fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            out = []
            for index, hdu in enumerate(hdul):
                if index >= MAX_HDUS:
                    raise TooLarge(f"the file has more than {MAX_HDUS} HDUs", "FIF")
                cards = [_card(card) for card in hdu.header.cards]
                name = next((c[1] for c in cards if c[0] == "EXTNAME" and isinstance(c[1], str)),
                            "PRIMARY" if index == 0 else "")
                out.append({"index": index, "name": name, "type": type(hdu).__name__, "cards": cards})
    except TooLarge:
        raise
    except Exception as e:  # astropy raises many kinds on a damaged file; all mean the same to the user
        raise UnsupportedImage(f"not a readable FITS file ({type(e).__name__})") from None
    return out
