"""One way to carry a 2-D FITS WCS (linear part in CD, PC + CDELT, CROTA2 + CDELT or CDELT alone; SIP distortion)
over to a new pixel grid: a cutout's (an offset, a binning) or a mosaic's (a detector placed, perhaps mirrored).

The new grid is given per axis by `old = origin + scale * new` in 1-based FITS pixel coordinates; a negative scale
mirrors the axis. Headers are plain dicts of cards, so the readers and the engine need no astropy WCS object;
tests/test_wcsheader.py checks the results against astropy's WCS.slice and its pixel_to_world.
"""

from __future__ import annotations

import math
import re
from typing import Any

SIP = re.compile(r"(A|B|AP|BP)_(\d+)_(\d+)")
LINEAR = re.compile(r"(CDELT|CROTA)[12]|PC[12]_[12]|PC00[12]00[12]|CD[12]_[12]")

Matrix = list[list[float]]


def regrid(header: dict[str, Any], origin: tuple[float, float], scale: tuple[float, float]) -> dict[str, Any]:
    """The header for the grid where old pixel = origin + scale * new pixel, axis by axis (a copy)."""
    out = dict(header)
    if not any(f"{key}{axis}" in header for key in ("CRPIX", "CTYPE") for axis in (1, 2)):
        return out  # no WCS to move
    for axis in (1, 2):
        crpix = number(header, f"CRPIX{axis}", 0.0)
        out[f"CRPIX{axis}"] = (crpix - origin[axis - 1]) / scale[axis - 1]
    if scale == (1, 1):
        return out
    _scale_linear(header, out, scale)
    for key, value in header.items():
        m = SIP.fullmatch(key)
        if m and isinstance(value, (int, float)):
            # SIP acts on pixel offsets u, v: u_old = s_x u_new, and its output is in pixels of its own axis.
            s_out = scale[0] if m.group(1) in ("A", "AP") else scale[1]
            out[key] = value * scale[0] ** int(m.group(2)) * scale[1] ** int(m.group(3)) / s_out
    return out


def cutout(header: dict[str, Any], start: tuple[int, int], binning: int) -> dict[str, Any]:
    """The header of a cutout whose first pixel starts `start` pixels (x, y: 0-based, from FITS pixel 1) into
    the image, binned `binning` x `binning`: the same grid as astropy's WCS.slice with that start and step."""
    origin = (start[0] + 0.5 - binning / 2, start[1] + 0.5 - binning / 2)
    return regrid(header, origin, (binning, binning))


def _scale_linear(header: dict[str, Any], out: dict[str, Any], scale: tuple[float, float]) -> None:
    """Scale the pixel-to-intermediate matrix's columns; keeps the header's form when a uniform scale allows."""
    uniform = scale[0] == scale[1] and scale[0] > 0
    has_cd = any(f"CD{i}_{j}" in header for i in (1, 2) for j in (1, 2))
    if uniform and not has_cd:
        for axis in (1, 2):  # diag(CDELT) @ PC (or the CROTA2 rotation) scales as a whole with CDELT
            out[f"CDELT{axis}"] = number(header, f"CDELT{axis}", 1.0) * scale[0]
        return
    cd = cd_matrix(header)
    for key in [k for k in out if LINEAR.fullmatch(k)]:
        del out[key]
    for i in (1, 2):
        for j in (1, 2):
            out[f"CD{i}_{j}"] = cd[i - 1][j - 1] * scale[j - 1]


def cd_matrix(h: dict[str, Any]) -> Matrix:
    """The linear part of a WCS as a CD matrix, from CD, PC and CDELT, CROTA2 and CDELT, or CDELT alone."""
    if any(f"CD{i}_{j}" in h for i in (1, 2) for j in (1, 2)):
        return [[number(h, f"CD{i}_{j}", 0.0) for j in (1, 2)] for i in (1, 2)]
    cdelt = (number(h, "CDELT1", 1.0), number(h, "CDELT2", 1.0))
    if any(f"PC{i}_{j}" in h for i in (1, 2) for j in (1, 2)):
        return [[cdelt[i - 1] * number(h, f"PC{i}_{j}", float(i == j)) for j in (1, 2)] for i in (1, 2)]
    rho = math.radians(number(h, "CROTA2", 0.0))
    return [[cdelt[0] * math.cos(rho), -cdelt[1] * math.sin(rho)],
            [cdelt[0] * math.sin(rho), cdelt[1] * math.cos(rho)]]


def number(header: dict[str, Any], key: str, default: float) -> float:
    value = header.get(key, default)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else default
