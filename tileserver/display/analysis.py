"""What an astronomer measures on the data itself, as DS9 does: statistics inside a drawn shape, contour lines, the
pixel values around a point. Pure numpy (and contourpy for the contours); positions are FITS pixels (1-based,
pixel centres on whole numbers, y upwards); a pixel belongs to a shape when its centre lies inside.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter

SHAPES = {"circle": 3, "ellipse": 5, "box": 4, "polygon": None}  # number of numbers, None: pairs (3 or more)
MAX_POLYGON_POINTS = 1000
STATS_BYTES_PER_PIXEL = 32  # the shape test's float64 temporaries and the values inside, per pixel of the box
MAX_POLYGON_WORK = 2 * 10**9  # pixels of the box x corners: the even-odd test's cost, a second or two of CPU
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)


@dataclass(frozen=True)
class Shape:
    """A region in FITS pixels: circle (x, y, r), ellipse (x, y, a, b, angle° from +x), box (x1, y1, x2, y2
    corners), polygon (x1, y1, x2, y2, ...)."""

    kind: str
    numbers: tuple[float, ...]

    def bounds(self) -> tuple[float, float, float, float]:
        """xmin, ymin, xmax, ymax of the shape."""
        n = self.numbers
        if self.kind == "circle":
            return n[0] - n[2], n[1] - n[2], n[0] + n[2], n[1] + n[2]
        if self.kind == "ellipse":
            r = max(n[2], n[3])
            return n[0] - r, n[1] - r, n[0] + r, n[1] + r
        xs, ys = n[0::2], n[1::2]
        return min(xs), min(ys), max(xs), max(ys)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each point (x, y) lies inside."""
        n = self.numbers
        if self.kind == "circle":
            return (x - n[0]) ** 2 + (y - n[1]) ** 2 <= n[2] ** 2
        if self.kind == "ellipse":
            c, s = math.cos(math.radians(n[4])), math.sin(math.radians(n[4]))
            u, v = (x - n[0]) * c + (y - n[1]) * s, -(x - n[0]) * s + (y - n[1]) * c
            return (u / n[2]) ** 2 + (v / n[3]) ** 2 <= 1
        if self.kind == "box":
            return (x >= min(n[0], n[2])) & (x <= max(n[0], n[2])) & (y >= min(n[1], n[3])) & (y <= max(n[1], n[3]))
        return _inside_polygon(x, y, np.array(n[0::2]), np.array(n[1::2]))


def _inside_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd rule, one edge at a time (vectorised over the points)."""
    inside = np.zeros(np.broadcast(x, y).shape, bool)
    for i in range(len(px)):
        x1, y1, x2, y2 = px[i - 1], py[i - 1], px[i], py[i]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


def parse_shape(text: str) -> Shape:
    """A shape written kind:n1,n2,... ("circle:100.5,200,30"), checked: finite numbers, positive sizes."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.lower()
    if kind not in SHAPES:
        raise InvalidParameter(f"shape must be one of {', '.join(SHAPES)}, written kind:numbers", "shape")
    parts = rest.split(",")
    if not all(_NUMBER.fullmatch(p.strip()) for p in parts):
        raise InvalidParameter(f"a {kind} is written {kind}:{_SYNTAX[kind]}", "shape")
    numbers = tuple(float(p) for p in parts)
    count = SHAPES[kind]
    if count is None:
        if len(numbers) % 2 or not 3 <= len(numbers) // 2 <= MAX_POLYGON_POINTS:
            raise InvalidParameter(f"a polygon has 3 to {MAX_POLYGON_POINTS} corners x,y", "shape")
    elif len(numbers) != count:
        raise InvalidParameter(f"a {kind} is written {kind}:{_SYNTAX[kind]}", "shape")
    if not all(math.isfinite(v) and abs(v) < 1e9 for v in numbers):
        raise InvalidParameter("shape numbers must be finite", "shape")
    if (kind == "circle" and numbers[2] <= 0) or (kind == "ellipse" and min(numbers[2:4]) <= 0):
        raise InvalidParameter(f"a {kind}'s radii must be positive", "shape")
    return Shape(kind, numbers)


_SYNTAX = {"circle": "x,y,r", "ellipse": "x,y,a,b,angle", "box": "x1,y1,x2,y2", "polygon": "x1,y1,x2,y2,x3,y3..."}


def pixel_box(shape: Shape, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The whole pixels x1..x2, y1..y2 (FITS, inclusive) that may hold the shape, clipped to the image."""
    xmin, ymin, xmax, ymax = shape.bounds()
    x1, y1 = max(1, math.ceil(xmin)), max(1, math.ceil(ymin))
    x2, y2 = min(width, math.floor(xmax)), min(height, math.floor(ymax))
    return (x1, y1, x2, y2) if x1 <= x2 and y1 <= y2 else None


def shape_stats(data: np.ndarray, x1: int, y1: int, shape: Shape) -> dict[str, float | int | None]:
    """Statistics of the pixels of `data` (rows from y1 upwards, columns from x1) whose centres lie inside
    `shape`: area (pixels inside, blank ones included), count (non-blank), sum, mean, median, std (population),
    min, max; None where there is no value."""
    h, w = data.shape
    ys, xs = np.ogrid[y1:y1 + h, x1:x1 + w]  # a column and a row, broadcast: no grid of coordinates in memory
    inside = np.broadcast_to(shape.contains(xs.astype(np.float64), ys.astype(np.float64)), (h, w))
    values = data[inside].astype(np.float64)
    finite = values[np.isfinite(values)]
    result: dict[str, float | int | None] = {"area": int(inside.sum()), "count": int(finite.size)}
    if finite.size == 0:
        return {**result, **dict.fromkeys(("sum", "mean", "median", "std", "min", "max"))}
    return {**result, "sum": float(finite.sum()), "mean": float(finite.mean()), "median": float(np.median(finite)),
            "std": float(finite.std()), "min": float(finite.min()), "max": float(finite.max())}


def contour_paths(data: np.ndarray, levels: list[float], origin: tuple[float, float], steps: tuple[float, float],
                  max_points: int) -> list[dict]:
    """Contour lines of `data` (column i at FITS x = origin[0] + i * steps[0], row j at y = origin[1] + j * steps[1])
    at each level, as [{"level", "paths": [[[x, y], ...], ...]}] in FITS pixels; stops adding lines past `max_points`
    vertices in all (the answer says so with "truncated")."""
    import contourpy

    generator = contourpy.contour_generator(z=np.where(np.isfinite(data), data, np.nan), name="serial",
                                            line_type=contourpy.LineType.Separate)
    out: list[dict] = []
    total = 0
    for level in levels:
        paths: list[list[list[float]]] = []
        for raw in generator.lines(level):
            line = np.asarray(raw, np.float64)  # LineType.Separate: one (n, 2) array per line
            if total + len(line) > max_points:
                return [*out, {"level": level, "paths": paths, "truncated": True}]
            total += len(line)
            xy = np.column_stack([origin[0] + line[:, 0] * steps[0], origin[1] + line[:, 1] * steps[1]])
            xy = np.round(xy, 3)
            paths.append(xy.tolist())
        out.append({"level": level, "paths": paths})
    return out


def parse_levels(text: str, limit: int) -> list[float]:
    """Contour levels: comma-separated finite numbers, at most `limit`, increasing."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > limit or not all(_NUMBER.fullmatch(p) for p in parts):
        raise InvalidParameter(f"levels must be 1 to {limit} comma-separated numbers", "levels")
    levels = sorted(float(p) for p in parts)
    if not all(math.isfinite(v) for v in levels):
        raise InvalidParameter("levels must be finite numbers", "levels")
    return levels
