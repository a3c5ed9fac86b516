"""The built-in demo image: a seeded synthetic sky with a TAN WCS, written once into the cache folder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .. import atomic

DEMO_NAME = "demo-sky.fits"
SEED = 20261121


def _moffat_stamp(radius: int, fwhm: float, beta: float = 3.0) -> np.ndarray:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    psf = (1 + (x * x + y * y) / alpha**2) ** -beta
    return (psf / psf.sum()).astype(np.float32)


def _sersic_stamp(radius: int, r_eff: float, n: float, axis_ratio: float, angle: float) -> np.ndarray:
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u, v = x * c + y * s, (-x * s + y * c) / axis_ratio
    r = np.hypot(u, v)
    b = 2 * n - 1 / 3  # good approximation of the Sersic b_n for n > 0.5
    profile = np.exp(-b * ((r / r_eff) ** (1 / n) - 1))
    return (profile / profile.sum()).astype(np.float32)


def make_sky(width: int = 4096, height: int = 3072, seed: int = SEED) -> tuple[np.ndarray, dict]:
    """A (height, width) float32 sky in ADU and its header cards. FITS row 0 is the bottom."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = 1000 + 0.02 * xx + 0.015 * yy  # a gentle background gradient
    sky += rng.normal(0, 12, size=(height, width)).astype(np.float32)
    psf = _moffat_stamp(12, fwhm=3.2)
    # Euclidean number counts: N(>F) ~ F^-1.5, so F = Fmin * u^(-1/1.5).
    n_stars = 6000
    flux = np.minimum(300 * rng.random(n_stars) ** (-1 / 1.5), 3e6)
    px, py = rng.integers(12, width - 12, n_stars), rng.integers(12, height - 12, n_stars)
    for x, y, f in zip(px, py, flux):
        sky[y - 12:y + 13, x - 12:x + 13] += f * psf
    for _ in range(6):
        radius = int(rng.integers(40, 120))
        x, y = int(rng.integers(radius, width - radius)), int(rng.integers(radius, height - radius))
        stamp = _sersic_stamp(radius, r_eff=radius / 4, n=float(rng.choice([1.0, 4.0])),
                              axis_ratio=float(rng.uniform(0.3, 0.9)), angle=float(rng.uniform(0, np.pi)))
        sky[y - radius:y + radius + 1, x - radius:x + radius + 1] += float(rng.uniform(2e5, 2e6)) * stamp
    np.minimum(sky, 65000, out=sky)  # saturation
    header = {
        "OBJECT": "tileserver demo field",
        "BUNIT": "adu",
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
        "CRVAL1": 150.1163, "CRVAL2": 2.2058,
        "CRPIX1": width / 2 + 0.5, "CRPIX2": height / 2 + 0.5,
        "CD1_1": -5.2e-5, "CD1_2": 1.1e-6, "CD2_1": 1.1e-6, "CD2_2": 5.2e-5,
        "RADESYS": "ICRS", "EQUINOX": 2000.0,
    }
    return sky.astype(np.float32), header


def ensure_demo(folder: Path) -> Path:
    """Write the demo image into folder unless it is there already; returns its path."""
    from astropy.io import fits

    path = folder / DEMO_NAME
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    data, cards = make_sky()
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(cards)
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    atomic.write(path, buffer.getvalue())  # another process may be writing it too: the last complete file wins
    return path
