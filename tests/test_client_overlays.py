"""Overlays of the web client in Debian's Chromium against a real server (Playwright): catalogs, ds9 regions (drawn
and exported too), the sky grid, compare and blink, each checked against astropy. Screenshots go to
test-artifacts/overlays-*.png.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord
from astropy.io.votable import from_table, writeto
from astropy.table import Table
from astropy.wcs import WCS
from regions import Regions

from support import save_artifact
from support.images import sky, tan_header
from support.servers import LiveServer, server_env
from support.viewer import grab, no_errors, screen_point, settle, write_fits

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SKY = (600, 400)
OTHER = (400, 300)
# The second image: pixels twice as large, centred a little off, with a bright block at BLOCK on the sky.
OTHER_CENTRE = (150.002, 2.001)
BLOCK = (150.004, 2.003)
SOURCES = 10_000
ORANGE = np.array([0xff, 0xb7, 0x4f])  # the first catalog's colour

REGION_FILE = """# Region file format: DS9 version 4.1
global color=green width=1
fk5
circle(150.0050,2.0030,8") # color=red text={C}
ellipse(149.9950,2.0040,10",4",30) # color=cyan
box(150.0060,1.9960,12",6",20) # color=yellow
polygon(149.9960,1.9960,149.9930,1.9970,149.9950,1.9940) # color=magenta
point(150.0,2.0) # point=cross color=white
line(149.998,2.008,150.002,2.009) # color=orange
text(150.0,1.9920) # text={Hello} color=white
galactic
circle({gal},5")
image
box(100,100,30,20,0) # color=blue
circle(500,300,15)
ellipse(300,80,25,10,60)
annulus(450,120,10,20)
"""


def other_header() -> dict[str, Any]:
    header = tan_header(*OTHER)
    header.update(CRVAL1=OTHER_CENTRE[0], CRVAL2=OTHER_CENTRE[1], CD1_1=-1.1e-4, CD2_2=1.1e-4)
    return header


def catalog(wcs: WCS) -> Table:
    """SOURCES seeded sources over the sky image and a margin around it."""
    rng = np.random.default_rng(42)
    x = rng.uniform(-60, SKY[0] + 60, SOURCES)
    y = rng.uniform(-40, SKY[1] + 40, SOURCES)
    world = wcs.pixel_to_world(x, y)
    return Table({"id": np.arange(1, SOURCES + 1), "RAJ2000": np.round(world.ra.deg, 8),
                  "DEJ2000": np.round(world.dec.deg, 8), "Vmag": np.round(rng.uniform(12, 20, SOURCES), 2)})


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("overlays")
    data, extra = root / "data", root / "extra"
    write_fits(data / "sky.fits", sky(*SKY, seed=5), tan_header(*SKY))
    other = sky(*OTHER, seed=9)
    bx, by = WCS(other_header()).world_to_pixel(SkyCoord(*BLOCK, unit="deg"))
    other[int(by) - 6:int(by) + 6, int(bx) - 6:int(bx) + 6] = 5000.0
    write_fits(data / "other.fits", other, other_header())
    extra.mkdir()
    table = catalog(WCS(tan_header(*SKY)))
    table.write(extra / "stars.csv", format="csv")
    gal = SkyCoord(150.003, 1.993, unit="deg").galactic
    (extra / "shapes.reg").write_text(REGION_FILE.replace("{gal}", f"{gal.l.deg:.7f},{gal.b.deg:.7f}"))
    return {"root": root, "data": data, "extra": extra, "cache": root / "cache"}


@pytest.fixture(scope="module")
def server(folders: dict[str, Path]) -> Iterator[LiveServer]:
    env = {**server_env(folders["data"], folders["cache"], folders["root"] / "config"),
           "TILESERVER_EXTRA_DIR": str(folders["extra"])}
    srv = LiveServer(["--tile-size", "128"], env, folders["root"] / "server.log").start()
    yield srv
    srv.stop()


def open_sky(page: Any, server: LiveServer, query: str = "") -> None:
    page.goto(f"{server.url}/?image=sky.fits{query}")
    settle(page)


def fits_at(page: Any, x: float, y: float) -> tuple[float, float]:
    """FITS pixel under map container point (x, y)."""
    fx, fy = page.evaluate("([x, y]) => { const v = window.tileserverViewer;"
                           " return v.mapping.latLngToFits(v.map.containerPointToLatLng([x, y])); }", [x, y])
    return fx, fy


def load_server_file(page: Any, path: str) -> None:
    page.keyboard.press("k")
    page.click(f".ts-extra-files [data-path='{path}']")
    page.wait_for_selector(f".ts-layer-item[data-overlay='{path.split('/')[-1]}']")


def map_box(page: Any) -> dict[str, float]:
    return page.locator(".ts-map").bounding_box()


# -- catalogs ------------------------------------------------------------------------------------------------------


def test_a_catalog_of_10000_sources_lands_on_the_right_pixels(server, page, folders):
    open_sky(page, server)
    load_server_file(page, "stars.csv")
    layer = "window.tileserverViewer.panels.overlays.layers[0]"
    assert page.evaluate(f"() => [{layer}.placed, {layer}.columns]") == [
        SOURCES, {"kind": "sky", "lon": 1, "lat": 2, "mag": 3}]
    assert page.locator(".ts-layer-count").inner_text() == f"{SOURCES} sources"
    save_artifact("overlays-catalog.png", page.screenshot())

    table = Table.read(folders["extra"] / "stars.csv", format="csv")
    wcs = WCS(tan_header(*SKY))
    x, y = wcs.world_to_pixel(SkyCoord(table["RAJ2000"], table["DEJ2000"], unit="deg"))
    x, y = x + 1, y + 1  # astropy counts pixels from 0, FITS from 1
    rows = np.random.default_rng(3).choice(SOURCES, 8, replace=False).tolist()
    for row in rows:
        got = page.evaluate(f"(row) => window.tileserverViewer.map.latLngToContainerPoint({layer}.latLngOf(row))", row)
        assert (got["x"], got["y"]) == pytest.approx(screen_point(page, x[row], y[row]), abs=1e-6), row

    # Drawn where it should be: zoomed in on a source far from the others, its ring centred on the expected pixel.
    inside = np.flatnonzero((x > 20) & (x < SKY[0] - 20) & (y > 20) & (y < SKY[1] - 20))
    nearest = np.array([np.partition(np.hypot(x - x[i], y - y[i]), 1)[1] for i in inside])
    lonely = int(inside[int(np.argmax(nearest))])
    zoom = 2  # 4 screen pixels per image pixel
    page.evaluate("([x, y, zoom]) => { const v = window.tileserverViewer;"
                  " v.map.setView(v.mapping.fitsToLatLng(x, y), v.mapping.nativeZoom + zoom, {animate: false}); }",
                  [x[lonely], y[lonely], zoom])
    settle(page)
    page.wait_for_timeout(100)  # the canvas redraws on the next animation frame
    sx, sy = screen_point(page, x[lonely], y[lonely])
    box = map_box(page)
    save_artifact("overlays-catalog-zoom.png", page.screenshot())
    # Only the screen within half the distance to the next source (markers are 8 pixels at most).
    reach = nearest.max() * 2**zoom / 2
    assert reach > 12
    half = int(reach)
    left, top = int(box["x"] + sx) - half, int(box["y"] + sy) - half
    pixels = grab(page, (left, top, 2 * half, 2 * half))
    rows, cols = np.indices(pixels.shape[:2])
    near = np.hypot(cols + left + 0.5 - box["x"] - sx, rows + top + 0.5 - box["y"] - sy) < reach
    ring = np.argwhere(near & (np.abs(pixels - ORANGE).sum(axis=2) < 90))  # the marker's stroke over the grey sky
    assert len(ring) > 20
    centre = ring.mean(axis=0)[::-1] + [left + 0.5, top + 0.5]
    assert centre == pytest.approx([box["x"] + sx, box["y"] + sy], abs=0.75)

    # A click on the marker shows its row.
    page.mouse.click(box["x"] + sx, box["y"] + sy)
    popup = page.locator(".ts-catalog-popup")
    popup.wait_for()
    text = popup.inner_text()
    assert f"row {lonely + 1}" in text and f"{table['Vmag'][lonely]:g}" in text
    # Turned and mirrored, the marker still answers a click where it is drawn, and its row reads upright.
    page.keyboard.press("Escape")
    page.evaluate("() => { const v = window.tileserverViewer; v.transform.set({quarter: 1, flipX: true});"
                  " v.viewTransformed(); }")
    settle(page)
    tip = page.evaluate("""([x, y]) => { const v = window.tileserverViewer, m = v.map;
        const p = v.transform.toScreen(m.latLngToContainerPoint(v.mapping.fitsToLatLng(x, y)));
        const r = m.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }""",
                        [float(x[lonely]), float(y[lonely])])
    page.mouse.click(*tip)
    popup.wait_for()
    title = page.evaluate("""() => { const t = document.querySelector('.ts-popup-title').firstChild;
        const at = (i) => { const r = document.createRange(); r.setStart(t, i); r.setEnd(t, i + 1);
            const b = r.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; };
        const box = document.querySelector('.leaflet-popup-tip').getBoundingClientRect();
        return {first: at(0), last: at(t.textContent.length - 1), tip: [box.x + box.width / 2, box.bottom]}; }""")
    assert title["first"][0] < title["last"][0] - 50 and abs(title["first"][1] - title["last"][1]) < 1, title
    assert abs(title["tip"][0] - tip[0]) < 3 and title["first"][1] < tip[1], (title, tip)  # above its marker
    save_artifact("overlays-catalog-popup-turned.png", page.screenshot())
    no_errors(page)


def votable_bytes(table: Table) -> bytes:
    votable = from_table(table)
    votable.get_first_table().format = "binary2"
    out = io.BytesIO()
    writeto(votable, out)
    return out.getvalue()


def test_local_files_by_picker_and_drop(server, page, folders):
    """A VOTable (parsed by the server), a GeoJSON and a CSV with sexagesimal positions (read in the page), picked or
    dropped; positions checked against astropy."""
    open_sky(page, server)
    wcs = WCS(tan_header(*SKY))
    sources = SkyCoord([150.001, 149.998, 150.004], [2.002, 1.999, 1.997], unit="deg")
    votable = votable_bytes(Table({"ra": sources.ra.deg, "dec": sources.dec.deg, "name": ["a", "b", "c"]}))
    geojson = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": n},
         "geometry": {"type": "Point", "coordinates": [c.ra.deg - 360 * (c.ra.deg > 180), c.dec.deg]}}
        for c, n in zip(sources, "abc")]}).encode()
    sexagesimal = "\n".join(["name,RA,Dec"] + [
        f"{n},{c.ra.to_string(unit=u.hourangle, sep=':', precision=4)},"
        f"{c.dec.to_string(sep=':', precision=3, alwayssign=True)}"
        for c, n in zip(sources, "abc")]).encode()
    page.keyboard.press("k")
    page.set_input_files(".ts-panel-overlays input[type=file]", files=[
        {"name": "picked.vot", "mimeType": "application/xml", "buffer": votable},
        {"name": "picked.geojson", "mimeType": "application/geo+json", "buffer": geojson}])
    page.wait_for_selector(".ts-layer-item[data-overlay='picked.geojson']")
    # A drop, as the browser fires it when files are dragged from the desktop.
    page.evaluate("""(text) => {
        const data = new DataTransfer();
        data.items.add(new File([text], 'dropped.csv', {type: 'text/csv'}));
        const target = document.querySelector('.ts-map');
        for (const type of ['dragover', 'drop']) {
            target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
        }
    }""", sexagesimal.decode())
    page.wait_for_selector(".ts-layer-item[data-overlay='dropped.csv']")
    x, y = wcs.world_to_pixel(sources)
    for index in range(3):
        for i in range(3):
            got = page.evaluate("([layer, row]) => { const v = window.tileserverViewer;"
                                " return v.mapping.latLngToFits(v.panels.overlays.layers[layer].latLngOf(row)); }",
                                [index, i])
            # The sexagesimal CSV is rounded to 0.0001 s of time: 1.5 mas, a hundredth of a pixel.
            assert got == pytest.approx([x[i] + 1, y[i] + 1], abs=0.01), (index, i)
    assert page.locator(".ts-layer-count").all_inner_texts() == ["3 sources"] * 3
    save_artifact("overlays-local-files.png", page.screenshot())
    no_errors(page)


# -- regions -------------------------------------------------------------------------------------------------------


def shapes_on_page(page: Any, index: int) -> list[dict[str, Any]]:
    """The Leaflet layers of overlay `index` as {shape, frame, rings: [[FITS x, y]...]...}."""
    return page.evaluate("""(index) => {
        const v = window.tileserverViewer;
        const group = index < 0 ? v.panels.overlays.drawn : v.panels.overlays.layers[index];
        const fits = (ll) => v.mapping.latLngToFits(ll);
        return group.getLayers().map((l) => {
            const p = l.feature.properties;
            let rings;
            if (l.getLatLngs) {
                const lls = l.getLatLngs();
                rings = (Array.isArray(lls[0]) ? lls : [lls]).map((ring) => ring.map(fits));
            } else rings = [[fits(l.getLatLng())]];
            return {shape: p.shape, frame: p.frame, rings};
        });
    }""", index)


def check_shape(region: Any, drawn: dict[str, Any], tol: float = 0.05) -> None:
    """A region of astropy's `regions` (pixel, 0-based) against its drawing in FITS pixels."""
    rings = [np.array(ring) - 1.0 for ring in drawn["rings"]]  # to 0-based, as regions counts
    name = type(region).__name__
    if name in ("CirclePixelRegion", "CircleAnnulusPixelRegion"):
        radii = [region.radius] if name == "CirclePixelRegion" else [region.inner_radius, region.outer_radius]
        assert len(rings) == len(radii)
        for ring, radius in zip(rings, radii):
            distance = np.hypot(ring[:, 0] - region.center.x, ring[:, 1] - region.center.y)
            assert distance == pytest.approx(np.full(len(ring), radius), abs=tol), name
    elif name == "EllipsePixelRegion":
        dx, dy, turn = rings[0][:, 0] - region.center.x, rings[0][:, 1] - region.center.y, region.angle.to_value("rad")
        along = (dx * np.cos(turn) + dy * np.sin(turn)) / (region.width / 2)
        across = (-dx * np.sin(turn) + dy * np.cos(turn)) / (region.height / 2)
        assert along**2 + across**2 == pytest.approx(np.ones(len(dx)), abs=2 * tol / region.height)
    elif name == "RectanglePixelRegion":
        corners = np.array(sorted(map(tuple, region.corners)))
        assert np.array(sorted(map(tuple, rings[0]))) == pytest.approx(corners, abs=tol)
    elif name == "PolygonPixelRegion":
        assert rings[0][:len(region.vertices)] == pytest.approx(np.c_[region.vertices.x, region.vertices.y], abs=tol)
    elif name == "LinePixelRegion":
        assert rings[0] == pytest.approx(np.array([region.start.xy, region.end.xy]), abs=tol)
    else:  # point, text
        assert rings[0][0] == pytest.approx(np.array(region.center.xy), abs=tol), name


def test_a_ds9_file_with_every_shape_lands_at_the_right_places(server, page, folders):
    open_sky(page, server)
    load_server_file(page, "shapes.reg")
    wcs = WCS(tan_header(*SKY))
    expected = [r.to_pixel(wcs) if hasattr(r, "to_pixel") else r
                for r in Regions.read(folders["extra"] / "shapes.reg", format="ds9")]
    drawn = shapes_on_page(page, 0)
    assert [(d["shape"], d["frame"]) for d in drawn] == [
        ("circle", "icrs"), ("ellipse", "icrs"), ("box", "icrs"), ("polygon", "icrs"), ("point", "icrs"),
        ("line", "icrs"), ("text", "icrs"), ("circle", "icrs"), ("box", "image"), ("circle", "image"),
        ("ellipse", "image"), ("annulus", "image")]
    for region, shape in zip(expected, drawn):
        check_shape(region, shape)
    shot = page.screenshot()
    save_artifact("overlays-regions.png", shot)
    # On screen: the red circle's outline and the text.
    box = map_box(page)
    red = expected[0]
    sx, sy = screen_point(page, red.center.x + 1 + red.radius, red.center.y + 1)
    pixels = grab(page, (int(box["x"] + sx) - 2, int(box["y"] + sy) - 2, 5, 5))
    assert (pixels[..., 0] - pixels[..., 2]).max() > 100  # red over grey
    assert page.locator(".ts-region-text").inner_text() == "Hello"
    assert page.locator(".ts-region-label").inner_text() == "C"
    # Turned and mirrored, the texts still read left to right, upright, at their places (the text on its point,
    # the label above its circle).
    for state in ({"quarter": 1, "flipX": True}, {"quarter": 2, "flipX": False, "flipY": True}):
        page.evaluate("(s) => { const v = window.tileserverViewer; v.transform.set(s); v.viewTransformed(); }", state)
        settle(page)
        for name, text in (("text", "Hello"), ("label", "C")):
            shown = upright_text(page, f".ts-region-{name}")
            assert shown["text"] == text and abs(shown["first"][1] - shown["last"][1]) < 1, (state, shown)
            assert shown["height"] < 30 and (len(text) == 1 or shown["first"][0] < shown["last"][0] - 10), shown
            anchor, centre = shown["anchor"], shown["centre"]
            if name == "text":
                assert abs(centre[0] - anchor[0]) < 2 and abs(centre[1] - anchor[1]) < 2, shown
            else:  # above the circle's top (the topmost point of the shape, drawn upright on the screen)
                assert abs(centre[0] - anchor[0]) < 2 and anchor[1] - 20 < centre[1] < anchor[1], shown
    save_artifact("overlays-regions-turned-flipped.png", page.screenshot())
    no_errors(page)


def upright_text(page: Any, selector: str) -> dict[str, Any]:
    """A marker's text on screen: the centres of its first and last letters, its box, and its marker's anchor."""
    return page.evaluate("""(selector) => {
        const icon = document.querySelector(selector), span = icon.querySelector('span'), node = span.firstChild;
        const letter = (i) => { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
            const b = r.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; };
        const v = window.tileserverViewer, b = span.getBoundingClientRect(), m = v.map;
        const marker = v.panels.overlays.layers[0]._labels.getLayers().concat(
            v.panels.overlays.layers[0].getLayers()).find((l) => l.getElement && l.getElement() === icon);
        const p = v.transform.toScreen(m.latLngToContainerPoint(marker.getLatLng()));
        const c = m.getContainer().getBoundingClientRect();
        return {text: node.textContent, first: letter(0), last: letter(node.textContent.length - 1),
                height: b.height, centre: [b.x + b.width / 2, b.y + b.height / 2], anchor: [p.x + c.left, p.y + c.top]};
    }""", selector)


def test_drawn_shapes_export_as_a_ds9_file(server, page, folders):
    open_sky(page, server, "&zoom=1")  # one screen pixel per image pixel
    page.keyboard.press("k")
    box = map_box(page)
    size = page.evaluate("() => { const s = window.tileserverViewer.map.getSize(); return [s.x, s.y]; }")
    cx, cy = size[0] // 2 - 200, size[1] // 2  # left of the panel

    def at(dx: float, dy: float) -> tuple[float, float]:
        return box["x"] + cx + dx, box["y"] + cy + dy

    def drag(shape: str, start: tuple[float, float], end: tuple[float, float]) -> None:
        page.click(f"[data-draw={shape}]")
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=5)
        page.mouse.up()

    drag("circle", at(-120, -60), at(-90, -20))
    drag("box", at(0, 0), at(60, 30))
    drag("line", at(-150, 80), at(-60, 110))
    page.click("[data-draw=polygon]")
    corners = [at(80, -100), at(140, -90), at(110, -40)]
    page.mouse.click(*corners[0])
    page.mouse.click(*corners[1])
    page.mouse.dblclick(*corners[2])
    page.click("[data-draw=point]")
    page.mouse.click(*at(-20, 100))
    assert page.evaluate("() => window.tileserverViewer.panels.overlays.drawn.features.length") == 5
    save_artifact("overlays-drawn.png", page.screenshot())

    with page.expect_download() as download:
        page.click("[data-action=export-regions]")
    assert download.value.suggested_filename == "sky.reg"
    text = Path(download.value.path()).read_text()
    save_artifact("overlays-drawn.reg", text.encode())
    regions = Regions.parse(text, format="ds9")
    assert [type(r).__name__ for r in regions] == [
        "CircleSkyRegion", "RectangleSkyRegion", "LineSkyRegion", "PolygonSkyRegion", "PointSkyRegion"]
    wcs = WCS(tan_header(*SKY))

    def fits(p: tuple[float, float]) -> np.ndarray:  # 0-based
        return np.array(fits_at(page, p[0] - box["x"], p[1] - box["y"])) - 1

    circle, rect, line, polygon, point = [r.to_pixel(wcs) for r in regions]
    centre = fits(at(-120, -60))
    assert np.array(circle.center.xy) == pytest.approx(centre, abs=1e-3)
    assert circle.radius == pytest.approx(np.hypot(*(fits(at(-90, -20)) - centre)), abs=1e-3)
    assert np.array(rect.center.xy) == pytest.approx((fits(at(0, 0)) + fits(at(60, 30))) / 2, abs=1e-3)
    assert np.array([rect.width, rect.height]) == pytest.approx(np.abs(fits(at(60, 30)) - fits(at(0, 0))), abs=1e-3)
    assert (rect.angle.to_value("deg") + 90) % 180 - 90 == pytest.approx(0, abs=1e-3)  # axis-aligned
    assert np.array([line.start.xy, line.end.xy]) == pytest.approx(np.array([fits(at(-150, 80)), fits(at(-60, 110))]),
                                                                   abs=1e-3)
    assert np.c_[polygon.vertices.x, polygon.vertices.y] == pytest.approx(np.array([fits(c) for c in corners]),
                                                                           abs=1e-3)
    assert np.array(point.center.xy) == pytest.approx(fits(at(-20, 100)), abs=1e-3)
    no_errors(page)


# -- the grid ------------------------------------------------------------------------------------------------------


def grid_labels(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function("() => document.querySelectorAll('.ts-grid-label').length >= 4")
    return page.evaluate("() => [...document.querySelectorAll('.ts-grid-label')].map((l) => ({"
                         "text: l.textContent, axis: l.dataset.axis, value: Number(l.dataset.value),"
                         "x: Number(l.dataset.x), y: Number(l.dataset.y)}))")


def test_grid_labels_match_astropy(server, page):
    open_sky(page, server, "&zoom=1")
    page.keyboard.press("w")
    wcs = WCS(tan_header(*SKY))
    labels = grid_labels(page)
    steps = page.evaluate("() => window.tileserverViewer.grid.steps")
    save_artifact("overlays-grid.png", page.screenshot())
    for axis in ("lon", "lat"):
        label = next(item for item in labels if item["axis"] == axis)
        x, y = fits_at(page, label["x"], label["y"])
        world = wcs.pixel_to_world(x - 1, y - 1)
        value = world.ra.deg if axis == "lon" else world.dec.deg
        # The line of the label passes where astropy puts its value, and the text spells that value.
        assert value == pytest.approx(label["value"], abs=1e-7), label
        spelled = Angle(label["text"]).deg
        assert spelled == pytest.approx(value, abs=1e-7), label
        step = steps[0] if axis == "lon" else steps[1]
        assert round(value / step) * step == pytest.approx(value, abs=1e-7)  # a round multiple of the spacing
    assert {item["axis"] for item in labels} == {"lon", "lat"}
    # Zoomed out, the spacing grows.
    page.keyboard.press("-")
    page.keyboard.press("-")
    page.wait_for_function("(steps) => { const g = window.tileserverViewer.grid.steps;"
                           " return g && g[1] > steps[1]; }", arg=steps)
    labels = grid_labels(page)
    save_artifact("overlays-grid-out.png", page.screenshot())
    page.keyboard.press("w")
    assert page.locator(".ts-grid").count() == 0
    no_errors(page)


# -- compare and blink ---------------------------------------------------------------------------------------------


def compare_centres(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => { const v = window.tileserverViewer, c = v.panels.compare.view;
        return {main: v.centerPixel(), mainZoom: v.map.getZoom(), mainNative: v.mapping.nativeZoom,
                second: c.mapping.latLngToFits(c.map.getCenter()), secondZoom: c.map.getZoom(),
                secondNative: c.mapping.nativeZoom, byWcs: c.byWcs}; }""")


def check_locked(page: Any) -> None:
    state = compare_centres(page)
    sky_wcs, other_wcs = WCS(tan_header(*SKY)), WCS(other_header())
    main = sky_wcs.pixel_to_world(state["main"][0] - 1, state["main"][1] - 1)
    second = other_wcs.pixel_to_world(state["second"][0] - 1, state["second"][1] - 1)
    assert state["byWcs"] is True
    # The same sky length per screen pixel on both sides.

    def per_screen(scale: float, zoom: float, native: float) -> float:
        return scale / 2 ** (zoom - native)

    screen_pixel = per_screen(5.5e-5, state["mainZoom"], state["mainNative"])
    assert per_screen(1.1e-4, state["secondZoom"], state["secondNative"]) == pytest.approx(screen_pixel, rel=1e-6)
    # The same centre, to the half screen pixel Leaflet can place a map at (its pixel origin is whole).
    assert main.separation(second).deg < 0.75 * screen_pixel


def open_compare(page: Any, server: LiveServer) -> None:
    open_sky(page, server, "&zoom=0.5")
    page.keyboard.press("v")
    page.fill(".ts-compare-path", "other.fits")
    page.press(".ts-compare-path", "Enter")
    page.wait_for_function("() => { const c = window.tileserverViewer.panels.compare.view;"
                           " return c.mode === 'side' && c._layer && !c._layer.isLoading(); }")


def test_compare_side_by_side_locked_by_wcs(server, page):
    open_compare(page, server)
    check_locked(page)
    save_artifact("overlays-compare.png", page.screenshot())
    # The main map leads...
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("+")
    page.wait_for_timeout(400)
    check_locked(page)
    # ... and the second one too.
    second = page.locator(".ts-compare-map").bounding_box()
    page.mouse.move(second["x"] + 200, second["y"] + 300)
    page.mouse.down()
    page.mouse.move(second["x"] + 140, second["y"] + 250, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    before = compare_centres(page)
    check_locked(page)
    assert before["main"] != pytest.approx([SKY[0] / 2 + 0.5, SKY[1] / 2 + 0.5], abs=1)
    no_errors(page)


def block_brightness(page: Any) -> float:
    """Mean brightness of the screen where the second image has its bright block."""
    x, y = WCS(tan_header(*SKY)).world_to_pixel(SkyCoord(*BLOCK, unit="deg"))
    sx, sy = screen_point(page, x + 1, y + 1)
    box = map_box(page)
    return float(grab(page, (int(box["x"] + sx) - 4, int(box["y"] + sy) - 4, 8, 8)).mean())


def test_blink_alternates_the_images(server, page):
    open_compare(page, server)
    page.check("[data-compare-mode=blink]")
    page.wait_for_function("() => window.tileserverViewer.panels.compare.view.mode === 'blink'")
    check_locked(page)
    page.evaluate("() => { const s = document.querySelector('[data-setting=blink-seconds]');"
                  " s.value = '0.2'; s.dispatchEvent(new Event('input')); }")
    page.evaluate("() => { window.flips = []; window.tileserverViewer.panels.compare.view.blink.on('flip',"
                  " (e) => window.flips.push(e.showing)); }")
    page.click("[data-action=blink]")
    seen = set()
    for _ in range(60):  # frames taken while it blinks: both images must show up
        seen.add("second" if block_brightness(page) > 200 else "first")
        if seen == {"first", "second"}:
            break
        page.wait_for_timeout(70)
    assert seen == {"first", "second"}
    page.wait_for_function("() => window.flips.length >= 6")
    flips = page.evaluate("() => window.flips")
    assert all(a != b for a, b in zip(flips, flips[1:]))  # strictly alternating
    page.click("[data-action=blink]")  # pause: back on the first image
    assert page.evaluate("() => document.getElementById('app').dataset.blink") == "first"
    first = block_brightness(page)
    save_artifact("overlays-blink-first.png", page.screenshot())
    page.evaluate("() => window.tileserverViewer.panels.compare.view.blink.show('second')")
    second = block_brightness(page)
    save_artifact("overlays-blink-second.png", page.screenshot())
    assert first < 160 < 230 < second  # the sky's noise, then the second image's bright block
    assert page.locator(".ts-blink-badge").inner_text() == "B · other.fits"
    no_errors(page)


# -- the pure modules under node -----------------------------------------------------------------------------------


def test_overlay_modules_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js >= 20) is required to test the web client: install it (apt-get install nodejs)")
    result = subprocess.run([node, "--test", "tests/js/overlays.test.mjs"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"node --test failed:\n{result.stdout}\n{result.stderr}"

