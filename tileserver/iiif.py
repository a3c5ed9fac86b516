"""IIIF Image API 3.0: the request grammar, the size arithmetic, the image information and the pixel work.

No HTTP here. A request's path parameters parse into a frozen `ImageRequest`; `plan()` turns it, for an image of a
given size and under the server's limits, into the `Plan` of what to read and what to return; its canonical form
(`canonical()`) names the answer in caches. The web layer (web/iiif.py) maps the domain errors raised here to the
statuses the specification asks for: InvalidParameter -> 400, NotImplementedFeature -> 501.

Spec: https://iiif.io/api/image/3.0/ (compliance level 2, plus mirroring, arbitrary rotation, upscaling).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameter, NotImplementedFeature

CONTEXT = "http://iiif.io/api/image/3/context.json"
PROTOCOL = "http://iiif.io/api/image"
PROFILE = "level2"
PROFILE_URI = "http://iiif.io/api/image/3/level2.json"
FORMATS = {"jpg": "jpeg", "png": "png", "webp": "webp"}  # IIIF format -> our encoder's name
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
SPEC_FORMATS = ("tif", "gif", "jp2", "pdf")  # named by the spec, not offered here: 501
QUALITIES = ("default", "color", "gray", "bitonal")
EXTRA_FEATURES = ("mirroring", "rotationArbitrary", "sizeUpscaling", "profileLinkHeader", "canonicalLinkHeader")
MAX_SIDE = 65_500  # the JPEG and WebP limit on either side

_NUM = r"(?:\d{1,12}(?:\.\d{1,12})?|\.\d{1,12})"
_RE_PX = re.compile(r"(\d{1,9}),(\d{1,9}),(\d{1,9}),(\d{1,9})", re.ASCII)
_RE_PCT = re.compile(rf"pct:({_NUM}),({_NUM}),({_NUM}),({_NUM})", re.ASCII)
_RE_SIZE = re.compile(r"(\^)?(!)?(\d{1,9})?,(\d{1,9})?", re.ASCII)
_RE_SIZE_PCT = re.compile(rf"(\^)?pct:({_NUM})", re.ASCII)
_RE_ROTATION = re.compile(rf"(!)?({_NUM})", re.ASCII)


@dataclass(frozen=True)
class Limits:
    """The largest answer: maxWidth, maxHeight and maxArea of info.json, and the most tiles one answer may read."""

    max_width: int
    max_height: int
    max_area: int
    max_tiles: int


BYTES_PER_PIXEL = 4 * 6  # float32, per channel and output pixel: the read (up to 4 per output pixel) and the output


def limits_for(tile_size: int, max_region_tile_count: int, nchannels: int = 1, max_bytes: int = 2**62) -> Limits:
    """The limits of an image of `nchannels` channels. An answer is read from the level at most twice its size in
    each direction: a quarter of the tile planes a region snapshot may cover keeps what one request decodes within
    the same limit; and every channel is read, so the area and the tiles shrink with the channels, and with the
    per-request memory budget (max_request_bytes)."""
    planes = max(1, max_region_tile_count // nchannels)
    area = max(tile_size * tile_size, planes * tile_size * tile_size // 4)
    area = max(1, min(area, max_bytes // (BYTES_PER_PIXEL * nchannels)))
    return Limits(MAX_SIDE, MAX_SIDE, area, planes)


@dataclass(frozen=True)
class ImageRequest:
    """The path parameters of an image request, checked for syntax; sizes and regions still unresolved."""

    region: tuple[str, tuple[float, ...]]  # ("full" | "square" | "px" | "pct", values)
    size: tuple[str, bool, tuple[float, ...]]  # ("max" | "w" | "h" | "wh" | "confined" | "pct", upscale, values)
    mirror: bool
    rotation: float  # degrees clockwise, [0, 360)
    quality: str
    format: str


@dataclass(frozen=True)
class Plan:
    """What an image request reads (x, y, w, h: full-resolution pixels, y from the top) and returns (out_w, out_h
    before rotation)."""

    x: int
    y: int
    w: int
    h: int
    out_w: int
    out_h: int


def parse_request(region: str, size: str, rotation: str, quality_format: str) -> ImageRequest:
    quality, dot, fmt = quality_format.rpartition(".")
    if not dot:
        raise InvalidParameter("the last path segment must be {quality}.{format}, e.g. default.jpg", "format")
    if fmt not in FORMATS:
        if fmt in SPEC_FORMATS:
            raise NotImplementedFeature(f"the {fmt} format is not offered: use jpg, png or webp", "format")
        raise InvalidParameter(f"unknown format {fmt[:20]!r}: use jpg, png or webp", "format")
    if quality not in QUALITIES:
        raise InvalidParameter(f"unknown quality {quality[:20]!r}: use {', '.join(QUALITIES)}", "quality")
    mirror, angle = _rotation(rotation)
    return ImageRequest(_region(region), _size(size), mirror, angle, quality, fmt)


def looks_like_region(text: str) -> bool:
    """Whether a path segment is meant as a region (to tell a malformed image request from a base URI)."""
    return text in ("full", "square") or text.startswith("pct:") or bool(re.fullmatch(r"[\d,]+", text))


def _region(text: str) -> tuple[str, tuple[float, ...]]:
    if text in ("full", "square"):
        return text, ()
    m = _RE_PX.fullmatch(text)
    if m:
        return "px", tuple(float(v) for v in m.groups())
    m = _RE_PCT.fullmatch(text)
    if m:
        return "pct", tuple(float(v) for v in m.groups())
    raise InvalidParameter(f"region must be full, square, x,y,w,h or pct:x,y,w,h, not {text[:40]!r}", "region")


def _size(text: str) -> tuple[str, bool, tuple[float, ...]]:
    if text in ("max", "^max"):
        return "max", text.startswith("^"), ()
    m = _RE_SIZE_PCT.fullmatch(text)
    if m:
        return "pct", bool(m.group(1)), (float(m.group(2)),)
    m = _RE_SIZE.fullmatch(text)
    if m:
        up, bang, w, h = m.groups()
        if w and h:
            return ("confined" if bang else "wh"), bool(up), (float(w), float(h))
        if not bang and (w or h):
            return ("w", bool(up), (float(w),)) if w else ("h", bool(up), (float(h),))
    raise InvalidParameter(f"size must be max, w,, ,h, w,h, !w,h or pct:n (^ to upscale), not {text[:40]!r}",
                           "size")


def _rotation(text: str) -> tuple[bool, float]:
    m = _RE_ROTATION.fullmatch(text)
    if not m:
        raise InvalidParameter(f"rotation must be degrees from 0 to 360, ! first to mirror, not {text[:40]!r}",
                               "rotation")
    angle = float(m.group(2))
    if angle > 360:
        raise InvalidParameter("rotation must be from 0 to 360 degrees", "rotation")
    return bool(m.group(1)), angle % 360


def plan(request: ImageRequest, width: int, height: int, limits: Limits) -> Plan:
    x, y, w, h = _crop(request.region, width, height)
    out_w, out_h = _scale(request.size, w, h, limits)
    return Plan(x, y, w, h, out_w, out_h)


def _crop(region: tuple[str, tuple[float, ...]], width: int, height: int) -> tuple[int, int, int, int]:
    kind, values = region
    if kind == "full":
        return 0, 0, width, height
    if kind == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    if kind == "pct":
        px, py, pw, ph = values
        values = (round(px * width / 100), round(py * height / 100), round(pw * width / 100),
                  round(ph * height / 100))
    x, y, w, h = (int(v) for v in values)
    if w <= 0 or h <= 0:
        raise InvalidParameter("the region must be at least one pixel wide and high", "region")
    if x >= width or y >= height:
        raise InvalidParameter(f"the region lies outside the image ({width} x {height} pixels)", "region")
    # A region that runs over the edge is cropped there, as the spec asks, not padded.
    return x, y, min(w, width - x), min(h, height - y)


def _scale(size: tuple[str, bool, tuple[float, ...]], w: int, h: int, limits: Limits) -> tuple[int, int]:
    kind, upscale, values = size
    if kind == "max":
        return _fit(w, h, limits, grow=upscale)
    if kind == "confined":
        bw, bh = values
        scale = min(bw / w, bh / h)
        if not upscale:
            scale = min(scale, 1.0)
        out = min(int(bw), round(w * scale)), min(int(bh), round(h * scale))
        if out[0] < 1 or out[1] < 1:
            raise InvalidParameter("the scaled image would be less than one pixel wide or high", "size")
        return _fit(*out, limits, grow=False) if _over(*out, limits) else out
    if kind == "pct":
        n = values[0]
        if n > 100 and not upscale:
            raise InvalidParameter("pct:n over 100 would upscale the region: write ^pct:n", "size")
        out = round(w * n / 100), round(h * n / 100)
    elif kind == "w":
        out = int(values[0]), round(h * values[0] / w)
    elif kind == "h":
        out = round(w * values[0] / h), int(values[0])
    else:
        out = int(values[0]), int(values[1])
    if out[0] < 1 or out[1] < 1:
        raise InvalidParameter("the scaled image would be less than one pixel wide or high", "size")
    if not upscale and (out[0] > w or out[1] > h):
        raise InvalidParameter(f"size {out[0]},{out[1]} is larger than the region ({w} x {h}): prefix it with ^ "
                               "to upscale", "size")
    if _over(*out, limits):
        raise InvalidParameter(f"size {out[0]},{out[1]} is over this server's limits (maxWidth {limits.max_width}, "
                               f"maxHeight {limits.max_height}, maxArea {limits.max_area})", "size")
    return out


def _over(w: int, h: int, limits: Limits) -> bool:
    return w > limits.max_width or h > limits.max_height or w * h > limits.max_area


def _fit(w: int, h: int, limits: Limits, grow: bool) -> tuple[int, int]:
    """The largest size of aspect w:h within the limits (never above w x h unless grow)."""
    scale = min(limits.max_width / w, limits.max_height / h, math.sqrt(limits.max_area / (w * h)))
    if not grow:
        scale = min(scale, 1.0)
    if scale == 1.0:
        return w, h
    out_w, out_h = max(1, math.floor(w * scale)), max(1, math.floor(h * scale))
    return min(out_w, limits.max_width), min(out_h, limits.max_height)


def canonical(request: ImageRequest, p: Plan, width: int, height: int) -> str:
    """The canonical {region}/{size}/{rotation}/{quality}.{format} of a request (spec section 4.8)."""
    full = (p.x, p.y, p.w, p.h) == (0, 0, width, height)
    region = "full" if full else f"{p.x},{p.y},{p.w},{p.h}"
    if (p.out_w, p.out_h) == (p.w, p.h):
        size = "max"
    else:
        size = ("^" if p.out_w > p.w or p.out_h > p.h else "") + f"{p.out_w},{p.out_h}"
    angle = f"{request.rotation:g}" if request.rotation != int(request.rotation) else str(int(request.rotation))
    return f"{region}/{size}/{'!' if request.mirror else ''}{angle}/{request.quality}.{request.format}"


def info(base: str, width: int, height: int, tile_size: int, levels: int, limits: Limits) -> dict[str, object]:
    """The image information document (info.json) of an image served at `base`."""
    factors = [2 ** k for k in range(levels)]
    # Our pyramid's levels, floor(size / 2^k): asked for as sizes, they are read as stored, with no resampling.
    sizes = [{"width": max(1, width >> k), "height": max(1, height >> k)} for k in reversed(range(levels))]
    return {
        "@context": CONTEXT,
        "id": base,
        "type": "ImageService3",
        "protocol": PROTOCOL,
        "profile": PROFILE,
        "width": width,
        "height": height,
        "maxWidth": limits.max_width,
        "maxHeight": limits.max_height,
        "maxArea": limits.max_area,
        "sizes": [s for s in sizes if not _over(s["width"], s["height"], limits)],
        "tiles": [{"width": tile_size, "height": tile_size, "scaleFactors": factors}],
        "extraFormats": ["webp"],
        "preferredFormats": ["jpg", "png"],
        "extraQualities": ["color", "gray", "bitonal"],
        "extraFeatures": list(EXTRA_FEATURES),
    }


# -- pixels ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Read:
    """Where a plan reads: level z (scale 1/p of the full resolution), pixels [x0, x1) x [y0, y1) of that level,
    and the sub-pixel box inside that read which maps onto the output."""

    z: int
    p: int
    x0: int
    y0: int
    x1: int
    y1: int
    box: tuple[float, float, float, float]


def choose_read(p_: Plan, width: int, height: int, tile_size: int, levels: int, max_tiles: int) -> Read:
    """The coarsest pyramid level that still has at least the output's resolution (so no more pixels are decoded
    than the answer needs); coarser still if the finer one would read more than max_tiles tiles (a distorted w,h)."""
    ideal = min(p_.w / p_.out_w, p_.h / p_.out_h)
    p = 1
    while p * 2 <= ideal and p * 2 < 2 ** levels:
        p *= 2
    while True:
        read = _read_at(p_, p, width, height, levels)
        lw, lh = read.x1 - read.x0, read.y1 - read.y0
        columns = -(-read.x1 // tile_size) - read.x0 // tile_size
        tiles = columns * (-(-read.y1 // tile_size) - read.y0 // tile_size)
        if tiles <= max_tiles or read.z == 0 or lw * lh <= 1:
            return read
        p *= 2


def _read_at(p_: Plan, p: int, width: int, height: int, levels: int) -> Read:
    lw, lh = max(1, width // p), max(1, height // p)  # the level's size, as the pyramid stores it
    bx0, by0 = p_.x / p, p_.y / p
    bx1, by1 = min((p_.x + p_.w) / p, lw), min((p_.y + p_.h) / p, lh)
    x0, y0 = min(int(bx0), lw - 1), min(int(by0), lh - 1)
    x1, y1 = max(x0 + 1, math.ceil(bx1)), max(y0 + 1, math.ceil(by1))
    box = (bx0 - x0, by0 - y0, max(bx1, bx0 + 1 / p) - x0, max(by1, by0 + 1 / p) - y0)
    return Read(levels - 1 - int(math.log2(p)), p, x0, y0, x1, y1, box)


def resample(data: np.ndarray, box: tuple[float, float, float, float], out_w: int, out_h: int) -> np.ndarray:
    """(c, h, w) float32 -> (c, out_h, out_w): the box of data averaged (or repeated) into the output grid.
    A read that already is the output is returned as it is, pixel for pixel."""
    c, h, w = data.shape
    if box == (0.0, 0.0, float(w), float(h)) and (w, h) == (out_w, out_h):
        return data
    from PIL import Image

    out = np.empty((c, out_h, out_w), np.float32)
    for k in range(c):
        plane = Image.fromarray(np.ascontiguousarray(data[k]))  # float32: mode F
        out[k] = np.asarray(plane.resize((out_w, out_h), Image.Resampling.BOX, box=box))
    return out


def finish(pixels: np.ndarray, request: ImageRequest) -> np.ndarray:
    """Rendered (h, w) grey or (h, w, 3) RGB uint8 -> mirrored, rotated and in the asked quality. Arbitrary angles
    get an alpha channel (transparent corners) in png and webp, black corners in jpg."""
    if request.mirror:
        pixels = pixels[:, ::-1]
    if request.quality in ("gray", "bitonal") and pixels.ndim == 3:
        # ITU-R BT.601 luma, as most image software computes grey.
        pixels = (pixels @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)
    if request.quality == "bitonal":
        pixels = np.where(pixels >= 128, np.uint8(255), np.uint8(0))
    turns, rest = divmod(request.rotation, 90)
    if rest == 0:
        return np.ascontiguousarray(np.rot90(pixels, -int(turns)))  # rot90 turns anticlockwise
    return _rotate(pixels, request.rotation, alpha=request.format != "jpg")


def _rotate(pixels: np.ndarray, angle: float, alpha: bool) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
    if alpha:
        image = image.convert("LA" if pixels.ndim == 2 else "RGBA")
    # Pillow turns anticlockwise; expand keeps every pixel of the content, as the spec asks.
    return np.asarray(image.rotate(-angle, Image.Resampling.BICUBIC, expand=True))


def encode(pixels: np.ndarray, fmt: str, quality: int) -> bytes:
    from .display import encode as encoders

    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):  # with alpha: Pillow directly
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(pixels, "LA" if pixels.shape[2] == 2 else "RGBA").save(
            buf, "PNG" if fmt == "png" else "WEBP", **({"quality": max(1, quality)} if fmt == "webp" else {}))
        return buf.getvalue()
    return encoders.image(np.ascontiguousarray(pixels), FORMATS[fmt], quality)
