"""Seeded test images: a noisy sky with stars, a TAN header, a FITS file made of both, a pyramid build of a random
image; and JPEG tiles decoded back to pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg
from astropy.io import fits

from tileserver.store import pyramid


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


def fake_build(size: int = 300, seed: int = 0):
    """A build function writing a real pyramid (tile size 128, 3 levels) of a seeded random image."""
    from tileserver.images.base import ImageSource

    data = np.random.default_rng(seed).normal(0, 1, (size, size)).astype(np.float32)
    source = ImageSource(read=lambda c, y0, y1: data[y0:y1], width=size, height=size, nchannels=1,
                         bits_per_channel=-32, header={}, chips=[], kind="fits")
    return lambda folder: pyramid.build(source, folder, 128, threads=1)


def decode(content: bytes) -> np.ndarray:
    """JPEG bytes -> (h, w) for grey, (h, w, 3) for colour."""
    header = simplejpeg.decode_jpeg_header(content)
    if header[2] == "Gray":
        return simplejpeg.decode_jpeg(content, colorspace="GRAY")[:, :, 0]
    return simplejpeg.decode_jpeg(content, colorspace="RGB")


# A helioprojective TAN header (arcseconds, the Sun's own frame).
SOLAR = {"CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec", "CUNIT2": "arcsec", "CRPIX1": 256.5,
         "CRPIX2": 256.5, "CRVAL1": -4.5, "CRVAL2": 2.9, "CDELT1": 4.8, "CDELT2": 4.8, "BUNIT": "DN/s"}


def mosaic(path: Path) -> list[fits.Header]:
    """Two 200 x 300 detectors side by side, 10 overscan columns each, the second pointing 5 pixels off."""
    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = [fits.PrimaryHDU()]
    for k, shift in enumerate((0.0, 5.0)):
        data = np.concatenate([np.full((300, 10), 50.0), sky(200, 300, seed=30 + k)], axis=1).astype(np.float32)
        hdu = fits.ImageHDU(data, name="SCI")
        header = tan_header(200, 300)
        header.update(CRPIX1=110.5 - 200 * k + shift, CRPIX2=150.5, DATASEC="[11:210,1:300]",
                      DETSEC=f"[{1 + 200 * k}:{200 + 200 * k},1:300]")
        hdu.header.update(header)
        hdus.append(hdu)
    fits.HDUList(hdus).writeto(path)
    return [h.header for h in hdus[1:]]
