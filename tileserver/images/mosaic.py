"""Mosaics of detectors: each detector's data section (DATASEC) placed where its DETSEC says, flipped where DETSEC
runs backwards, gaps left blank; read a band of rows at a time, detector by detector, so that memory stays bounded.
The WCS of the first detector is made valid for the whole mosaic, as VisiOmatic does.

A single image is a mosaic of one detector covering it all: the readers have one way to place pixels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from . import wcsheader
from .base import Chip

SECTION = re.compile(r"\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]")

Section = tuple[int, int, int, int]  # x1, x2, y1, y2: 1-based, inclusive, as written in the header


class Detector(Protocol):
    """What a mosaic needs of the image of one detector (fits.Plane)."""

    width: int
    height: int
    rows_per_read: int

    def rows(self, channel: int, first: int, stop: int) -> np.ndarray:
        """Stored rows first <= r < stop of one channel, FITS order (bottom first)."""


# Converts stored values into float32 pixels: convert(raw, out, detector); either array may be a flipped view.
Convert = Callable[[np.ndarray, np.ndarray, Any], None]


@dataclass
class Placement:
    """Where the data section of a detector goes in the mosaic: 0-based first data column and row, the mosaic
    column and row of that first pixel, and the steps (-1 where DETSEC runs backwards: a flipped detector)."""

    detector: Detector
    data_x: int
    data_y: int
    width: int
    height: int
    det_x: int
    det_y: int
    step_x: int = 1
    step_y: int = 1

    @classmethod
    def whole(cls, detector: Detector) -> Placement:
        return cls(detector, 0, 0, detector.width, detector.height, 0, 0)

    @property
    def columns(self) -> tuple[int, int]:
        """The mosaic columns it covers, [lo, hi)."""
        lo = self.det_x if self.step_x > 0 else self.det_x - self.width + 1
        return lo, lo + self.width

    @property
    def rows(self) -> tuple[int, int]:
        lo = self.det_y if self.step_y > 0 else self.det_y - self.height + 1
        return lo, lo + self.height

    def chip(self, header: dict[str, Any]) -> Chip:
        """The INFO description: 1-based [start, end, step] slices of the data and of the mosaic."""
        def section(start: int, n: int, step: int) -> list[int]:
            return [start + 1, start + 1 + step * (n - 1), step]

        return Chip(
            size=(self.detector.width, self.detector.height),
            dataslice=[section(self.data_x, self.width, 1), section(self.data_y, self.height, 1)],
            detslice=[section(self.det_x, self.width, self.step_x), section(self.det_y, self.height, self.step_y)],
            header=header,
        )


def parse_section(value: Any) -> Section | None:
    m = SECTION.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None:
        return None
    x1, x2, y1, y2 = (int(v) for v in m.groups())
    return x1, x2, y1, y2


def layout(detectors: Sequence[Detector], sections: Sequence[tuple[Section | None, Section | None]]
           ) -> tuple[list[Placement], int, int] | None:
    """Place detectors by their (DATASEC, or None for all the data; DETSEC); return the placements and the mosaic's
    width and height, or None if the sections do not make a mosaic (no DETSEC, out of the data, or of different
    sizes, as binned data with unbinned DETSECs)."""
    full = [data or (1, d.width, 1, d.height) for d, (data, _) in zip(detectors, sections)]
    dets = [det for _, det in sections if det is not None]
    if not dets or len(dets) != len(sections):
        return None
    for d, data, det in zip(detectors, full, dets):
        if not (1 <= data[0] <= data[1] <= d.width and 1 <= data[2] <= data[3] <= d.height):
            return None
        if abs(det[1] - det[0]) != data[1] - data[0] or abs(det[3] - det[2]) != data[3] - data[2]:
            return None
    x_min = min(min(s[0], s[1]) for s in dets)
    y_min = min(min(s[2], s[3]) for s in dets)
    width = max(max(s[0], s[1]) for s in dets) - x_min + 1
    height = max(max(s[2], s[3]) for s in dets) - y_min + 1
    placements = [
        Placement(d, data[0] - 1, data[2] - 1, data[1] - data[0] + 1, data[3] - data[2] + 1, det[0] - x_min,
                  det[2] - y_min, 1 if det[1] >= det[0] else -1, 1 if det[3] >= det[2] else -1)
        for d, data, det in zip(detectors, full, dets)
    ]
    return placements, width, height


def reader(placements: list[Placement], width: int, height: int, convert: Convert
           ) -> Callable[[int, int, int], np.ndarray]:
    """read(channel, y0, y1): display rows y0 <= y < y1 of the mosaic (row 0 at the top), blank where no detector is."""
    gaps = len(placements) > 1

    def read(channel: int, y0: int, y1: int) -> np.ndarray:
        out = np.full((y1 - y0, width), np.nan, np.float32) if gaps else np.empty((y1 - y0, width), np.float32)
        for p in placements:
            _place(p, channel, y0, y1, height, out, convert)
        return out

    return read


def _place(p: Placement, channel: int, y0: int, y1: int, height: int, out: np.ndarray, convert: Convert) -> None:
    """Fill the part of out (display rows y0 <= y < y1 of a mosaic `height` rows high) that p covers."""
    lo, hi = p.rows
    # Display row y is mosaic row height - 1 - y (FITS rows count from the bottom).
    first, stop = max(height - y1, lo), min(height - y0, hi)
    x0, x1 = p.columns
    step = p.detector.rows_per_read
    for a in range(first, stop, step):
        b = min(a + step, stop)
        # The data rows of mosaic rows a <= Y < b, read in file order.
        ra, rb = (p.data_y + p.step_y * (y - p.det_y) for y in (a, b - 1))
        raw = p.detector.rows(channel, min(ra, rb), max(ra, rb) + 1)[:, p.data_x:p.data_x + p.width]
        raw = raw[::-1] if p.step_y > 0 else raw  # top row first
        raw = raw[:, ::-1] if p.step_x < 0 else raw
        convert(raw, out[height - b - y0:height - a - y0, x0:x1], p.detector)


def move_wcs(header: dict[str, Any], p: Placement) -> None:
    """Make the WCS of a detector's header valid for the whole mosaic (in place): the detector's data pixel d and
    the mosaic pixel m (1-based) are related by d = data0 + 1 + step * (m - det0 - 1), step -1 on a flipped axis."""
    origin = (p.data_x + 1 - p.step_x * (p.det_x + 1), p.data_y + 1 - p.step_y * (p.det_y + 1))
    moved = wcsheader.regrid(header, origin, (p.step_x, p.step_y))
    header.clear()
    header.update(moved)
