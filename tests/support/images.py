"""Seeded test images: a noisy sky with stars, a TAN header, and a FITS file made of both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits


def sky(width: int, height: int, seed: int = 1, nan_box: bool = False) -> np.ndarray:
    """A (height, width) float32 sky: noise around 100 plus a few bright stars. FITS row 0 is the bottom."""
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 5.0, (height, width)).astype(np.float32)
    for _ in range(max(1, width * height // 20000)):
        x, y = rng.integers(0, width), rng.integers(0, height)
        data[max(0, y - 1):y + 2, max(0, x - 1):x + 2] += rng.uniform(200, 5000)
    if nan_box:
        data[: height // 8, : width // 8] = np.nan
    return data


def tan_header(width: int, height: int) -> dict[str, Any]:
    return {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0,
        "CRPIX1": width / 2 + 0.5, "CRPIX2": height / 2 + 0.5,
        "CD1_1": -5.5e-5, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 5.5e-5, "RADESYS": "ICRS",
    }


def write_image(path: Path, width: int, height: int, seed: int) -> None:
    """A seeded FITS sky with a WCS, as the make_fits fixture writes, for fixtures that outlive one test."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(sky(width, height, seed))
    hdu.header.update(tan_header(width, height))
    hdu.writeto(path)
