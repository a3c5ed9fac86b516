"""The manual's screenshots of the viewer (doc/_static/viewer.png, settings-panel.png), taken on the built-in demo
sky as a first run shows it (`tileserver` with no image), by a test that checks what they show: the readout under
the cursor on a galaxy against astropy, and the settings panel with its histogram. With --manual-figures (see
tests/support/__init__.py) they are written into doc/_static/ as well as test-artifacts/."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from support import save_figure
from support.browser import watched_page
from support.servers import LiveServer
from support.viewer import hover, settle

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 760}
# Two galaxies of the demo sky at one image pixel per screen pixel, at the first view's settings; the cursor on the
# round one.
VIEW = "image=demo-sky.fits&x=1700&y=1260&zoom=1"
GALAXY = (1612.0, 1316.0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    root = tmp_path_factory.mktemp("manual")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    env.update({"TILESERVER_CACHE_DIR": str(root / "cache"), "XDG_CONFIG_HOME": str(root / "config")})
    server = LiveServer([], env, root / "server.log").start(timeout=90)  # no image: the demo sky
    yield server, root / "cache" / "demo" / "demo-sky.fits"
    server.stop()


def test_the_manuals_viewer_and_settings_screenshots(demo: tuple[LiveServer, Path], browser: Any) -> None:
    server, path = demo
    with watched_page(browser, viewport=VIEWPORT) as (page, errors):
        page.goto(f"{server.url}/?{VIEW}")
        settle(page)
        shown = hover(page, *GALAXY)
        x, y = float(shown["data"]["x"]), float(shown["data"]["y"])
        data, header = fits.getdata(path), fits.getheader(path)
        px, py = (int(v) for v in shown["data"]["pixel"].split(","))
        value = float(re.match(r"[-+0-9.eE]+", shown["value"]).group())  # "2383.36 adu": the data unit (BUNIT)
        assert "adu" in shown["value"] and abs(value - data[py - 1, px - 1]) <= 1e-3 * abs(data[py - 1, px - 1])
        assert data[py - 1, px - 1] > np.median(data) + 100  # on the galaxy, well above the sky
        ra, dec = WCS(header).all_pix2world([[x, y]], 1)[0]
        assert abs(float(shown["data"]["lon"]) - ra) * 3600 * np.cos(np.radians(dec)) < 0.01
        assert abs(float(shown["data"]["lat"]) - dec) * 3600 < 0.01
        page.wait_for_timeout(300)  # the overview's picture fades in
        save_figure("viewer.png", page.screenshot())

        page.keyboard.press("s")
        panel = page.locator(".ts-panel-settings")
        panel.wait_for(state="visible")
        panel.locator(".ts-histogram").wait_for(state="visible")
        page.wait_for_timeout(300)  # the panel slides in
        # The panel and the image beside it, at a size where the panel reads well in the manual.
        width = 720
        save_figure("settings-panel.png", page.screenshot(
            clip={"x": VIEWPORT["width"] - width, "y": 0, "width": width, "height": VIEWPORT["height"]}))
        assert errors == []
