"""images/wcsheader.py against astropy: cutouts agree with WCS.slice where astropy rescales (offsets for every
header form; binning for CDELT and PC + CDELT, since astropy's slice leaves CD and SIP unscaled), and every new
pixel sees the sky its old pixels saw (binning, offsets, mirrored axes) for CD, PC, CDELT, CROTA2 and SIP headers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from tileserver.images import wcsheader

BASE = {"NAXIS": 2, "NAXIS1": 400, "NAXIS2": 300, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.2,
        "CRVAL2": 2.3, "CRPIX1": 180.5, "CRPIX2": 140.25, "CUNIT1": "deg", "CUNIT2": "deg", "RADESYS": "ICRS"}
SIP = {"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "A_ORDER": 2, "B_ORDER": 2, "A_2_0": 2e-5,
       "A_1_1": -1.5e-5, "A_0_2": 8e-6, "B_2_0": -6e-6, "B_1_1": 1.2e-5, "B_0_2": 3e-5, "AP_ORDER": 2, "BP_ORDER": 2,
       "AP_2_0": -2e-5, "AP_1_1": 1.5e-5, "AP_0_2": -8e-6, "BP_2_0": 6e-6, "BP_1_1": -1.2e-5, "BP_0_2": -3e-5}
HEADERS: dict[str, dict[str, Any]] = {
    "cdelt": {**BASE, "CDELT1": -2.8e-4, "CDELT2": 2.8e-4},
    "crota": {**BASE, "CDELT1": -2.8e-4, "CDELT2": 3.1e-4, "CROTA2": 23.0},
    "pc": {**BASE, "CDELT1": -2.5e-4, "CDELT2": 3.3e-4, "PC1_1": 0.86, "PC1_2": -0.5, "PC2_1": 0.5, "PC2_2": 0.86},
    "cd": {**BASE, "CD1_1": -2.4e-4, "CD1_2": 1.1e-4, "CD2_1": 0.9e-4, "CD2_2": 2.7e-4},
    "sip": {**BASE, **SIP, "CD1_1": -2.4e-4, "CD1_2": 1.1e-4, "CD2_1": 0.9e-4, "CD2_2": 2.7e-4},
}
GRID = np.array([(1.0, 1.0), (7.0, 3.0), (40.0, 25.0), (63.5, 12.25), (100.0, 80.0)])  # new 1-based pixels


def wcs(header: dict[str, Any]) -> WCS:
    return WCS(fits.Header(header))


def sky(w: WCS, pixels: np.ndarray) -> np.ndarray:
    """World coordinates of 1-based pixels."""
    return np.column_stack(w.all_pix2world(pixels[:, 0], pixels[:, 1], 1))


@pytest.mark.parametrize("form", HEADERS)
@pytest.mark.parametrize("start", [(0, 0), (37, 12), (201, 150)])
def test_offset_cutouts_agree_with_astropy_slice(form: str, start: tuple[int, int]) -> None:
    header = HEADERS[form]
    sliced = wcs(header).slice((slice(start[1], None), slice(start[0], None)))
    ours = wcs(wcsheader.cutout(header, start, 1))
    np.testing.assert_allclose(sky(ours, GRID), sky(sliced, GRID), rtol=0, atol=1e-10)


@pytest.mark.parametrize("form", ["cdelt", "crota", "pc"])
@pytest.mark.parametrize("binning", [2, 3, 8])
def test_binned_cutouts_agree_with_astropy_slice(form: str, binning: int) -> None:
    header, start = HEADERS[form], (30, 17)
    sliced = wcs(header).slice((slice(start[1], None, binning), slice(start[0], None, binning)))
    ours = wcs(wcsheader.cutout(header, start, binning))
    np.testing.assert_allclose(sky(ours, GRID), sky(sliced, GRID), rtol=0, atol=1e-10)


@pytest.mark.parametrize("form", HEADERS)
@pytest.mark.parametrize("binning", [1, 2, 5])
def test_a_binned_pixel_sees_the_centre_of_its_block(form: str, binning: int) -> None:
    header, start = HEADERS[form], (21, 44)
    old = start + binning * (GRID - 0.5) + 0.5  # the centre of the block of old pixels binned into each new one
    ours = wcs(wcsheader.cutout(header, start, binning))
    np.testing.assert_allclose(sky(ours, GRID), sky(wcs(header), old), rtol=0, atol=1e-10)


@pytest.mark.parametrize("form", HEADERS)
@pytest.mark.parametrize("scale", [(-1, 1), (1, -1), (-1, -1)])
def test_mirrored_axes_keep_the_sky(form: str, scale: tuple[int, int]) -> None:
    """A mosaic detector read backwards (DETSEC running down): new pixel m shows old pixel origin + scale * m."""
    header, origin = HEADERS[form], (401.0, 301.0)
    old = np.array(origin) + np.array(scale) * GRID
    moved = wcsheader.regrid(header, origin, scale)
    assert not any(k.startswith(("CDELT", "PC", "CROTA")) for k in moved)  # a mirror is written as a CD matrix
    np.testing.assert_allclose(sky(wcs(moved), GRID), sky(wcs(header), old), rtol=0, atol=1e-10)


def test_a_uniform_binning_keeps_the_header_form() -> None:
    moved = wcsheader.cutout(HEADERS["pc"], (10, 10), 4)
    assert moved["PC1_2"] == HEADERS["pc"]["PC1_2"] and moved["CDELT2"] == HEADERS["pc"]["CDELT2"] * 4
    assert not any(k.startswith("CD") and "_" in k for k in moved)


def test_a_header_without_wcs_is_left_alone() -> None:
    header = {"NAXIS": 2, "OBJECT": "flat"}
    assert wcsheader.cutout(header, (5, 5), 2) == header
    assert wcsheader.regrid(header, (3.0, 3.0), (-1, 1)) == header
