"""The viewer's tools in Debian's Chromium against a real server (Playwright): line profile, spectrum, snapshots and
FITS cutouts, measure, and the websocket that names its image.

Shapes are drawn with the mouse; what the page shows (the plotted SVG, the downloaded files) is checked against the
FITS data, the server's own PFL answer and astropy. Screenshots go to test-artifacts/tools-*.png.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from tileserver.store.pyramid import Geometry

from support import save_artifact
from support.browser import PHONE, watched_page
from support.servers import LiveServer
from support.viewer import (
    CUBE,
    SKY,
    TILE,
    client_images,
    no_errors,
    open_viewer,
    screen_point,
    settle,
    start_server,
)

pytestmark = pytest.mark.browser

NATIVE = Geometry(*SKY, 1, TILE).levels - 1  # map zoom of one screen pixel per image pixel for SKY
STAMP = r"\d{8}T\d{6}Z"  # the date in file names: UTC, ISO 8601 basic format


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return client_images(tmp_path_factory, "tools")


# -- helpers -------------------------------------------------------------------------------------------------------


def drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=6)
    page.mouse.up()


def plotted(page: Any, panel: str) -> dict[str, Any]:
    """Each series of a panel's plot read back from the SVG: its colour and its (x, value) vertices."""
    raw = page.evaluate("""(panel) => {
        const svg = document.querySelector(`.ts-panel-${panel} .ts-plot-svg`);
        return {x: svg.dataset.xDomain, y: svg.dataset.yDomain, box: svg.dataset.box,
                lines: [...svg.querySelectorAll('.ts-plot-line')].map((p) => [p.getAttribute('stroke'),
                        p.getAttribute('d')]),
                markers: [...svg.querySelectorAll('.ts-plot-markers circle')].map((c) => [c.getAttribute('fill'),
                          c.getAttribute('cx'), c.getAttribute('cy')])};
    }""", panel)
    (x0, x1), (y0, y1) = ([float(v) for v in raw[k].split(",")] for k in ("x", "y"))
    left, top, right, bottom = (float(v) for v in raw["box"].split(","))

    def data(sx: float, sy: float) -> tuple[float, float]:
        return x0 + (sx - left) / (right - left) * (x1 - x0), y0 + (bottom - sy) / (bottom - top) * (y1 - y0)

    series = []
    for colour, d in raw["lines"]:
        runs = [[data(*(float(v) for v in pair.split(","))) for pair in run.split("L")]
                for run in d.split("M") if run]
        series.append({"colour": colour, "runs": runs})
    markers = [{"colour": c, "point": data(float(cx), float(cy))} for c, cx, cy in raw["markers"]]
    # Half the last digit written (2 decimals of an SVG unit), in data units.
    tolerance = 0.006 * (y1 - y0) / (bottom - top)
    return {"series": series, "markers": markers, "tolerance": tolerance}


def plot_box(page: Any, panel: str) -> list[float]:
    """The data area [left, top, right, bottom] of a panel's plot, in SVG units (the SVG is 300 wide)."""
    return [float(v) for v in page.get_attribute(f".ts-panel-{panel} .ts-plot-svg", "data-box").split(",")]


def download(page: Any, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def cell(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


def value(text: str) -> float | None:
    return None if text == "" else float(text)


def fits_data(server: LiveServer, name: str) -> tuple[np.ndarray, fits.Header]:
    with fits.open(Path(server.env["TILESERVER_DATA_DIR"]) / name) as hdul:
        return hdul[0].data.astype(np.float32), hdul[0].header


def decode(content: bytes) -> Image.Image:
    return Image.open(io.BytesIO(content))


def panel_data(page: Any, panel: str) -> dict[str, str]:
    return page.evaluate("(panel) => ({...document.querySelector(`.ts-panel-${panel}`).dataset})", panel)


# -- line profile --------------------------------------------------------------------------------------------------


def test_a_profile_plots_the_pfl_values_with_a_readout_and_a_csv(server, page):
    data, _ = fits_data(server, "sky.fits")
    open_viewer(page, server, "image=sky.fits&x=300.5&y=200.5&zoom=1")
    assert page.locator("[data-tool=spectrum]").is_hidden()  # one channel: no spectrum
    page.keyboard.press("p")
    # Through the NaN corner (x < 76, y < 51) and out of it.
    drag(page, screen_point(page, 5, 70), screen_point(page, 150, 20))
    page.wait_for_selector(".ts-panel-profile[data-line] .ts-plot:not([hidden])")
    x1, y1, x2, y2 = (int(v) for v in re.split("[,:]", panel_data(page, "profile")["line"]))
    assert (x1, y1, x2, y2) == pytest.approx((5, 70, 150, 20), abs=1)
    pfl = httpx.get(f"{server.url}/api", params={"FIF": "sky.fits", "PFL": f"{x1},{y1}:{x2},{y2}"}).json()["profile"]
    assert len(pfl) == max(abs(x2 - x1), abs(y2 - y1)) + 1
    assert (pfl[0]["x"], pfl[0]["y"], pfl[-1]["x"], pfl[-1]["y"]) == (x1, y1, x2, y2)
    assert all(p["values"] == [cell(data[p["y"] - 1, p["x"] - 1])] for p in pfl)

    # The plotted line, read back from the SVG, is the PFL answer: its finite values, in order, NaNs as gaps.
    plot = plotted(page, "profile")
    (line,) = plot["series"]
    assert line["colour"] == "#4fb3ff"
    values = [p["values"][0] for p in pfl]
    runs, run = [], []
    for v in values:
        if v is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(v)
    runs.append(run)
    assert [len(r) for r in line["runs"]] == [len(r) for r in runs] and len(runs) == 2  # a gap: the NaN corner
    shown = [v for r in line["runs"] for _, v in r]
    assert shown == pytest.approx([v for r in runs for v in r], abs=plot["tolerance"])
    length = float(np.hypot(x2 - x1, y2 - y1))
    distances = [x for r in line["runs"] for x, _ in r]
    assert distances[-1] == pytest.approx(length, abs=0.01)

    # Hovering the plot reads out the point under the pointer.
    box = page.locator(".ts-panel-profile .ts-plot-svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    readout = page.locator(".ts-panel-profile .ts-plot-readout")
    i = int(readout.get_attribute("data-index"))
    left, _, right, _ = plot_box(page, "profile")
    assert i / (len(pfl) - 1) == pytest.approx((0.6 * 300 - left) / (right - left), abs=0.01)
    point = pfl[i]
    text = readout.text_content()
    assert f"pixel {point['x']}, {point['y']}" in text
    assert text.endswith(str(float(f"{point['values'][0]:.6g}")).removesuffix(".0"))
    save_artifact("tools-profile.png", page.screenshot())

    # The CSV holds every point, NaN as an empty cell.
    name, content = download(page, "[data-action=profile-csv]")
    assert name == f"sky_profile_{x1}-{y1}_{x2}-{y2}.csv"
    rows = read_csv(content)
    (channel,) = page.evaluate("() => window.tileserverViewer.info.channel_names")
    assert list(rows[0]) == ["index", "distance_px", "x", "y", channel]
    assert [(int(r["x"]), int(r["y"]), value(r[channel])) for r in rows] == [
        (p["x"], p["y"], p["values"][0]) for p in pfl]
    assert float(rows[-1]["distance_px"]) == pytest.approx(length, abs=1e-3)
    no_errors(page)


def test_a_finger_draws_a_profile_on_a_phone(server, browser):
    with watched_page(browser, **PHONE) as (page, errors):
        # The image in the upper half of the screen, above the bottom sheet.
        open_viewer(page, server, "image=sky.fits&x=300.5&y=-243.5&zoom=0.5")
        page.tap("[data-tool=profile]")
        start, end = screen_point(page, 100, 300), screen_point(page, 500, 150)
        touch = page.context.new_cdp_session(page)
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
        for t in np.linspace(0.2, 1, 5):
            point = {"x": start[0] + t * (end[0] - start[0]), "y": start[1] + t * (end[1] - start[1])}
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.wait_for_selector(".ts-panel-profile[data-line] .ts-plot:not([hidden])")
        line = [int(v) for v in re.split("[,:]", panel_data(page, "profile")["line"])]
        assert line == pytest.approx([100, 300, 500, 150], abs=2)  # two image pixels per screen pixel
        assert "image=sky.fits" in page.url  # the finger drew: it neither panned nor swiped back
        save_artifact("tools-phone-profile.png", page.screenshot())
        assert errors == []


def test_a_cube_profile_in_mix_colours_and_a_spectrum(server, page):
    cube, _ = fits_data(server, "cube.fits")
    open_viewer(page, server, "image=cube.fits&x=150.5&y=100.5&zoom=1")
    page.keyboard.press("p")
    drag(page, screen_point(page, 30, 40), screen_point(page, 250, 160))
    page.wait_for_selector(".ts-panel-profile[data-line] .ts-plot:not([hidden])")
    x1, y1, x2, y2 = (int(v) for v in re.split("[,:]", panel_data(page, "profile")["line"]))
    pfl = httpx.get(f"{server.url}/api", params={"FIF": "cube.fits", "PFL": f"{x1},{y1}:{x2},{y2}"}).json()["profile"]
    assert all(p["values"] == [float(cube[c, p["y"] - 1, p["x"] - 1]) for c in range(CUBE[2])] for p in pfl)
    mix = page.evaluate("() => window.tileserverViewer.settings.mix")
    plot = plotted(page, "profile")
    assert len(plot["series"]) == CUBE[2]
    for c, series in enumerate(plot["series"]):
        top = max(mix[c])
        assert series["colour"] == "rgb({}, {}, {})".format(*(round(255 * max(0, w) / top) for w in mix[c]))
        (run,) = series["runs"]
        assert [v for _, v in run] == pytest.approx([p["values"][c] for p in pfl], abs=plot["tolerance"])
    assert page.locator(".ts-panel-profile .ts-plot-key").all_text_contents() == page.evaluate(
        "() => window.tileserverViewer.info.channel_names")
    # A new mix colour recolours the plot.
    page.evaluate("() => window.tileserverViewer.applySettings({mix: {1: [1, 0, 0]}})")
    assert plotted(page, "profile")["series"][0]["colour"] == "rgb(255, 0, 0)"
    save_artifact("tools-cube-profile.png", page.screenshot())

    # Spectrum: a click on a pixel plots one point per channel, the pixel's values.
    page.keyboard.press("e")
    assert page.locator(".ts-panel-profile").is_hidden() and page.locator(".ts-panel-spectrum").is_visible()
    page.mouse.click(*screen_point(page, 100, 60))
    page.wait_for_selector(".ts-panel-spectrum[data-pixel] .ts-plot:not([hidden])")
    x, y = (int(v) for v in panel_data(page, "spectrum")["pixel"].split(","))
    assert (x, y) == pytest.approx((100, 60), abs=1)  # the mouse sits on whole screen pixels
    expected = [float(cube[c, y - 1, x - 1]) for c in range(CUBE[2])]
    plot = plotted(page, "spectrum")
    assert [m["point"][0] for m in plot["markers"]] == pytest.approx([1, 2, 3], abs=0.01)
    assert [m["point"][1] for m in plot["markers"]] == pytest.approx(expected, abs=plot["tolerance"])
    assert plot["markers"][0]["colour"] == "rgb(255, 0, 0)"  # each channel in its mix colour
    box = page.locator(".ts-panel-spectrum .ts-plot-svg").bounding_box()
    left, _, right, _ = plot_box(page, "spectrum")  # x from 0.5 to 3.5: channel 3 is past 2.5
    page.mouse.move(box["x"] + box["width"] * (left + (right - left) * 2.2 / 3) / 300, box["y"] + box["height"] / 2)
    assert page.locator(".ts-panel-spectrum .ts-plot-readout").text_content().startswith("channel 3")
    save_artifact("tools-spectrum.png", page.screenshot())
    name, content = download(page, "[data-action=spectrum-csv]")
    assert name == f"cube_spectrum_x{x}-y{y}.csv"
    assert [(int(r["channel"]), float(r["value"])) for r in read_csv(content)] == list(enumerate(expected, 1))
    no_errors(page)


# -- snapshots and cutouts -----------------------------------------------------------------------------------------


def test_snapshots_of_the_view_and_of_a_region_decode_to_their_size(server, page):
    regions: list[str] = []
    page.on("request", lambda r: "RGN=" in r.url and regions.append(r.url))
    open_viewer(page, server, "image=sky.fits&x=300.5&y=200.5&zoom=0.5")
    page.keyboard.press("d")
    # The whole image is in view at half resolution: the view at screen scale is the image binned 2 x 2.
    assert panel_data(page, "snapshot")["region"] == "1,1:600,400"
    name, content = download(page, "[data-action=snapshot-download]")
    assert re.fullmatch(rf"sky_ra150\.00000_dec\+2\.00000_bin2_{STAMP}\.png", name), name
    image = decode(content)
    assert image.format == "PNG" and image.size == (300, 200)
    assert "BIN=2" in regions[-1] and "CVT=png" in regions[-1]
    page.check("[data-setting=snapshot-resolution-native]")
    name, content = download(page, "[data-action=snapshot-download]")
    assert re.fullmatch(rf"sky_ra150\.00000_dec\+2\.00000_{STAMP}\.png", name), name
    assert decode(content).size == SKY

    # A region drawn at full resolution, as JPEG under the view's colormap.
    page.evaluate("(z) => { const v = window.tileserverViewer; v.map.setView(v.mapping.fitsToLatLng(300.5, 200.5), z,"
                  " {animate: false}); }", NATIVE)
    settle(page)
    page.evaluate("() => window.tileserverViewer.applySettings({colormap: 'viridis'})")
    page.check("[data-setting=snapshot-format-jpeg]")
    drag(page, screen_point(page, 101, 300), screen_point(page, 250, 151))
    info = panel_data(page, "snapshot")
    assert page.locator("[data-setting=snapshot-area-region]").is_checked()
    x1, y1, x2, y2 = (int(v) for v in re.split("[,:]", info["region"]))
    assert (x1, y1, x2, y2) == pytest.approx((101, SKY[1] - 300 + 1, 250, SKY[1] - 151 + 1), abs=1)
    save_artifact("tools-snapshot.png", page.screenshot())
    name, content = download(page, "[data-action=snapshot-download]")
    assert name.endswith(".jpg") and name.startswith("sky_ra")
    image = decode(content)
    assert image.format == "JPEG" and image.size == (x2 - x1 + 1, y2 - y1 + 1)
    assert "CMP=viridis" in regions[-1]
    rgb = np.asarray(image.convert("RGB"), np.float32)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 10  # coloured by viridis, not grey
    # A click (no drag) leaves the region alone; choosing the view drops it.
    page.mouse.click(*screen_point(page, 400, 100))
    assert page.locator("[data-setting=snapshot-area-region]").is_checked()
    assert panel_data(page, "snapshot")["region"] == info["region"]
    page.check("[data-setting=snapshot-area-view]")
    assert panel_data(page, "snapshot")["region"] != info["region"]
    assert page.locator(".leaflet-overlay-pane path").count() == 0
    no_errors(page)


@pytest.mark.parametrize("zoom, scale, binning", [(1, None, 1), (0.5, None, 1), (0.5, "screen", 2)])
def test_a_fits_cutout_has_the_data_and_the_wcs(server, page, zoom: float, scale: str | None, binning: int):
    data, header = fits_data(server, "sip.fits")
    height = SKY[1]
    wcs = WCS(header)
    open_viewer(page, server, f"image=sip.fits&x=300.5&y=200.5&zoom={zoom}")
    page.keyboard.press("d")
    page.check("[data-setting=snapshot-format-fits]")  # a FITS cutout is at full resolution unless asked
    if scale:
        page.check(f"[data-setting=snapshot-resolution-{scale}]")
    drag(page, screen_point(page, 151, 260), screen_point(page, 330, 101))
    x1, r1, x2, r2 = (int(v) for v in re.split("[,:]", panel_data(page, "snapshot")["region"]))
    assert int(panel_data(page, "snapshot")["binning"]) == binning
    name, content = download(page, "[data-action=snapshot-download]")
    assert re.fullmatch(rf"sip_ra[\d.]+_dec[+-][\d.]+{'_bin2' if binning > 1 else ''}_{STAMP}\.fits", name), name
    with fits.open(io.BytesIO(content)) as hdul:
        cutout = hdul[0].data
        cut_wcs = WCS(hdul[0].header)
    # Rows counted from the top in RGN; FITS rows count from the bottom.
    b = binning
    block = data[height - r2: height - r1 + 1, x1 - 1: x2]
    assert cutout.dtype.kind == "f" and cutout.dtype.itemsize == 4
    assert cutout.shape == (block.shape[0] // b, block.shape[1] // b)
    expected = block.reshape(cutout.shape[0], b, cutout.shape[1], b).mean(axis=(1, 3), dtype=np.float64)
    np.testing.assert_allclose(cutout, expected, rtol=1e-6)
    # Cutout pixel (i, j) covers the original's pixels from x1 - 0.5 + (i - 1) b, from the region's bottom edge.
    ij = np.array([[1, 1], [cutout.shape[1], cutout.shape[0]], [7, 3], [cutout.shape[1] / 2, cutout.shape[0] / 3]])
    original = np.column_stack([x1 - 0.5 + (ij[:, 0] - 0.5) * b, height - r2 + 0.5 + (ij[:, 1] - 0.5) * b])
    assert np.allclose(cut_wcs.all_pix2world(ij, 1), wcs.all_pix2world(original, 1), rtol=0, atol=1e-9)
    no_errors(page)


def test_a_region_over_the_limit_shows_the_servers_message(folders, page):
    srv = start_server(folders, "--max-region-tile-count", "2")
    try:
        open_viewer(page, srv, "image=sky.fits&x=300.5&y=200.5&zoom=1")
        page.keyboard.press("d")
        page.check("[data-setting=snapshot-resolution-native]")
        page.click("[data-action=snapshot-download]")
        status = page.locator(".ts-panel-snapshot .ts-tool-status.ts-error")
        status.wait_for()
        message = ("Snapshot: the region covers 20 tiles x 1 channel(s) at BIN=1, over the limit of 2 tile planes; "
                   "use a larger BIN or a smaller region")
        assert status.text_content() == message
        save_artifact("tools-snapshot-too-large.png", page.screenshot())
        assert len(page.failed_requests) == 1 and page.failed_requests[0].startswith("413 ")
        assert all("413" in text for text in page.console_errors)
    finally:
        srv.stop()


def test_a_toast_shows_its_text_alone(server, page):
    open_viewer(page, server, "image=sky.fits&GAM=99")
    assert page.locator(".ts-toast").text_content() == "Ignored in the link: GAM=99: gamma must be between 0.2 and 5"
    no_errors(page)


# -- measure -------------------------------------------------------------------------------------------------------

# (lon1, lat1, lon2, lat2): across RA 0, over a pole, nearly antipodal, a milliarcsecond apart, due east and north.
SPHERE_CASES = [
    (359.9, 10.0, 0.1, 10.2), (10.0, 89.9, 190.0, 89.8), (0.0, 0.0, 179.999, 0.0005),
    (150.0, 2.0, 150.0, 2.0 + 1e-6 / 3600), (150.0, -30.0, 150.01, -30.0), (150.0, -30.0, 150.0, -29.99),
]


def test_measure_distance_and_position_angle_equal_astropys(server, page):
    open_viewer(page, server, "image=sip.fits&x=300.5&y=200.5&zoom=1")
    got = page.evaluate("""async (cases) => {
        const s = await import('./client/js/wcs/sphere.js');
        return cases.map((c) => [s.separation(...c), s.positionAngle(...c)]);
    }""", SPHERE_CASES)
    for (lon1, lat1, lon2, lat2), (sep, pa) in zip(SPHERE_CASES, got):
        a, b = SkyCoord(lon1, lat1, unit="deg"), SkyCoord(lon2, lat2, unit="deg")
        assert sep == pytest.approx(a.separation(b).deg, rel=1e-12, abs=1e-15)
        assert pa == pytest.approx(a.position_angle(b).deg, abs=1e-7)

    wcs = WCS(fits.getheader(Path(server.env["TILESERVER_DATA_DIR"]) / "sip.fits"))
    page.keyboard.press("u")
    drag(page, screen_point(page, 100, 120), screen_point(page, 420, 330))
    info = panel_data(page, "measure")
    p, q = ([float(v) for v in info[k].split(",")] for k in ("from", "to"))
    assert p == pytest.approx([100, 120], abs=0.5) and q == pytest.approx([420, 330], abs=0.5)
    a, b = (SkyCoord(*wcs.all_pix2world(x, y, 1), unit="deg") for x, y in (p, q))
    degrees, angle = a.separation(b).deg, a.position_angle(b).deg
    assert float(info["degrees"]) == pytest.approx(degrees, abs=1e-9)
    assert float(info["angle"]) == pytest.approx(angle, abs=1e-6)
    assert degrees * 60 > 1  # shown in arcminutes, and in arcseconds too
    distance = page.locator("[data-measure=distance]").text_content()
    assert distance == f"{degrees * 60:.3f}′ = {degrees * 3600:.2f}″"
    assert page.locator("[data-measure=position-angle]").text_content() == f"{angle:.2f}° east of north"
    assert page.locator(".ts-shape-label").text_content() == f"{degrees * 60:.3f}′ · PA {angle:.1f}°"
    save_artifact("tools-measure.png", page.screenshot())
    # Turned and mirrored, the label still reads left to right.
    page.evaluate("() => { const v = window.tileserverViewer; v.transform.set({quarter: 3, flipY: true});"
                  " v.viewTransformed(); }")
    ends = page.evaluate("""() => { const t = document.querySelector('.ts-shape-label').firstChild;
        const at = (i) => { const r = document.createRange(); r.setStart(t, i); r.setEnd(t, i + 1);
            return r.getBoundingClientRect(); };
        const a = at(0), b = at(t.textContent.length - 1); return [a.x, a.y, b.x, b.y]; }""")
    assert ends[0] < ends[2] - 50 and abs(ends[1] - ends[3]) < 1, ends
    save_artifact("tools-measure-turned.png", page.screenshot())
    page.evaluate("() => { const v = window.tileserverViewer; v.transform.set({quarter: 0, flipY: false});"
                  " v.viewTransformed(); }")

    # Without a WCS: pixels.
    open_viewer(page, server, "image=plain.fits&x=100.5&y=75.5&zoom=2")
    page.keyboard.press("u")
    result = page.evaluate("() => window.tileserverViewer.panels.measure.measure(10, 10, 40, 50).pixels")
    assert result == 50
    assert "degrees" not in panel_data(page, "measure")
    assert page.locator("[data-measure=pixels]").text_content().startswith("50.00 px")
    assert page.locator(".ts-shape-label").text_content() == "50.0 px"
    no_errors(page)


# -- websocket -----------------------------------------------------------------------------------------------------


def test_the_websocket_names_its_image_for_a_hashing_proxy(server, page):
    sockets: list[Any] = []
    frames: list[tuple[str, dict[str, Any]]] = []

    def opened(ws: Any) -> None:
        sockets.append(ws)
        ws.on("framereceived", lambda frame: frames.append((ws.url, json.loads(frame))))

    page.on("websocket", opened)
    open_viewer(page, server, "image=sky.fits")
    assert [ws.url.split("/", 3)[3] for ws in sockets] == ["ws?FIF=sky.fits"]
    infos: list[str] = []
    page.on("request", lambda r: "INFO" in r.url and infos.append(r.url))
    page.evaluate("() => window.tileserverViewer.open('sub/deep.fits')")
    # Another image, another socket, naming it as the API spells it: nginx's hash on $arg_FIF sends both to its node.
    assert len(sockets) == 2 and sockets[1].url.endswith("/ws?FIF=sub/deep.fits") and "FIF=sub/deep.fits&" in infos[-1]
    ready = ("ready", "sub/deep.fits")
    for _ in range(100):
        if ready in {(f["type"], f.get("image")) for url, f in frames if url == sockets[1].url}:
            break
        page.wait_for_timeout(100)
    assert ready in {(f["type"], f.get("image")) for url, f in frames if url == sockets[1].url}, frames
    assert sockets[0].is_closed()
    no_errors(page)
