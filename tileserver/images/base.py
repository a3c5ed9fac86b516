"""What every image reader gives the pyramid builder: geometry, headers and strips of float32 rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .direct import DirectPixels


@dataclass
class Chip:
    """One detector (HDU) of an image, in the INFO `images[]` form (1-based, inclusive slices: [start, end, step])."""

    size: tuple[int, int]
    dataslice: list[list[int]]
    detslice: list[list[int]]
    header: dict[str, Any]


@dataclass
class ImageSource:
    """An opened image. Rows are in display order: row 0 is the top of the image (the highest FITS y).

    read(channel, y0, y1) gives rows y0 <= y < y1 of one channel (0-based) as a (y1 - y0, width) float32 array,
    blanks as NaN; the array may be a view of the reader's memory: do not write into it. It may be called from
    several threads at once.
    """

    read: Callable[[int, int, int], np.ndarray]
    width: int
    height: int
    nchannels: int
    bits_per_channel: int
    header: dict[str, Any]
    chips: list[Chip]
    kind: str  # "fits" or "raster"
    object_name: str = ""
    channel_names: list[str] = field(default_factory=list)
    extensions: list[dict[str, Any]] = field(default_factory=list)
    # Display defaults: "stats" (cuts from statistics, gamma from settings) or "type" (a raster shown as itself).
    cuts: str = "stats"
    type_range: tuple[float, float] | None = None
    mix: str = "spectrum"
    origin: dict[str, Any] = field(default_factory=dict)  # the file's size and mtime, for the manifest
    # The full resolution read by offset from the file (regular uncompressed layouts), else None.
    direct: DirectPixels | None = None
    # Whether read() of a few rows anywhere is cheap; False when the first read decompresses the whole file.
    random_access: bool = True

    close: Callable[[], None] = lambda: None

    @property
    def pixels(self) -> int:
        return self.width * self.height


UNPARSED = "_unparsed_cards"  # not a FITS keyword (too long): the keys of cards kept as raw text, for INFO


def header_to_dict(cards: Any) -> dict[str, Any]:
    """FITS cards as a JSON-able dict: COMMENT/HISTORY dropped, non-finite floats as text. A card astropy cannot
    parse (archives hold many: a bad number, an unclosed quote, a stray byte) is kept as its raw text, as ds9 shows
    it, and its key listed under UNPARSED: one bad card does not make the image unreadable."""
    out: dict[str, Any] = {}
    unparsed: list[str] = []
    for card in getattr(cards, "cards", ()):
        try:
            key, value = card.keyword, card.value
        except Exception:  # astropy's errors for a malformed card are many and undocumented
            raw = _raw(card)
            key, value = raw[:8].strip(), raw[10:].strip() if raw[8:10] == "= " else raw[8:].strip()
            if key:
                unparsed.append(key)
        if not key or key in ("COMMENT", "HISTORY", "CONTINUE"):
            continue
        if isinstance(value, (bool, int, str)):
            out[key] = value
        elif isinstance(value, float):
            out[key] = value if math.isfinite(value) else str(value)
        else:
            out[key] = str(value)
        if isinstance(out[key], str) and not out[key].isprintable():
            out[key] = "".join(c if c.isprintable() else "?" for c in out[key])
    if unparsed:
        out[UNPARSED] = unparsed
    return out


def _raw(card: Any) -> str:
    try:
        return str(card.image)
    except Exception:
        return ""
