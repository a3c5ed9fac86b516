"""The IIP/VisiOmatic query language: parsed once, at the edge, into a frozen record.

The record is hashable and spells out every input that changes a tile's bytes, so it doubles as the memory-cache
key. Values are checked here (syntax and ranges that do not depend on the image); checks that need the image
(channel numbers, tile indices, region bounds) happen where the image is known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import InvalidParameter
from .names import COLORMAPS, PARAMETERS, REGION_FORMATS, REPEATABLE, STRETCHES

MAX_CHANNEL_PARAMS = 4096  # repeats of one parameter: as many as an image may have channels

_INT = r"[+-]?\d{1,9}"
_FLOAT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?"
# ASCII digits only: \d would also take other scripts' digits, which int() and float() accept.
_RE_PAIR = re.compile(rf"({_INT}),({_INT})", re.ASCII)
_RE_LINE = re.compile(rf"({_INT}),({_INT}):({_INT}),({_INT})", re.ASCII)
_RE_MINMAX = re.compile(rf"(\d{{1,5}}):({_FLOAT}),({_FLOAT})", re.ASCII)
_RE_MIX = re.compile(rf"(\d{{1,5}}):({_FLOAT}),({_FLOAT}),({_FLOAT})", re.ASCII)
_RE_INT = re.compile(_INT, re.ASCII)
_RE_FLOAT = re.compile(_FLOAT, re.ASCII)
_RE_CHANNEL = re.compile(r"\d{1,5}", re.ASCII)
_RE_FIF_SELECTOR = re.compile(r"^(.*)\[([A-Za-z0-9_\-, ]{1,72})\]$")


@dataclass(frozen=True)
class Render:
    """Display settings. None means the image's default (cuts from its statistics, its default gamma...)."""

    channel: int | None = None  # 1-based; None: colour-mix mode (or channel 1 of a single-channel image)
    minmax: tuple[tuple[int, float, float], ...] = ()
    mix: tuple[tuple[int, float, float, float], ...] = ()
    twist: tuple[tuple[float, ...], ...] = ()  # CTW rows r, g, b over channels (VisiOmatic's client sends it)
    contrast: float | None = None
    brightness: float | None = None
    gamma: float | None = None
    stretch: str = "linear"
    colormap: str = "grey"
    invert: bool = False
    quality: int | None = None
    saturation: float | None = None
    auto_cuts: str | None = None  # IIP's CNT=st: the image's min/max
    blank: tuple[int, int, int] | None = None  # colour of blank (NaN) pixels; None: the server's blank_color


@dataclass(frozen=True)
class Query:
    """What every request names: the image, the display settings, who asks. Each kind of request is a subclass
    with its own fields (below); `parse` returns one of them, `AnyQuery`."""

    kind: ClassVar[str]
    fif: str  # the image's path, canonical (see split_fif), without its [selector]
    selector: str | None
    channels: tuple[int, ...] = ()
    render: Render = Render()
    version: str | None = None
    user: str | None = None  # set by the web layer from a trusted proxy, never from the query; None: anonymous


@dataclass(frozen=True)
class InfoQuery(Query):
    """INFO: the image's description (JSON)."""

    kind: ClassVar[str] = "info"


@dataclass(frozen=True)
class ObjQuery(Query):
    """obj: the IIP header (plain text)."""

    kind: ClassVar[str] = "obj"


@dataclass(frozen=True, kw_only=True)
class TileQuery(Query):
    """JTL=z,i: a JPEG tile."""

    kind: ClassVar[str] = "tile"
    tile: tuple[int, int]


@dataclass(frozen=True, kw_only=True)
class RegionQuery(Query):
    """RGN=x1,y1:x2,y2: a snapshot or a FITS cutout of a region."""

    kind: ClassVar[str] = "region"
    region: tuple[int, int, int, int]  # x1, y1, x2, y2: 1-based, inclusive, y from the top
    binning: int = 1
    output: str = "jpeg"


@dataclass(frozen=True, kw_only=True)
class ValueQuery(Query):
    """VAL=x,y: the pixel values at a point."""

    kind: ClassVar[str] = "value"
    point: tuple[int, int]  # FITS pixel, 1-based


@dataclass(frozen=True, kw_only=True)
class ProfileQuery(Query):
    """PFL=x1,y1:x2,y2: the values along a line."""

    kind: ClassVar[str] = "profile"
    line: tuple[int, int, int, int]  # FITS pixels, 1-based


AnyQuery = InfoQuery | ObjQuery | TileQuery | RegionQuery | ValueQuery | ProfileQuery


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidParameter(f"{name} may be given only once", name)
    return values[0]


def _float(params: dict[str, list[str]], name: str, lo: float, hi: float) -> float | None:
    text = _one(params, name)
    if text is None:
        return None
    if not _RE_FLOAT.fullmatch(text.strip()):
        raise InvalidParameter(f"{name} must be a number, not {text[:40]!r}", name)
    value = float(text)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidParameter(f"{name} must be between {lo:g} and {hi:g}", name)
    return value


def _int(params: dict[str, list[str]], name: str, lo: int, hi: int) -> int | None:
    text = _one(params, name)
    if text is None:
        return None
    if not _RE_INT.fullmatch(text.strip()):
        raise InvalidParameter(f"{name} must be a whole number, not {text[:40]!r}", name)
    value = int(text)
    if not lo <= value <= hi:
        raise InvalidParameter(f"{name} must be between {lo} and {hi}", name)
    return value


def _match(pattern: re.Pattern[str], text: str, name: str, form: str) -> tuple[str, ...]:
    m = pattern.fullmatch(text.strip())
    if not m:
        raise InvalidParameter(f"{name} must be of the form {form}, not {text[:60]!r}", name)
    return m.groups()


def _finite(values: Sequence[str], name: str, bound: float = math.inf) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in out):
        raise InvalidParameter(f"{name} values must be finite numbers", name)
    if any(abs(v) > bound for v in out):
        raise InvalidParameter(f"{name} weights must lie between {-bound:g} and {bound:g}", name)
    return out


# Colour weights beyond this would overflow the float32 mix (1e300 is inf there, and inf x 0 is NaN): no colour
# needs more than a thousandfold gain.
MAX_WEIGHT = 1000.0


def split_fif(fif: str) -> tuple[str, str | None]:
    """'dir/./file.fits[ sci, 01 ]' -> ('dir/file.fits', 'SCI,1'): the one spelling of an image, so that every
    spelling shares one build, one cache entry and one status record (an attacker could otherwise evict every real
    entry with [0], [00], [000]...). A leading / and .. are kept for the door to refuse."""
    m = _RE_FIF_SELECTOR.match(fif)
    path, selector = (m.group(1), canonical_selector(m.group(2))) if m else (fif, None)
    return canonical_path(path), selector


def canonical_path(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def canonical_selector(text: str) -> str:
    """'00' -> '0', ' sci , 02 ' -> 'SCI,2': extension numbers without leading zeros, names in upper case (astropy
    compares EXTNAME case-insensitively)."""
    parts = [p.strip() for p in text.split(",")]
    return ",".join(str(int(p)) if p.isdigit() and p.isascii() else p.upper() for p in parts)


def group(items: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Query items by name. IIP names are upper case except `obj`; other spellings are accepted (ASCII case only:
    Unicode case mapping would turn "ﬁf" into FIF)."""
    params: dict[str, list[str]] = {}
    for key, value in items:
        name = key if not key.isascii() else "obj" if key.lower() == "obj" else key.upper()
        params.setdefault(name, []).append(value)
    return params


def parse(items: Sequence[tuple[str, str]], user: str | None = None) -> AnyQuery:
    """The query record of a request's items; `user` is who the web layer says sent it (see access.py)."""
    params = group(items)
    for name, values in params.items():
        if name in PARAMETERS and name not in REPEATABLE and len(values) > 1:
            raise InvalidParameter(f"{name} may be given only once", name)
        if len(values) > MAX_CHANNEL_PARAMS:
            raise InvalidParameter(f"too many {name} parameters", name)
    fif = _one(params, "FIF")
    if fif is None or not fif.strip():
        raise InvalidParameter("FIF (the image path) is required", "FIF")
    path, selector = split_fif(fif)
    channels = tuple(_channel(v) for v in params.get("CHAN", []))
    render = _render(params, channels)
    common: dict[str, Any] = {"fif": path, "selector": selector, "channels": channels, "render": render,
                              "version": _one(params, "V"), "user": user}
    if "INFO" in params:
        return InfoQuery(**common)
    if "obj" in params:
        return ObjQuery(**common)
    jtl = _one(params, "JTL")
    if jtl is not None:
        z, i = (int(v) for v in _match(_RE_PAIR, jtl, "JTL", "z,i"))
        if z < 0 or i < 0:
            raise InvalidParameter("JTL resolution and tile index must be positive", "JTL")
        return TileQuery(**common, tile=(z, i))
    rgn = _one(params, "RGN")
    if rgn is not None:
        x1, y1, x2, y2 = (int(v) for v in _match(_RE_LINE, rgn, "RGN", "x1,y1:x2,y2"))
        if x2 < x1 or y2 < y1:
            raise InvalidParameter("RGN must go from the top-left corner x1,y1 to the bottom-right x2,y2", "RGN")
        binning = _int(params, "BIN", 1, 1024) or 1
        output = (_one(params, "CVT") or "jpeg").lower()
        output = "jpeg" if output == "jpg" else output
        if output not in REGION_FORMATS:
            raise InvalidParameter(f"CVT must be one of {', '.join(REGION_FORMATS)}", "CVT")
        return RegionQuery(**common, region=(x1, y1, x2, y2), binning=binning, output=output)
    val = _one(params, "VAL")
    if val is not None:
        x, y = (int(v) for v in _match(_RE_PAIR, val, "VAL", "x,y"))
        return ValueQuery(**common, point=(x, y))
    pfl = _one(params, "PFL")
    if pfl is not None:
        x1, y1, x2, y2 = (int(v) for v in _match(_RE_LINE, pfl, "PFL", "x1,y1:x2,y2"))
        return ProfileQuery(**common, line=(x1, y1, x2, y2))
    raise InvalidParameter("say what to return: INFO, obj, JTL, RGN, VAL or PFL", "FIF")


def _channel(text: str) -> int:
    if not _RE_CHANNEL.fullmatch(text.strip()) or int(text) < 1:
        raise InvalidParameter(f"CHAN must be a channel number from 1, not {text[:20]!r}", "CHAN")
    return int(text)


def _render(params: dict[str, list[str]], channels: tuple[int, ...]) -> Render:
    stretch = (_one(params, "STR") or "linear").lower()
    auto_cuts = None
    cnt_text = _one(params, "CNT")
    contrast = None
    if cnt_text is not None and cnt_text.lower() == "eq":
        stretch = "histeq"  # IIP: histogram equalisation
    elif cnt_text is not None and cnt_text.lower() == "st":
        auto_cuts = "minmax"  # IIP: stretch the full range of values
    else:
        contrast = _float(params, "CNT", 0.0, 1000.0)
    gam_text = _one(params, "GAM")
    gamma = None
    if gam_text is not None and gam_text.lower() == "log":
        stretch = "log"  # IIP: logarithmic transfer
    else:
        gamma = _float(params, "GAM", 0.2, 5.0)
    if stretch not in STRETCHES:
        raise InvalidParameter(f"STR must be one of {', '.join(STRETCHES)}", "STR")
    colormap = (_one(params, "CMP") or "grey").lower()
    colormap = "grey" if colormap == "gray" else colormap
    if colormap not in COLORMAPS:
        raise InvalidParameter(f"CMP must be one of {', '.join(COLORMAPS)}", "CMP")
    minmax: list[tuple[int, float, float]] = []
    for text in params.get("MINMAX", []):
        channel, *cuts = _match(_RE_MINMAX, text, "MINMAX", "channel:min,max")
        lo, hi = _finite(cuts, "MINMAX")
        minmax.append((int(channel), lo, hi))
    mix: list[tuple[int, float, float, float]] = []
    for text in params.get("MIX", []):
        channel, *weights = _match(_RE_MIX, text, "MIX", "channel:r,g,b")
        r, g, b = _finite(weights, "MIX", MAX_WEIGHT)
        mix.append((int(channel), r, g, b))
    for c in [m[0] for m in minmax] + [m[0] for m in mix]:
        if c < 1:
            raise InvalidParameter("channel numbers start at 1", "MINMAX" if minmax else "MIX")
    return Render(
        channel=channels[0] if channels else None,
        minmax=tuple(minmax),
        mix=tuple(mix),
        twist=_twist(_one(params, "CTW")),
        contrast=contrast,
        brightness=_float(params, "BRT", -100.0, 100.0),
        gamma=gamma,
        stretch=stretch,
        colormap=colormap,
        invert="INV" in params and (params["INV"][0].lower() not in ("0", "false", "no", "off")),
        quality=_int(params, "QLT", 0, 100),
        saturation=_float(params, "SAT", 0.0, 5.0),
        auto_cuts=auto_cuts,
        blank=parse_colour(_one(params, "NAN"), "NAN"),
    )


_RE_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})", re.ASCII)


def parse_colour(text: str | None, name: str) -> tuple[int, int, int] | None:
    """An RGB colour written rrggbb (hex, optionally after #), or None when not given."""
    if text is None:
        return None
    m = _RE_COLOUR.fullmatch(text.strip())
    if m is None:
        raise InvalidParameter(f"{name} must be a colour written rrggbb in hex (ff0000 is red)", name)
    value = m.group(1)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _twist(text: str | None) -> tuple[tuple[float, ...], ...]:
    """CTW=r1,r2,..;g1,g2,..;b1,b2,.. (the colour-twist matrix of IIP)."""
    if text is None:
        return ()
    rows = text.split(";")
    if len(rows) != 3 or len(text) > 65536:
        raise InvalidParameter("CTW must be three ';'-separated rows of comma-separated weights", "CTW")
    try:
        out = tuple(_finite(row.split(","), "CTW", MAX_WEIGHT) for row in rows)
    except ValueError:
        raise InvalidParameter("CTW weights must be numbers", "CTW") from None
    if len({len(r) for r in out}) != 1:
        raise InvalidParameter("CTW rows must have the same number of weights", "CTW")
    return out
