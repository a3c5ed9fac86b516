"""Real IIIF clients against a real server: OpenSeadragon (from npm, served by the tileserver) on a page of
another origin shows our image through info.json: the manual's example page, as it is."""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import ROOT, save_artifact
from support.images import sky

pytestmark = pytest.mark.browser
EXAMPLE = ROOT / "doc" / "examples" / "openseadragon.html"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain static web server on another loopback port: a site that is not the tileserver."""
    folder = tmp_path / "site"
    folder.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_openseadragon_on_another_origin(live_server, make_fits, other_origin, page):
    data = sky(1500, 1000, seed=5)
    data[400:600, 300:700] += 3000  # a bright bar to see in the screenshot
    make_fits("deep/field [v2].fits", data)
    server = live_server()
    folder, site = other_origin
    html = EXAMPLE.read_text(encoding="utf-8").replace("http://127.0.0.1:8009", server.url)
    (folder / "index.html").write_text(html.replace('"image.fits"', '"deep/field [v2].fits"'), encoding="utf-8")

    iiif_answers: list[tuple[int, str, str | None]] = []
    page.on("response", lambda r: "/iiif/3/" in r.url and iiif_answers.append(
        (r.status, r.url, r.headers.get("access-control-allow-origin"))))
    page.goto(site + "/index.html")
    page.wait_for_function("window.viewer && viewer.world.getItemCount() === 1 && "
                           "viewer.world.getItemAt(0).getFullyLoaded()", timeout=60_000)
    assert page.evaluate("viewer.world.getItemAt(0).source.width") == 1500
    shot = page.screenshot()
    save_artifact("iiif-openseadragon.png", shot)
    assert not page.console_errors and not page.failed_requests, (page.console_errors, page.failed_requests)

    assert iiif_answers[0][1].endswith("/iiif/3/deep%2Ffield%20%5Bv2%5D.fits/info.json")
    tiles = [a for a in iiif_answers if a[1].endswith("default.jpg")]
    assert tiles and all(status in (200, 304) and acao == "*" for status, _, acao in tiles)
    # The image fills the middle of the view: not black, not flat, the bright bar brighter than the sky.
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), np.float32)
    centre = pixels[200:600, 300:900]
    assert centre.mean() > 20 and centre.std() > 5
