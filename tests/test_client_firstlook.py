"""The viewer's first look at real-looking data, in Chromium: a dark sky against a zscale rendering (the figures are
printed and saved), a helioprojective solar image, a 200-channel velocity cube, a 16-bit TIFF and a mosaic of two
detectors with their own WCSs, each checked against astropy and saved as a screenshot (test-artifacts/)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from astropy.wcs import WCS
from PIL import Image

from support import ARTIFACTS, save_artifact, save_figure
from support.images import SOLAR, mosaic, sky, tan_header
from support.viewer import hover, no_errors, open_viewer, write_fits

pytestmark = pytest.mark.browser

CUBE = {"CTYPE3": "VRAD", "CUNIT3": "m/s", "CRVAL3": -50000.0, "CDELT3": 500.0, "CRPIX3": 1.0, "BUNIT": "K"}


def dark_sky() -> np.ndarray:
    """A deep exposure: sky 1000 ± 10 counts, faint galaxies 2 to 5 sigma, a few saturated stars."""
    rng = np.random.default_rng(42)
    h, w = 400, 600
    data = rng.normal(1000, 10, (h, w))
    y, x = np.mgrid[:h, :w]
    for cx, cy, peak, size in zip(rng.uniform(20, w - 20, 40), rng.uniform(20, h - 20, 40), rng.uniform(20, 50, 40),
                                  rng.uniform(2, 6, 40)):
        data += peak * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * size**2))
    for cx, cy in ((150, 100), (420, 300), (500, 80)):
        data += 60000 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 4.5)
    return data.astype(np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("firstlook")
    data = root / "data"
    data.mkdir()
    write_fits(data / "dark.fits", dark_sky(), tan_header(600, 400))
    y, x = np.mgrid[:512, :512]
    radius = np.hypot(x - 255.5, y - 255.5) * 4.8 / 960  # solar radii
    disk = np.where(radius < 1, 800 * (1 - 0.6 * (1 - np.sqrt(np.clip(1 - radius**2, 0, 1)))), 5.0)
    write_fits(data / "sun.fits", disk.astype(np.float32), SOLAR)
    velocity = -50 + 0.5 * np.arange(200)  # km/s
    line = np.exp(-((velocity[:, None, None] - 10 * (x[None, ::4, ::4] - 64) / 64) ** 2) / 50)
    cube = (np.random.default_rng(1).normal(0, 0.05, (200, 128, 128)) + 3 * line).astype(np.float32)
    write_fits(data / "cube.fits", cube, {**tan_header(128, 128), **CUBE})
    tiff = (1000 + 500 * np.clip(sky(300, 200, seed=9) / 400, 0, 1)).astype(np.uint16)
    Image.fromarray(tiff).save(data / "detector.tif")
    mosaic(data / "mosaic.fits")
    return {"root": root, "data": data, "cache": root / "cache"}


def image_box(page: Any) -> np.ndarray:
    """The screenshot's pixels over the image (grey levels), from the map's own view of where the image lies."""
    box = page.evaluate("""() => { const v = window.tileserverViewer, m = v.map;
        const a = m.latLngToContainerPoint(v.mapping.fitsToLatLng(0.5, v.mapping.height + 0.5));
        const b = m.latLngToContainerPoint(v.mapping.fitsToLatLng(v.mapping.width + 0.5, 0.5));
        return [a.x, a.y, b.x - a.x, b.y - a.y]; }""")
    clip = {"x": box[0] + 2, "y": box[1] + 2, "width": box[2] - 4, "height": box[3] - 4}
    shot = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("L")
    return np.asarray(shot, np.float64)


def side_by_side(shown: np.ndarray, reference: np.ndarray) -> bytes:
    """A PNG of the viewer's first view (left) and a reference rendering of the same pixels (right)."""
    h, w = shown.shape
    top, left = (reference.shape[0] - h) // 2, (reference.shape[1] - w) // 2
    gap = 12
    both = np.full((h, 2 * w + gap), 24.0)
    both[:, :w] = shown
    both[:, w + gap:] = reference[top:top + h, left:left + w]
    out = io.BytesIO()
    Image.fromarray(np.clip(both, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def test_first_view_of_a_dark_sky_matches_zscale(server, page, folders):
    open_viewer(page, server, "image=dark.fits&x=300.5&y=200.5&zoom=1")
    save_artifact("firstlook-dark-sky.png", page.screenshot())
    shown = image_box(page)
    data = fits.getdata(folders["data"] / "dark.fits").astype(np.float64)
    # zscale samples every k-th pixel in reading order: the server reads the image top row first (display order),
    # astropy a FITS array bottom row first; both are zscale, on different samples of the same sky.
    lo, hi = ZScaleInterval().get_limits(data[::-1])
    zscale = 255 * np.clip((data - lo) / (hi - lo), 0, 1)
    fits_lo, fits_hi = ZScaleInterval().get_limits(data)
    zscale_fits_order = 255 * np.clip((data - fits_lo) / (fits_hi - fits_lo), 0, 1)
    # What the first view used to be: background -2 sigma to +400 sigma under display gamma 2.2.
    info = page.evaluate("() => window.tileserverViewer.info")
    old_lo, old_hi = info["cuts"][0]["auto"]
    old = 255 * np.clip((data - old_lo) / (old_hi - old_lo), 0, 1) ** (1 / 2.2)

    def figures(grey: np.ndarray) -> dict[str, float]:
        # Background: the median grey; source contrast: the 99th percentile (faint galaxies) above it.
        background = float(np.median(grey))
        faint = float(np.percentile(grey, 99)) - background
        noise = float(np.std(grey[grey < np.percentile(grey, 90)]))
        return {"background": round(background, 1), "faint_sources": round(faint, 1), "sky_noise": round(noise, 1)}

    result = {"first_view": figures(shown), "zscale": figures(zscale),
              "zscale (FITS-order sample)": figures(zscale_fits_order), "before (auto, gamma 2.2)": figures(old),
              "cuts": info["cuts"][0]["default"], "astropy_zscale": [float(lo), float(hi)],
              "astropy_zscale_fits_order": [float(fits_lo), float(fits_hi)]}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "firstlook-figures.json").write_text(json.dumps(result, indent=1))
    save_figure("firstlook-zscale.png", side_by_side(shown, zscale[::-1]))  # the manual's figure (display order)
    print("first view vs zscale:", json.dumps(result))
    assert info["cuts"][0]["default"] == pytest.approx([lo, hi], rel=1e-3)  # zscale cuts, as astropy's
    ours, reference = result["first_view"], result["zscale"]
    assert abs(ours["background"] - reference["background"]) < 8  # the sky at zscale's grey (JPEG, resampling)
    assert abs(ours["faint_sources"] - reference["faint_sources"]) < 12
    assert ours["background"] > 3 * result["before (auto, gamma 2.2)"]["background"] - 1 or ours["background"] > 60
    no_errors(page)


def test_a_solar_image_reads_out_helioprojective_arcseconds(server, page):
    open_viewer(page, server, "image=sun.fits")
    assert page.locator(".ts-frame option").first.text_content() == "Helioprojective"
    r = hover(page, 256.5, 256.5)
    text = r["sky"][0]
    wcs = WCS(SOLAR)
    tx, ty = (float(v) * 3600 for v in wcs.all_pix2world(float(r["data"]["x"]), float(r["data"]["y"]), 1))
    tx = tx - 360 * 3600 if tx > 180 * 3600 else tx
    shown = [float(part.strip().rstrip("″")) for part in text.replace("Tx", "").split("Ty")]
    assert shown == pytest.approx([tx, ty], abs=0.06), text
    assert page.locator(".ts-scale-label").text_content().endswith(("″", "′"))  # arcseconds, not degrees
    save_artifact("firstlook-solar.png", page.screenshot())
    no_errors(page)


def test_a_velocity_cube_opens_on_one_channel_labelled_in_km_s(server, page):
    open_viewer(page, server, "image=cube.fits")
    assert page.evaluate("() => window.tileserverViewer.settings.channel") == 100
    page.keyboard.press("c")
    label = page.locator(".ts-channel-coordinate").text_content()
    assert label == "100: 0 km/s" or label.endswith(" km/s"), label
    assert "radio velocity" in page.locator(".ts-panel-channels").text_content()
    r = hover(page, 64, 64)
    assert r["value"].endswith("K") and len(json.loads(r["data"]["values"])) == 200
    page.evaluate("() => window.tileserverViewer.panels.spectrum.show()")
    page.evaluate("() => window.tileserverViewer.panels.spectrum.showPixel(64, 64)")
    page.wait_for_selector(".ts-panel-spectrum .ts-plot:not([hidden])")
    assert "radio velocity (km/s)" in page.locator(".ts-panel-spectrum svg").text_content()
    save_artifact("firstlook-cube-spectrum.png", page.screenshot())
    page.keyboard.press("c")
    save_artifact("firstlook-cube.png", page.screenshot())
    no_errors(page)


def test_a_16_bit_tiff_is_not_black(server, page):
    open_viewer(page, server, "image=detector.tif&x=150.5&y=100.5&zoom=2")
    shown = image_box(page)
    save_artifact("firstlook-tiff16.png", page.screenshot())
    assert 40 < np.median(shown) < 215 and shown.std() > 10
    no_errors(page)


def test_a_mosaic_reads_out_each_chip_with_its_own_wcs(server, page, folders):
    headers = [fits.getheader(folders["data"] / "mosaic.fits", k) for k in (1, 2)]
    open_viewer(page, server, "image=mosaic.fits&x=200.5&y=150.5&zoom=1.5")
    for mx, chip in ((100, 0), (300, 1)):
        r = hover(page, mx, 150)
        x, y = float(r["data"]["x"]), float(r["data"]["y"])
        # Mosaic column mx is data column mx - 200 * chip + 10 of its chip (10 overscan columns).
        ra, dec = (float(v) for v in WCS(headers[chip]).all_pix2world(x - 200 * chip + 10, y, 1))
        assert float(r["data"]["lon"]) == pytest.approx(ra, abs=1e-9), chip
        assert float(r["data"]["lat"]) == pytest.approx(dec, abs=1e-9), chip
    save_artifact("firstlook-mosaic.png", page.screenshot())
    no_errors(page)
