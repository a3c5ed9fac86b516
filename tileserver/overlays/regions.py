"""ds9 region files -> GeoJSON for the viewer, parsed by astropy's `regions` package.

Each region becomes a Feature whose properties say how to draw it:
- "frame": "icrs" (sky regions, whatever their frame in the file: positions converted to ICRS degrees, angles
  re-measured from the ICRS longitude axis) or "image" (FITS pixels, 1-based like ds9's image coordinates);
- "shape": circle, ellipse, box, annulus, polygon, point, line or text. Circles, ellipses, boxes and annuli are a
  Point (their centre) with their sizes in properties, in degrees for the sky and pixels for the image: "radius";
  "radii" [a, b] (semi-axes, as ds9 writes them) for an ellipse and [r1, r2, ...] for an annulus; "size" [w, h]
  (full sides) for a box; "angle" in degrees anticlockwise from the longitude (or x) axis, as in ds9. Polygons are
  Polygons, lines LineStrings, points and texts Points (with "marker", the ds9 point type, and "text");
- "color", "width" (line width) and "label" (a region's text={...}) when the file gives them.
The viewer draws the shapes through its own WCS, so one answer serves every image.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from astropy.coordinates import SkyCoord

from .. import datapath
from ..errors import InvalidParameter, TooLarge

MAX_TEXT_BYTES = 16 * 2**20
MAX_REGIONS = 20_000  # `regions` parses about 2000 a second: past this the viewer would wait too long
MAX_SKIPPED = 20  # warnings reported back; the rest are counted
# matplotlib marker (what `regions` keeps) -> ds9 point type
MARKERS = {"o": "circle", "s": "box", "D": "diamond", "x": "x", "+": "cross", "^": "arrow", "8": "boxcircle"}
SHAPES = {
    "Circle": "circle", "Ellipse": "ellipse", "Rectangle": "box", "CircleAnnulus": "annulus",
    "Polygon": "polygon", "Point": "point", "Line": "line", "Text": "text",
}


def to_geojson(text: str) -> dict[str, Any]:
    """{"type": "FeatureCollection", "features": [...], "skipped": [messages]} of a ds9 region file's text;
    InvalidParameter (with the first bad line) when a line cannot be parsed."""
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise TooLarge(f"the region file is larger than {MAX_TEXT_BYTES // 2**20} MB", "regions")
    if text.count("(") > 2 * MAX_REGIONS:  # a cheap bound on the shapes before the slow parse
        raise TooLarge(f"the region file has more than {MAX_REGIONS} regions", "regions")
    regions, skipped = _parse(text)
    batch = _SkyBatch()
    features: list[dict[str, Any]] = []
    for region in regions:
        name = type(region).__name__
        kind = name.removesuffix("SkyRegion").removesuffix("PixelRegion")
        if kind not in SHAPES:
            skipped.append(f"{kind} regions are not shown")
            continue
        if kind == "Polygon" and len(getattr(region, "vertices", ())) == 0:
            skipped.append("a polygon without vertices is not shown")
            continue
        features.append(_feature(region, SHAPES[kind], name.endswith("SkyRegion"), batch))
    batch.convert()
    kept = [f for f in features if _finite(f)]  # 1e999 parses as inf, which JSON cannot carry
    if len(kept) < len(features):
        skipped.append(f"{len(features) - len(kept)} region(s) with a non-finite number are not shown")
    features = kept
    extra = len(skipped) - MAX_SKIPPED
    skipped = skipped[:MAX_SKIPPED] + ([f"... and {extra} more"] if extra > 0 else [])
    return {"type": "FeatureCollection", "features": features, "skipped": skipped}


def _parse(text: str) -> tuple[list[Any], list[str]]:
    from regions import Regions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with datapath.sealed():  # region text names no file the server would open, whatever it says
                regions = list(Regions.parse(text, format="ds9"))
        except Exception as e:
            raise InvalidParameter(f"not a ds9 region file: {_first_bad_line(text) or e}", "regions") from None
    return regions, [str(w.message) for w in caught]


def _first_bad_line(text: str) -> str:
    """'line N: message' for the first line that fails alone (with the frame in force), or '' if none does."""
    from regions import Regions

    frames = ("image", "physical", "fk4", "b1950", "fk5", "j2000", "icrs", "galactic", "ecliptic")
    frame = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for number, line in enumerate(text.splitlines()[:10000], 1):
            stripped = line.strip().lower()
            if stripped in frames:
                frame = stripped
                continue
            try:
                Regions.parse(f"{frame}\n{line}", format="ds9")
            except Exception as e:
                return f"line {number}: {e}"
    return ""


def _feature(region: Any, shape: str, is_sky: bool, batch: _SkyBatch) -> dict[str, Any]:
    props: dict[str, Any] = {"shape": shape, "frame": "icrs" if is_sky else "image"}
    visual, meta = region.visual, region.meta
    color = visual.get("color") or visual.get("edgecolor")
    if color:
        props["color"] = str(color)
    if "linewidth" in visual:
        props["width"] = float(visual["linewidth"])
    if meta.get("text") and shape != "text":
        props["label"] = str(meta["text"])
    if meta.get("include") == 0:
        props["exclude"] = True
    if shape == "polygon":
        ring = _positions(region.vertices, is_sky, batch)
        ring.append(ring[0])  # GeoJSON rings are closed
        return _geojson({"type": "Polygon", "coordinates": [ring]}, props)
    if shape == "line":
        ends = _positions(region.start, is_sky, batch) + _positions(region.end, is_sky, batch)
        return _geojson({"type": "LineString", "coordinates": ends}, props)
    size = (lambda q: float(q.to_value("deg"))) if is_sky else float
    if shape == "circle":
        props["radius"] = size(region.radius)
    elif shape == "annulus":
        props["radii"] = [size(region.inner_radius), size(region.outer_radius)]
    elif shape in ("ellipse", "box"):
        width, height = size(region.width), size(region.height)
        if shape == "ellipse":
            props["radii"] = [width / 2, height / 2]
        else:
            props["size"] = [width, height]
        props["angle"] = float(region.angle.to_value("deg"))
        if is_sky:
            batch.turn(region.center, lambda turn: props.__setitem__("angle", (props["angle"] + turn) % 360))
    elif shape == "point":
        props["marker"] = MARKERS.get(str(visual.get("marker", "o")), "circle")
    elif shape == "text":
        props["text"] = str(region.text)
    return _geojson({"type": "Point", "coordinates": _positions(region.center, is_sky, batch)[0]}, props)


def _finite(value: Any) -> bool:
    """Whether every number in a feature (coordinates, sizes, angles) is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _geojson(geometry: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _positions(points: Any, is_sky: bool, batch: _SkyBatch) -> list[list[float]]:
    """[x, y] FITS pixels (PixCoord is 0-based) now, or [ra, dec] slots that the batch fills in ICRS later."""
    if not is_sky:
        return [[x + 1.0, y + 1.0] for x, y in zip(np.atleast_1d(points.x).tolist(), np.atleast_1d(points.y).tolist())]
    slots: list[list[float]] = []
    for lon, lat in zip(*_lon_lat(points)):
        slot = [0.0, 0.0]
        batch.add(points.frame, (lon, lat), functools.partial(_fill, slot))
        slots.append(slot)
    return slots


def _fill(slot: list[float], ra: float, dec: float) -> None:
    slot[:] = [ra, dec]


class _SkyBatch:
    """Sky positions to convert to ICRS, grouped by frame so that astropy converts each frame in one call."""

    def __init__(self) -> None:
        self._groups: dict[str, tuple[Any, list[tuple[float, float]], list[Callable[[float, float], None]]]] = {}

    def add(self, frame: Any, lon_lat: tuple[float, float], fill: Callable[[float, float], None]) -> None:
        """Call fill(ra, dec) with the ICRS position of (lon, lat) in frame, once convert() has run."""
        key = frame.name if frame.name in ("icrs", "fk5", "fk4", "galactic") else repr(frame.replicate_without_data())
        group = self._groups.setdefault(key, (frame.replicate_without_data(), [], []))
        group[1].append(lon_lat)
        group[2].append(fill)

    def turn(self, coord: SkyCoord, apply: Callable[[float], None]) -> None:
        """Call apply(angle) with the position angle, in ICRS, of the coordinate's own frame's north: what turns an
        angle measured from that frame's longitude axis into one measured from ICRS's."""
        if coord.frame.name == "icrs":
            return
        (lon,), (lat,) = _lon_lat(coord)
        step = 1 / 3600  # one arcsecond towards the frame's north (south at its pole, and turned back)
        flip = 0.0 if lat + step <= 90 else 180.0
        centre: list[float] = []

        def end(ra: float, dec: float) -> None:
            apply(position_angle(centre[0], centre[1], ra, dec) + flip)

        self.add(coord.frame, (lon, lat), lambda ra, dec: centre.extend((ra, dec)))
        self.add(coord.frame, (lon, lat + step if not flip else lat - step), end)  # after the centre, same group

    def convert(self) -> None:
        for frame, points, fills in self._groups.values():
            lon, lat = np.array(points, dtype=np.float64).T
            icrs = SkyCoord(lon, lat, unit="deg", frame=frame).icrs
            for fill, ra, dec in zip(fills, icrs.ra.deg.tolist(), icrs.dec.deg.tolist()):
                fill(ra, dec)


def _lon_lat(coord: SkyCoord) -> tuple[list[float], list[float]]:
    spherical = coord.frame.represent_as("spherical")
    return np.atleast_1d(spherical.lon.deg).tolist(), np.atleast_1d(spherical.lat.deg).tolist()


def position_angle(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Position angle (degrees east of north) of point 2 seen from point 1."""
    d1, d2, dra = math.radians(dec1), math.radians(dec2), math.radians(ra2 - ra1)
    y = math.sin(dra) * math.cos(d2)
    x = math.cos(d1) * math.sin(d2) - math.sin(d1) * math.cos(d2) * math.cos(dra)
    return math.degrees(math.atan2(y, x))
