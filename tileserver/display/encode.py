"""Encoders: JPEG through simplejpeg (the fast path), PNG and WebP through Pillow, FITS through astropy."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import simplejpeg

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "fits": "application/fits"}
JPEG_MAX_SIDE = 65_500
# Longest side each format can hold (WebP: 14 bits; PNG: 2^31 - 1, bounded long before by the region limits).
MAX_SIDE = {"jpeg": JPEG_MAX_SIDE, "webp": 16_383, "png": 2**31 - 1, "fits": 2**31 - 1}


def jpeg(pixels: np.ndarray, quality: int) -> bytes:
    """(h, w) grey or (h, w, 3) RGB uint8 -> JPEG bytes. A grey tile is a one-channel JPEG."""
    quality = max(1, quality)  # libjpeg treats 0 as 1 anyway; simplejpeg refuses it
    if pixels.ndim == 2:
        return simplejpeg.encode_jpeg(pixels[:, :, None], quality=quality, colorspace="GRAY")
    return simplejpeg.encode_jpeg(pixels, quality=quality, colorspace="RGB", colorsubsampling="420")


def pillow(pixels: np.ndarray, fmt: str, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    image = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
    if fmt == "png":
        image.save(buf, "PNG", compress_level=6)
    else:
        image.save(buf, "WEBP", quality=max(1, quality))
    return buf.getvalue()


def image(pixels: np.ndarray, fmt: str, quality: int) -> bytes:
    return jpeg(pixels, quality) if fmt == "jpeg" else pillow(pixels, fmt, quality)


def fits_bytes(data: np.ndarray, header: dict[str, Any]) -> bytes:
    """A float32 FITS file of data (channels, rows from the top) with the given header cards."""
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.ascontiguousarray(data[:, ::-1, :] if data.shape[0] > 1 else data[0, ::-1, :]))
    with warnings.catch_warnings():
        # A card copied from a sloppy source header (kept as text) may not be a valid card: it is left out.
        warnings.simplefilter("ignore")
        for key, value in header.items():
            if key in hdu.header or len(key) > 8:
                continue
            try:
                hdu.header[key] = value
                hdu.header.cards[key].verify("exception")
            except Exception:  # astropy's card errors: VerifyError, ValueError, TypeError...
                hdu.header.remove(key, ignore_missing=True)
        buf = io.BytesIO()
        hdu.writeto(buf, output_verify="silentfix")
    return buf.getvalue()
