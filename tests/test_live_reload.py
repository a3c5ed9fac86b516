"""Live reload in Debian's Chromium: the viewer shows a FITS file rewritten on disk by itself, through the websocket
and, when the socket cannot connect, through the polling fallback."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image

from support import save_artifact
from support.images import sky

pytestmark = pytest.mark.browser

TILES = "img.leaflet-tile-loaded"
# Every tile on screen is loaded, done fading in, and not made for the cache tag `old`.
SETTLED = """old => {
    const imgs = [...document.querySelectorAll('img.leaflet-tile')];
    return imgs.length >= 1 && imgs.every(i => i.classList.contains('leaflet-tile-loaded')
        && getComputedStyle(i).opacity === '1' && !(old && i.src.includes('V=' + old)));
}"""


def new_exposure() -> np.ndarray:
    """Unlike the first sky: a bright band over its right quarter (a minority of pixels, so the automatic cuts,
    set by the background, still show it bright on a dark sky)."""
    data = sky(512, 512, seed=2)
    data[:, 384:] += 1000
    return data


def brightest_column(shot: bytes) -> float:
    """The largest median over a column of screen pixels: a bright band across the image stands out, stars and
    controls (the same before and after) do not."""
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), np.float32)
    return float(np.median(pixels, axis=0).max())


def tags(page: Any) -> set[str]:
    """Cache tags (V=) of the tiles on screen."""
    srcs = page.eval_on_selector_all(TILES, "imgs => imgs.map(i => i.src)")
    return {m.group(1) for src in srcs if (m := re.search(r"[?&]V=([^&]+)", src))}


def watch_and_rewrite(page: Any, make_fits: Any, name: str) -> tuple[float, float]:
    """With the viewer showing the first sky, rewrite the file and wait until every tile on screen is of the new
    exposure. Returns the map's brightest column (see brightest_column) before and after."""
    page.wait_for_function(SETTLED, arg="", timeout=20000)
    old = tags(page)
    assert len(old) == 1
    before = page.locator("#map").screenshot()
    save_artifact(f"{name}-before.png", before)
    make_fits("live.fits", data=new_exposure())
    page.wait_for_function(SETTLED, arg=old.pop(), timeout=25000)
    after = page.locator("#map").screenshot()
    save_artifact(f"{name}-after.png", after)
    return brightest_column(before), brightest_column(after)


def test_viewer_reloads_a_rewritten_file_by_itself(live_server, make_fits, page):
    make_fits("live.fits", data=sky(512, 512, seed=1))
    server = live_server("--workers", "2", env={"TILESERVER_WS_WATCH_INTERVAL": "0.2"})
    received: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: received.append(json.loads(frame))))
    page.goto(server.url + "/?image=live.fits")
    # The server's watch of the file has its baseline once the socket says the image is ready.
    for _ in range(200):
        if any(m["type"] == "ready" for m in received):
            break
        page.wait_for_timeout(100)
    assert any(m["type"] == "ready" and m["image"] == "live.fits" for m in received)
    before, after = watch_and_rewrite(page, make_fits, "live-reload")
    assert after - before > 50, (before, after)
    kinds = [m["type"] for m in received if m["type"] != "ping"]
    assert kinds[0] == "hello" and "changed" in kinds and kinds[-1] == "ready"
    assert page.failed_requests == []
    assert page.console_errors == []


def test_polling_fallback_when_the_socket_cannot_connect(live_server, make_fits, page):
    make_fits("live.fits", data=sky(512, 512, seed=1))
    server = live_server()
    attempts: list[str] = []

    def refuse(route: Any) -> None:  # as a proxy without websocket support would: the socket closes at once
        attempts.append(route.url)
        route.close(code=1011, reason="no websocket here")

    page.route_web_socket(re.compile(r".*/ws(\?.*)?$"), refuse)
    page.goto(server.url + "/?image=live.fits")
    page.wait_for_function("window.tileserverViewer && window.tileserverViewer.live.mode === 'polling'",
                           timeout=20000)
    before, after = watch_and_rewrite(page, make_fits, "live-reload-polling")
    assert after - before > 50, (before, after)
    assert len(attempts) >= 2  # it keeps trying to reconnect meanwhile
    assert page.console_errors == []
