"""The web client driven in Chromium: the browser tests' images and server, and what they read from the page (the
viewer's state, its tiles, its readouts, screenshots)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import astropy
import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from tileserver.store.pyramid import Geometry

from support.images import sky, tan_header
from support.servers import LiveServer, server_env

TILE = 128  # small tiles, so that a 600 x 400 image has a grid of them at several levels
SKY = (600, 400)
CUBE = (300, 200, 3)
ASTROPY_SIP = Path(astropy.__file__).parent / "wcs" / "tests" / "data" / "sip.fits"


def write_fits(path: Path, data: np.ndarray, header: dict[str, Any] | None = None) -> None:
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(header or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)


def sip_cards() -> dict[str, Any]:
    """The WCS of a header astropy ships with its tests (rotated, flipped TAN with SIP distortion)."""
    header = fits.getheader(ASTROPY_SIP)
    return {k: v for k, v in header.items() if k not in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND") and k}


def client_images(tmp_path_factory: pytest.TempPathFactory, name: str) -> dict[str, Path]:
    """The browser tests' data folder: a sky with a NaN corner, a SIP header, a cube, one without WCS, one in a
    sub-folder."""
    root = tmp_path_factory.mktemp(name)
    data = root / "data"
    write_fits(data / "sky.fits", sky(*SKY, seed=5, nan_box=True), tan_header(*SKY))
    write_fits(data / "sip.fits", sky(*SKY, seed=6), sip_cards())
    cube = np.stack([sky(CUBE[0], CUBE[1], seed=10 + c) * (1 + c) for c in range(CUBE[2])])
    write_fits(data / "cube.fits", cube, tan_header(CUBE[0], CUBE[1]))
    write_fits(data / "plain.fits", sky(200, 150, seed=7))
    write_fits(data / "sub" / "deep.fits", sky(200, 150, seed=8), tan_header(200, 150))
    return {"root": root, "data": data, "cache": root / "cache"}


def start_server(folders: dict[str, Path], *args: str) -> LiveServer:
    """A real server on the folders of client_images(), with the browser tests' small tiles."""
    env = server_env(folders["data"], folders["cache"], folders["root"] / "config")
    log = folders["root"] / f"server-{len(list(folders['root'].glob('server-*.log')))}.log"
    return LiveServer(["--tile-size", str(TILE), *args], env, log).start()


class Tiles:
    """JTL requests the page makes, taken step by step."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        page.on("request", lambda r: "JTL=" in r.url and self.urls.append(r.url))

    def take(self) -> list[str]:
        out, self.urls = self.urls, []
        return out


def params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def jtl(urls: list[str]) -> set[str]:
    return {params(u)["JTL"][0] for u in urls}


def settle(page: Any) -> None:
    """Wait until the image on view and any change of it have all their tiles."""
    page.wait_for_function(
        "() => { const v = window.tileserverViewer; return v && v.rendered && !v.rendered.loading; }",
        timeout=20000)


def shown_tiles(page: Any) -> list[str]:
    """URLs of the tiles on screen (from the network or the browser's cache)."""
    return page.evaluate("() => [...document.querySelectorAll('.ts-image-layer img.leaflet-tile-loaded')]"
                         ".map((i) => i.src)")


def change(page: Any, act: Callable[[], Any]) -> list[str]:
    """Do something that changes the render parameters; the URLs of the tiles then shown."""
    before = page.evaluate("() => JSON.stringify(window.tileserverViewer.rendered.params)")
    act()
    page.wait_for_function("(before) => { const r = window.tileserverViewer.rendered;"
                           " return JSON.stringify(r.params) !== before && !r.loading; }", arg=before, timeout=20000)
    return shown_tiles(page)


def open_viewer(page: Any, server: LiveServer, query: str) -> Tiles:
    tiles = Tiles(page)
    page.goto(f"{server.url}/?{query}")
    settle(page)
    return tiles


def view(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => {
        const v = window.tileserverViewer, c = v.map.getCenter(), s = v.map.getSize();
        return {lat: c.lat, lng: c.lng, zoom: v.map.getZoom(), size: [s.x, s.y], center: v.centerPixel(),
                info: {full_size: v.info.full_size, tile_levels: v.info.tile_levels, cache_tag: v.info.cache_tag},
                link: v.viewLink().toSearch(), params: v.settings.toParams()};
    }""")


def visible_tiles(v: dict[str, Any]) -> set[str]:
    """The tiles Leaflet must show for a view (its GridLayer rule), numbered as the server numbers them."""
    width, height = v["info"]["full_size"]
    levels = v["info"]["tile_levels"]
    z = min(math.floor(v["zoom"] + 0.5), levels - 1)  # Math.round, as Leaflet: 2.5 -> 3
    cx, cy = math.floor(v["lng"] * 2**z), math.floor(-v["lat"] * 2**z)
    scale = 2 ** (v["zoom"] - z)
    hx, hy = v["size"][0] / (scale * 2), v["size"][1] / (scale * 2)
    ncols, nrows = Geometry(width, height, 1, TILE).grid(z)
    cols = range(max(0, math.floor((cx - hx) / TILE)), min(ncols, math.ceil((cx + hx) / TILE)))
    rows = range(max(0, math.floor((cy - hy) / TILE)), min(nrows, math.ceil((cy + hy) / TILE)))
    return {f"{z},{col + ncols * row}" for row in rows for col in cols}


def screen_point(page: Any, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of FITS pixel (x, y)."""
    p = page.evaluate("([x, y]) => { const v = window.tileserverViewer;"
                      " return v.map.latLngToContainerPoint(v.mapping.fitsToLatLng(x, y)); }", [x, y])
    return p["x"], p["y"]


def grab(page: Any, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    clip = None if box is None else {"x": box[0], "y": box[1], "width": box[2], "height": box[3]}
    shot = page.screenshot(clip=clip)
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), np.float32)


def no_errors(page: Any) -> None:
    assert page.failed_requests == []
    assert page.console_errors == []


def readout(page: Any, row: str) -> dict[str, Any]:
    return page.evaluate("""(row) => {
        const r = document.querySelector(`.ts-row-${row}`);
        return {data: {...r.dataset}, pixel: r.querySelector('.ts-pixel').textContent,
                sky: [...r.querySelectorAll('.ts-sky span')].map((s) => s.textContent),
                value: r.querySelector('.ts-value').textContent, stale: r.querySelector('.ts-value.ts-stale') !== null};
    }""", row)


def centre(page: Any, x: float, y: float) -> None:
    """Centre the view on FITS pixel (x, y) at once (no animation for the mouse to see half-way)."""
    page.evaluate("([x, y]) => { const v = window.tileserverViewer;"
                  " v.map.setView(v.mapping.fitsToLatLng(x, y), v.map.getZoom(), {animate: false}); }", [x, y])


def hover(page: Any, x: float, y: float, locate: Callable[[Any, float, float], tuple[float, float]] | None = None
          ) -> dict[str, Any]:
    """Move the mouse over FITS pixel (x, y) and return the cursor readout once its value has arrived. `locate`
    finds the pixel on the screen (default: screen_point; a turned view has its own)."""
    px, py = (locate or screen_point)(page, x, y)
    # Arrive from a neighbouring screen pixel: a mouse that does not move sends no event.
    page.mouse.move(px + 1, py)
    page.mouse.move(px, py)
    page.wait_for_function("""([x, y]) => { const r = document.querySelector('.ts-row-cursor');
        return Math.abs(r.dataset.x - x) <= 0.5 && Math.abs(r.dataset.y - y) <= 0.5
            && r.dataset.pixel === `${Math.round(r.dataset.x)},${Math.round(r.dataset.y)}`
            && !r.querySelector('.ts-stale'); }""", arg=[x, y], timeout=10000)
    return readout(page, "cursor")
