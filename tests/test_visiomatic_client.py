"""VisiOmatic's own web client (3.0.7, from PyPI) against our real server, in Debian's Chromium (issue 4).

scripts/setup-tests.sh downloads the VisiOmatic wheel into .cache/visiomatic/ (git-ignored; nothing of it is
committed). Each test renders the wheel's own page template (templates/base.html) and serves it, with the client's
files (client/dist, css, images), from inside the wheel through Playwright routes at our server's origin: the page,
its script and our /api are then same-origin, as under VisiOmatic's own server, and no CORS setting is involved.

The template loads Leaflet's CSS from unpkg.com with a subresource-integrity hash; the route answers it with
xstatic-leaflet's copy of the same file (same version, same bytes: the hash check passes). Any other request
(another site, or a path of our origin that is neither the page, the client nor /api) is blocked and listed, and
the tests assert the list empty: the flows below make none (the client reaches CDS Sesame, VizieR and other
services only from panels and options these tests do not use).

What VisiOmatic 3.0.7's client sends, read from its sources and checked here on the wire: mono mode adds
`CHAN=c` (1-based) to every tile, colour mode one `MIX=c:r,g,b` per channel (it never sends CTW, which belongs to
older IIP clients), `MINMAX=c:lo,hi` for changed cuts, and `GAM` is its display gamma itself, out = v^(1/GAM),
as in our DESIGN and in VisiOmatic's server.
"""

from __future__ import annotations

import io
import mimetypes
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jinja2
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from support import ROOT, save_artifact
from support.images import sky, tan_header

pytestmark = pytest.mark.browser

WHEEL = ROOT / ".cache" / "visiomatic" / "visiomatic-3.0.7-py3-none-any.whl"
UNPKG_LEAFLET = "https://unpkg.com/leaflet@1.9.3/dist/"
PAGE = "/visiomatic.html"  # where the rendered template is served; our server has no such path
SIZE = (1000, 700)  # 3 levels of 256-pixel tiles; the client's initial zoom 1 shows level 1 (500 x 350) whole
BLOB = (250, 550)  # FITS pixel (1-based, y up) of a bright square in the mono image: upper left on screen
BLOBS = ((250, 500), (500, 200), (750, 500))  # one Gaussian blob per cube channel


@pytest.fixture(scope="module")
def wheel() -> Iterator[zipfile.ZipFile]:
    if not WHEEL.is_file():
        pytest.fail(f"VisiOmatic's wheel is missing ({WHEEL.relative_to(ROOT)}): run scripts/setup-tests.sh")
    with zipfile.ZipFile(WHEEL) as archive:
        yield archive


@dataclass
class VisiomaticPage:
    """A Playwright page showing VisiOmatic's client at our server's origin, recording what it asks /api."""

    page: Any
    origin: str
    api: list[tuple[str, int, str]] = field(default_factory=list)  # (url, status, content type)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def tiles(self, *parts: str) -> list[tuple[str, int, str]]:
        return [a for a in self.api if "JTL=" in a[0] and all(p in a[0] for p in parts)]

    def wait_tiles(self, part: str) -> None:
        """Wait until every tile of the main layer shows an image, loaded from a URL containing `part`."""
        self.page.wait_for_function(
            """part => { const imgs = [...vlayer.getContainer().querySelectorAll('img')];
                return imgs.length > 0 && imgs.every(i => i.src.includes(part) && i.complete && i.naturalWidth > 0)
                    && !vlayer.isLoading(); }""", arg=part, timeout=15000)

    def shot(self, name: str) -> np.ndarray:
        data = self.page.screenshot()
        save_artifact(name, data)
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)

    def screen_xy(self, x: float, y: float) -> tuple[int, int]:
        """Where FITS pixel (x, y) is on screen, through the client's own WCS."""
        point = self.page.evaluate(
            "([x, y]) => map.latLngToContainerPoint(map.options.crs.unproject(L.point(x, y)))", [x, y])
        return round(point["x"]), round(point["y"])

    def patch(self, pixels: np.ndarray, x: float, y: float, half: int = 2) -> np.ndarray:
        """Median colour of a small screen patch around FITS pixel (x, y)."""
        sx, sy = self.screen_xy(x, y)
        return np.median(pixels[sy - half:sy + half + 1, sx - half:sx + half + 1].reshape(-1, 3), axis=0)

    def open_pane(self, pane: str) -> None:
        """Open one of the sidebar's panels: first the sidebar itself (its menu button), then the panel's tab."""
        if self.page.locator(".sidebar.collapsed").count():
            self.page.click("a.leaflet-control-zoom-sidebar")
        self.page.click(f"#{pane}-toggle")
        self.page.locator(f"#{pane}").wait_for(state="visible")

    def spinbox(self, pane: str, label: str, value: float, expect: str) -> tuple[str, int, str]:
        """Type a value into one of the client's spin boxes, as a user does, and return the tile it then asks."""
        line = self.page.locator(f"#{pane} .visiomatic-control-line", has_text=label)
        box = line.locator("input.leaflet-spinbox-input")
        with self.page.expect_response(lambda r: "JTL=" in r.url and expect in r.url) as response:
            box.fill(str(value))
            box.dispatch_event("change")
        r = response.value
        return r.url, r.status, r.headers.get("content-type", "")

    def check_clean(self) -> None:
        # Problems the page saw: console errors, failed requests, alerts (how the client reports a bad answer).
        # One error is the client's own, whatever the server says: Leaflet's guard, raised when VisiOmatic's
        # mini-map redraws during a mode switch before it knows its size. Every answer of ours is checked below.
        own = "Attempted to load an infinite number of tiles"
        assert [e for e in self.page.console_errors if own not in e] == []
        assert self.page.failed_requests == []
        assert self.dialogs == []
        assert self.blocked == []
        assert self.api and all(status == 200 for _, status, _ in self.api), self.api


@pytest.fixture
def visiomatic(page: Any, wheel: zipfile.ZipFile) -> Callable[[str, str], VisiomaticPage]:
    """open(server_url, "image=sky.fits&mode=color") -> the page, loaded, with its first tiles shown."""
    import xstatic.pkg.leaflet

    leaflet_dir = Path(xstatic.pkg.leaflet.BASE_DIR)

    def open_page(server_url: str, args: str) -> VisiomaticPage:
        parts = urlsplit(server_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        html = jinja2.Template(wheel.read("visiomatic/templates/base.html").decode()).render(
            root_path=parts.path, api_path="/api", image="", doc_url="")
        vis = VisiomaticPage(page, origin)

        def serve(route: Any) -> None:
            url = route.request.url.split("?")[0]
            if url == origin + parts.path + PAGE:
                route.fulfill(body=html, content_type="text/html; charset=utf-8")
            elif url.startswith(origin + parts.path + "/client/"):
                name = "visiomatic" + url[len(origin + parts.path):]
                try:
                    body = wheel.read(name)
                except KeyError:
                    route.fulfill(status=404, body="not in the wheel")
                    return
                route.fulfill(body=body, content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
            elif url.startswith(UNPKG_LEAFLET) and (leaflet_dir / url[len(UNPKG_LEAFLET):]).is_file():
                # crossorigin="" in the template: an anonymous CORS fetch, whose answer must allow any origin.
                path = leaflet_dir / url[len(UNPKG_LEAFLET):]
                route.fulfill(body=path.read_bytes(), content_type=mimetypes.guess_type(path.name)[0] or "",
                              headers={"Access-Control-Allow-Origin": "*"})
            else:
                vis.blocked.append(route.request.url)
                route.abort("blockedbyclient")

        page.route(lambda url: not url.startswith(origin + parts.path + "/api"), serve)
        page.on("response", lambda r: "/api?" in r.url and vis.api.append(
            (r.url, r.status, r.headers.get("content-type", ""))))
        page.on("dialog", lambda d: (vis.dialogs.append(d.message), d.dismiss()))
        page.goto(server_url + PAGE + "?" + args)
        page.wait_for_function("typeof vlayer !== 'undefined' && vlayer.visio.metaReady", timeout=15000)
        vis.wait_tiles("JTL=")
        return vis

    return open_page


def write_fits(path: Path, data: np.ndarray, header: dict[str, Any]) -> WCS:
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(header)
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)
    return WCS(hdu.header, naxis=2)


def decode(url: str) -> np.ndarray:
    response = httpx.get(url)
    assert response.status_code == 200
    return np.asarray(Image.open(io.BytesIO(response.content)), np.float32)


def test_mono_image(live_server: Callable[..., Any], data_dir: Path, visiomatic: Callable[..., VisiomaticPage]) -> None:
    data = sky(*SIZE, seed=3)
    x, y = BLOB
    data[y - 11:y + 10, x - 11:x + 10] = 5000.0  # rows are FITS y - 1
    wcs = write_fits(data_dir / "deep" / "sky.fits", data,
                     {**tan_header(*SIZE), "OBJECT": "Test field", "FILTER": "r", "BUNIT": "e-/s"})
    server = live_server()
    vis = visiomatic(server.url, "image=deep/sky.fits")
    page = vis.page

    # INFO, asked by the main layer and the mini-map's, is accepted (the client checks type == "visiomatic").
    assert [(s, t) for u, s, t in vis.api if u.endswith("&INFO")] == [(200, "application/json")] * 2
    # The title is the image name minus .fits, then OBJECT; the single channel is named by FILTER.
    assert page.title() == "deep/sky - Test field"
    visio = page.evaluate("({labels: vlayer.visio.channelLabels, units: vlayer.visio.channelUnits,"
                          " levels: vlayer.visio.maxZoom + 1, code: map.options.crs.code})")
    assert visio == {"labels": ["r"], "units": ["e-/s"], "levels": 3, "code": "WCS:TAN"}
    # Its WCS, built from our header, agrees with astropy (1-based FITS pixels).
    for px, py in ((1, 1), (1000, 1), (123.5, 654.25), (500.5, 350.5)):
        got = page.evaluate("([x, y]) => map.options.crs.unproject(L.point(x, y))", [px, py])
        ra, dec = wcs.all_pix2world([[px, py]], 1)[0]
        assert (got["lng"], got["lat"]) == pytest.approx((ra, dec), abs=1e-7), (px, py)
    assert page.locator(".leaflet-control-coords-dialog input").input_value() == "10:00:00.000 +02:00:00.00"

    # JTL tiles of level 1 (the client's initial zoom), mono mode on channel 1.
    first = vis.tiles()
    assert first and {(s, t) for _, s, t in first} == {(200, "image/jpeg")}
    assert all("CHAN=1&" in url for url, _, _ in first)
    assert {parse_qs(urlsplit(url).query)["JTL"][0] for url, _, _ in first} >= {"1,0", "1,1", "1,2", "1,3"}

    # The pixel value under the reticle: VAL in FITS pixels, the same number as in the file.
    page.wait_for_function("document.querySelector('.leaflet-control-values-input').value !== ''")
    val = [url for url, _, _ in vis.api if "VAL=" in url][-1]
    vx, vy = map(int, parse_qs(urlsplit(val).query)["VAL"][0].split(","))
    shown = page.locator(".leaflet-control-values-input").input_value()
    assert float(shown.split()[0]) == pytest.approx(float(data[vy - 1, vx - 1]), rel=1e-5)
    assert shown.endswith("e-/s")

    pixels = vis.shot("visiomatic-mono.png")
    image = pixels[vis.screen_xy(1, SIZE[1])[1]:vis.screen_xy(1, 1)[1], vis.screen_xy(1, 1)[0]:vis.screen_xy(*SIZE)[0]]
    assert image.std() > 3  # real pixels, noise and stars (a blank or uniform map gives 0)
    # Orientation: the square is where the client's WCS puts FITS pixel BLOB (rows from the top), not mirrored.
    assert vis.patch(pixels, x, y).min() > 200
    assert vis.patch(pixels, x, SIZE[1] + 1 - y).max() < 100
    assert vis.patch(pixels, SIZE[0] + 1 - x, y).max() < 100

    # Its image settings panel: contrast, gamma, brightness; then its channel panel: cuts and colour map.
    default_tile = first[0][0]
    vis.open_pane("visiomatic-image")
    answers = [vis.spinbox("visiomatic-image", "Contrast:", 2, "CNT=2&"),
               vis.spinbox("visiomatic-image", "Gamma:", 1.5, "GAM=1.5000&"),
               vis.spinbox("visiomatic-image", "Brightness:", 0.5, "BRT=0.5&")]
    vis.open_pane("visiomatic-channel")
    answers += [vis.spinbox("visiomatic-channel", "Min:", 90, "MINMAX=1:90,"),
                vis.spinbox("visiomatic-channel", "Max:", 400, "MINMAX=1:90,400")]
    assert [(s, t) for _, s, t in answers] == [(200, "image/jpeg")] * 5
    with page.expect_response(lambda r: "JTL=" in r.url and "CMP=jet" in r.url) as jet:
        page.click("label[for=leaflet-cmap-jet]")
    assert (jet.value.status, jet.value.headers["content-type"]) == (200, "image/jpeg")
    vis.wait_tiles("CMP=jet")
    colour = vis.shot("visiomatic-mono-jet.png")
    assert np.ptp(vis.patch(colour, x, y)) > 50  # a colour map now, not grey

    # GAM is the display gamma (out = v^(1/GAM)): above the default 1, the sky background gets brighter.
    z, i = parse_qs(urlsplit(default_tile).query)["JTL"][0].split(",")
    brighter = f"{server.url}/api?FIF=deep/sky.fits&CHAN=1&GAM=1.5000&JTL={z},{i}"
    assert np.median(decode(brighter)) > np.median(decode(default_tile)) + 5

    # Its profile tool: start a line at the centre, drag the map, end it: a PFL on channel 1, plotted.
    vis.open_pane("visiomatic-profile")
    page.click("#visiomatic-control-button-start")
    page.mouse.move(900, 600)
    page.mouse.down()
    page.mouse.move(700, 500, steps=5)
    with page.expect_response(lambda r: "PFL=" in r.url) as profile:
        page.mouse.up()
        page.click("#visiomatic-control-button-end")
    assert (profile.value.status, profile.value.headers["content-type"]) == (200, "application/json")
    points = profile.value.json()["profile"]
    assert "CHAN=1&" in profile.value.url and len(points) > 100
    assert [p["values"][0] for p in points] == pytest.approx([float(data[p["y"] - 1, p["x"] - 1]) for p in points])
    page.wait_for_selector(".visiomatic-profile-plot canvas")
    vis.shot("visiomatic-mono-profile.png")
    vis.check_clean()


def test_cube_colour_mode(live_server: Callable[..., Any], data_dir: Path,
                          visiomatic: Callable[..., VisiomaticPage]) -> None:
    width, height = SIZE
    yy, xx = np.mgrid[1:height + 1, 1:width + 1]
    cube = np.stack([sky(width, height, seed=20 + c) + 3000 * np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / 1250)
                     for c, (bx, by) in enumerate(BLOBS)]).astype(np.float32)
    write_fits(data_dir / "cube.fits", cube, tan_header(width, height))
    server = live_server()
    vis = visiomatic(server.url, "image=cube.fits&mode=color")
    page = vis.page

    # Colour mode: one MIX per channel (blue, green, red by default), no CHAN.
    first = vis.tiles()
    assert first and {(s, t) for _, s, t in first} == {(200, "image/jpeg")}
    for url, _, _ in first:
        query = parse_qs(urlsplit(url).query)
        assert "CHAN" not in query and [m.split(":")[0] for m in query["MIX"]] == ["1", "2", "3"]
    pixels = vis.shot("visiomatic-cube-color.png")
    for c, (bx, by) in enumerate(BLOBS):
        rgb = vis.patch(pixels, bx, by)
        # The other channels show their sky at zscale's mid-grey, well below the blob's own colour.
        assert rgb.argmax() == 2 - c and rgb.max() > 200 and np.sort(rgb)[1] < 120, (c + 1, rgb)

    # Its channel panel in colour mode: new cuts for channel 1 come with the mix.
    vis.open_pane("visiomatic-channel")
    url, status, kind = vis.spinbox("visiomatic-channel", "Max:", 50000, "MINMAX=1:")
    assert (status, kind) == (200, "image/jpeg") and "MIX=1:" in url and "MINMAX=1:" in url

    # Back to mono, then channel 3 of the cube, as a user picks it from the list.
    with page.expect_response(lambda r: "JTL=" in r.url and "CHAN=1&" in r.url) as mono:
        page.click("label[for=visiomatic-control-radio-mono]")
    assert (mono.value.status, mono.value.headers["content-type"]) == (200, "image/jpeg")
    with page.expect_response(lambda r: "JTL=" in r.url and "CHAN=3&" in r.url) as third:
        page.locator("#visiomatic-channel select").select_option(label="Channel #3")
    assert (third.value.status, third.value.headers["content-type"]) == (200, "image/jpeg")
    vis.wait_tiles("CHAN=3&")
    grey = vis.shot("visiomatic-cube-channel3.png")
    assert vis.patch(grey, *BLOBS[2]).min() > 200 and np.ptp(vis.patch(grey, *BLOBS[2])) < 10
    assert vis.patch(grey, *BLOBS[0]).max() < 100 and vis.patch(grey, *BLOBS[1]).max() < 100
    vis.check_clean()
