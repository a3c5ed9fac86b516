"""Aladin Lite v3 (from its npm package, served by us) shows an image's HiPS at its place on the sky, in a real
server and Chromium with WebGL (SwiftShader, software rendering: no GPU needed)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from tileserver.web.hips import aladin_dir

from support import save_artifact, save_figure
from support.browser import chromium_path
from support.servers import wait_for

pytestmark = pytest.mark.browser

# WebGL 2 in headless Chromium without a GPU: ANGLE over SwiftShader, which Chromium ships.
WEBGL_ARGS = ["--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
              "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--disable-background-networking",
              "--disable-component-update", "--no-first-run"]
SIZE = 300
SCALE = 1.0 / 3600
SOURCES = [(40, 60), (150, 150), (262, 231), (75, 250)]  # 0-based image pixels (x, y up): no symmetry, so a flip
DARK = [(20, 280), (280, 20), (200, 80)]  # or a turn of the image would put a source on a dark place


@pytest.fixture(scope="module")
def webgl_browser(playwright: Any) -> Iterator[Any]:
    assert shutil.which(chromium_path())
    assert aladin_dir() is not None, "Aladin Lite is not installed: run `npm ci` (scripts/setup-tests.sh does)"
    instance = playwright.chromium.launch(executable_path=chromium_path(), args=WEBGL_ARGS)
    yield instance
    instance.close()


def test_aladin_lite_shows_the_image_at_its_sky_position(webgl_browser: Any, make_fits: Callable[..., Any],
                                                         live_server: Callable[..., Any]) -> None:
    data = np.random.default_rng(5).normal(100.0, 3.0, (SIZE, SIZE)).astype(np.float32)
    for x, y in SOURCES:
        data[y - 2:y + 3, x - 2:x + 3] = 10_000.0
    header = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 83.8, "CRVAL2": -5.4, "CRPIX1": 150.5,
              "CRPIX2": 150.5, "CD1_1": -SCALE, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": SCALE, "RADESYS": "ICRS"}
    path = make_fits("field/orion [test].fits", data, header=header, wcs=False)
    wcs = WCS(fits.getheader(path))
    server = live_server("--root-path", "/vis")
    image = "field/orion [test].fits"

    context = webgl_browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    errors: list[str] = []
    statuses: list[tuple[int, str]] = []
    requested: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
            and errors.append(m.text))
    page.on("request", lambda r: requested.append(r.url))
    page.on("response", lambda r: statuses.append((r.status, r.url)))
    try:
        # The viewer's toolbar opens the Aladin Lite page of the image shown, in a new tab.
        page.goto(f"{server.url}/?image={quote(image, safe='')}")
        with context.expect_page() as opened:
            page.click("button[data-tool=aladin]")
        aladin_page = opened.value
        aladin_page.wait_for_load_state()
        assert aladin_page.url == f"{server.url}/aladin?image={quote(image, safe='')}"
        aladin_page.close()

        answer = page.goto(f"{server.url}/aladin?image={quote(image, safe='')}")
        assert "script-src 'self' 'wasm-unsafe-eval'" in answer.headers["content-security-policy"]  # no inline code
        assert page.evaluate("window.tileserverAladin.then(a => a !== null)"), page.text_content("#status")
        centre = wcs.all_pix2world([[(SIZE - 1) / 2, (SIZE - 1) / 2]], 0)[0]
        ra, dec = page.evaluate("window.tileserverAladin.then(a => a.getRaDec())")
        assert abs(ra - centre[0]) < 1e-6 and abs(dec - centre[1]) < 1e-6

        box = page.locator("#aladin").bounding_box()

        def screen(x: float, y: float) -> tuple[float, float]:
            world = wcs.all_pix2world([[x, y]], 0)[0]
            px, py = page.evaluate("([ra, dec]) => window.tileserverAladin.then(a => a.world2pix(ra, dec))",
                                   [float(world[0]), float(world[1])])
            return box["x"] + px, box["y"] + py

        def brightness(shot: np.ndarray, x: float, y: float) -> float:
            sx, sy = (round(v) for v in screen(x, y))
            return float(shot[sy - 1:sy + 2, sx - 1:sx + 2].max())

        def level(shot: np.ndarray, x: float, y: float) -> float:
            sx, sy = (round(v) for v in screen(x, y))
            return float(shot[sy - 1:sy + 2, sx - 1:sx + 2].mean())

        def picture() -> np.ndarray:
            return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("L"), dtype=np.float32)

        # Tiles arrive over a few frames: wait until every source shows, then look at the whole picture.
        wait_for(lambda: min(brightness(picture(), x, y) for x, y in SOURCES) > 200, "the sources on the sky",
                 timeout=120)
        shot = picture()
        for x, y in SOURCES:
            assert brightness(shot, x, y) > 200, (x, y)
        for x, y in DARK:
            # The image's noise, at the first view's cuts (zscale: mid grey); a source there would be saturated.
            assert level(shot, x, y) < 200, (x, y)
        off_x, off_y = screen(-60, 150)  # beyond the image's edge: the empty sky
        assert shot[int(off_y), int(off_x)] < 30
        save_figure("aladin-lite.png", page.screenshot())  # the manual's figure (doc/hips.rst)

        # The FITS tiles (float values, cut by Aladin Lite itself with hips_pixel_cut) put the sources at the same
        # places: their layout is the one Aladin Lite reads.
        page.evaluate("""(url) => window.tileserverAladin.then(a => {
            a.setImageSurvey(a.newImageSurvey(url, {imgFormat: 'fits', name: 'values'})); })""",
                      f"{server.url}/hips/{quote(image, safe='')}")
        wait_for(lambda: any(url.endswith(".fits") and status == 200 for status, url in statuses), "FITS tiles")
        wait_for(lambda: min(brightness(picture(), x, y) for x, y in SOURCES) > 200
                 and max(level(picture(), x, y) for x, y in DARK) < 200, "the sources in FITS", timeout=120)
        save_artifact("aladin-lite-fits.png", page.screenshot())

        base = f"{server.url}/hips/{quote(image, safe='')}"
        assert any(url.startswith(base + "/Norder") and status == 200 for status, url in statuses)
        # Nothing from any other server (Aladin Lite's surveys list, its logger, fonts...).
        outside = [url for url in requested if not url.startswith(server.url.rsplit("/vis", 1)[0] + "/")]
        assert all(url.startswith(("data:", "blob:")) for url in outside), outside
        # Only tiles off the image may be missing: a HiPS has no files outside its footprint.
        assert all(status == 404 and "/Npix" in url for status, url in statuses if status >= 400), statuses
        assert errors == []
    finally:
        context.close()


def test_aladin_page_says_why_an_image_has_no_hips(webgl_browser: Any, make_fits: Callable[..., Any],
                                                   live_server: Callable[..., Any]) -> None:
    make_fits("plain.fits", wcs=False, width=64, height=64)
    server = live_server()
    context = webgl_browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server.url}/?image=plain.fits")  # the viewer offers no Aladin Lite for it
        wait_for(lambda: page.evaluate("!!(window.tileserverViewer && window.tileserverViewer.info)"), "the image")
        assert page.locator("button[data-tool=aladin]").is_hidden()
        page.goto(f"{server.url}/aladin?image=plain.fits")
        assert page.evaluate("window.tileserverAladin") is None
        assert "no celestial WCS" in page.text_content("#status")
    finally:
        context.close()
