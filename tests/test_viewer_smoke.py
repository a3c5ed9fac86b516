"""The viewer page in Debian's Chromium: it loads, asks for JTL tiles and shows them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from support import save_artifact


def test_viewer_shows_tiles(live_server, make_fits, page):
    make_fits("sky.fits", width=1500, height=900)
    server = live_server()
    tiles: list[str] = []
    page.on("response", lambda r: "JTL=" in r.url and r.status == 200 and tiles.append(r.url))
    page.goto(server.url + "/?image=sky.fits")
    page.wait_for_function("document.querySelectorAll('img.leaflet-tile-loaded').length >= 2", timeout=20000)
    assert tiles and all("FIF=sky.fits" in url for url in tiles)
    shot = page.screenshot()
    save_artifact("viewer-smoke.png", shot)
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), np.float32)
    # Real content on screen: the sky is neither blank nor uniform.
    assert pixels.std() > 5 and pixels.mean() > 5
    assert page.failed_requests == []
    assert page.console_errors == []
