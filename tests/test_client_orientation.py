"""DS9's basics in Chromium: the N/E compass against astropy (a rotated and flipped WCS, a solar image, a mosaic),
the view turned and flipped with readouts and regions still right, right-drag contrast and bias, the pinned
readout and the crosshair. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from support import save_artifact
from support.images import SOLAR, mosaic, sky, tan_header
from support.servers import LiveServer
from support.viewer import hover, no_errors, open_viewer, readout, settle, start_server, write_fits

pytestmark = pytest.mark.browser

# East of north by 30 degrees, and mirrored (CD determinant > 0: east to the right at no rotation).
ANGLE = np.radians(30)
ROTATED = {**tan_header(300, 200), "CD1_1": 5.5e-5 * np.cos(ANGLE), "CD1_2": -5.5e-5 * np.sin(ANGLE),
           "CD2_1": 5.5e-5 * np.sin(ANGLE), "CD2_2": 5.5e-5 * np.cos(ANGLE), "CRVAL2": 60.0}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("orientation")
    data = root / "data"
    data.mkdir()
    write_fits(data / "rotated.fits", sky(300, 200, seed=5), ROTATED)
    y, x = np.mgrid[:512, :512]
    radius = np.hypot(x - 255.5, y - 255.5) * 4.8 / 960
    write_fits(data / "sun.fits", np.where(radius < 1, 800.0, 5.0).astype(np.float32), SOLAR)
    mosaic(data / "mosaic.fits")
    return {"root": root, "data": data, "cache": root / "cache"}


def compass(page: Any) -> dict[str, tuple[float, float]]:
    data = page.evaluate("() => ({...document.querySelector('.ts-compass').dataset})")
    return {k: tuple(float(v) for v in data[k].split(",")) for k in ("north", "east", "x", "y") if data.get(k)}


def astropy_directions(header: fits.Header | dict[str, Any], x: float, y: float, solar: bool = False
                       ) -> dict[str, np.ndarray]:
    """Unit pixel-space directions (FITS x right, y up) of north and east at FITS (x, y), by astropy."""
    wcs = WCS(header).celestial
    lon, lat = wcs.all_pix2world([[x, y]], 1)[0]
    step = 2e-4 if not solar else 2e-4 * 3600
    east = -1 if solar else 1
    out = {}
    for name, (dlon, dlat) in {"north": (0, step), "east": (east * step / np.cos(np.radians(lat)), 0)}.items():
        if solar:  # helioprojective: lon, lat in arcsec for astropy here (CUNIT arcsec)
            p = wcs.all_world2pix([[lon + dlon, lat + dlat]], 1)[0]
        else:
            c = SkyCoord(lon + dlon, lat + dlat, unit="deg")
            p = wcs.all_world2pix([[c.ra.deg, c.dec.deg]], 1)[0]
        d = p - [x, y]
        out[name] = d / np.hypot(*d)
    return out


def on_screen(pixel_dir: np.ndarray, transform: dict[str, Any]) -> np.ndarray:
    """Screen direction (y down) of a FITS pixel direction under the view's turn and flips."""
    x, y = pixel_dir[0], -pixel_dir[1]  # FITS y up -> screen y down
    x, y = (-x if transform["flipX"] else x), (-y if transform["flipY"] else y)
    for _ in range(transform["quarter"] % 4):
        x, y = -y, x
    return np.array([x, y])


def transform_view(page: Any, **state: Any) -> None:
    page.evaluate("(s) => { const v = window.tileserverViewer; v.transform.set(s); v.viewTransformed(); }", state)
    settle(page)


def check_compass(page: Any, header: Any, solar: bool = False) -> None:
    centre = page.evaluate("() => window.tileserverViewer.centerPixel()")
    state = page.evaluate("() => window.tileserverViewer.transform.state()")
    page.wait_for_function("() => document.querySelector('.ts-compass').dataset.north")
    page.evaluate("() => window.tileserverViewer.compass.update()")
    shown = compass(page)
    expected = astropy_directions(header, *centre, solar=solar)
    for name in ("north", "east"):
        want = on_screen(expected[name], state)
        assert np.degrees(np.arccos(np.clip(np.dot(want, shown[name]), -1, 1))) < 0.5, (name, state, shown, want)
    assert np.allclose(shown["x"], on_screen(np.array([1, 0]), state), atol=1e-3)
    assert np.allclose(shown["y"], on_screen(np.array([0, 1]), state), atol=1e-3)
    compass_labels_apart(page)


def compass_labels_apart(page: Any) -> None:
    """No label of the compass covers another label, or the arrow of another (Y under N on a north-up image)."""
    labels, lines = page.evaluate("""() => {
        const svg = document.querySelector('.ts-compass svg'), m = svg.getScreenCTM();
        const at = (x, y) => { const p = new DOMPoint(x, y).matrixTransform(m); return [p.x, p.y]; };
        const texts = [...svg.querySelectorAll('text')].map((t) => { const b = t.getBoundingClientRect();
            return [t.textContent, b.left, b.top, b.right, b.bottom]; });
        const arrows = [...svg.querySelectorAll('line')].map((l, i) => [texts[i][0],
            at(+l.getAttribute('x1'), +l.getAttribute('y1')), at(+l.getAttribute('x2'), +l.getAttribute('y2'))]);
        return [texts, arrows]; }""")
    for i, (a, *ra) in enumerate(labels):
        for b, *rb in labels[i + 1:]:
            assert ra[2] <= rb[0] or rb[2] <= ra[0] or ra[3] <= rb[1] or rb[3] <= ra[1], (a, b, labels)
        for b, start, end in lines:
            for t in np.linspace(0.4, 1, 13) if b != a else ():  # away from the centre, where all arrows meet
                x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
                assert not (ra[0] + 1 < x < ra[2] - 1 and ra[1] + 1 < y < ra[3] - 1), (a, "on the arrow of", b)


def test_compass_follows_the_wcs_and_the_view(server, page, folders):
    open_viewer(page, server, "image=rotated.fits")
    header = fits.getheader(folders["data"] / "rotated.fits")
    check_compass(page, header)
    save_artifact("orientation-compass-rotated.png", page.screenshot())
    for state in ({"quarter": 1}, {"quarter": 1, "flipX": True}, {"quarter": 3, "flipX": False, "flipY": True}):
        transform_view(page, **state)
        check_compass(page, header)
    save_artifact("orientation-compass-turned-flipped.png", page.screenshot())
    open_viewer(page, server, "image=sun.fits")
    check_compass(page, fits.getheader(folders["data"] / "sun.fits"), solar=True)
    assert page.evaluate("() => document.querySelector('.ts-compass').dataset.frame") == "helioprojective"
    save_artifact("orientation-compass-solar.png", page.screenshot())
    # A mosaic: the compass at the centre of the second chip uses that chip's WCS.
    open_viewer(page, server, "image=mosaic.fits&x=300&y=150&zoom=1")
    chip = fits.getheader(folders["data"] / "mosaic.fits", 2)
    shown = compass(page)
    expected = astropy_directions(chip, 300 - 200 + 10, 150)
    assert np.dot(on_screen(expected["north"], {"quarter": 0, "flipX": False, "flipY": False}), shown["north"]) > 0.9999
    no_errors(page)


def turned_point(page: Any, x: float, y: float) -> tuple[float, float]:
    """Page coordinates where FITS pixel (x, y) is drawn on screen under the view's turn and flips."""
    p = page.evaluate("([x, y]) => { const v = window.tileserverViewer, m = v.map;"
                      " const p = v.transform.toScreen(m.latLngToContainerPoint(v.mapping.fitsToLatLng(x, y)));"
                      " const r = m.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }",
                      [x, y])
    return p[0], p[1]


def hover_turned(page: Any, x: float, y: float) -> dict[str, Any]:
    return hover(page, x, y, turned_point)


def test_readout_stays_right_when_turned_and_flipped(server, page, folders):
    open_viewer(page, server, "image=rotated.fits&x=150&y=100&zoom=2")
    wcs = WCS(fits.getheader(folders["data"] / "rotated.fits"))
    data = fits.getdata(folders["data"] / "rotated.fits")
    for state in ({"quarter": 1}, {"quarter": 2, "flipX": True}, {"quarter": 3, "flipY": True, "flipX": False}):
        transform_view(page, **state)
        for x, y in ((120.0, 80.0), (170.0, 115.0)):
            shown = hover_turned(page, x, y)
            px, py = (int(v) for v in shown["data"]["pixel"].split(","))
            assert abs(px - x) <= 1 and abs(py - y) <= 1  # the pixel under the mouse, to the screen pixel
            assert abs(float(shown["value"]) - data[py - 1, px - 1]) <= 1e-3 * abs(data[py - 1, px - 1])
            ra, dec = wcs.all_pix2world([[float(shown["data"]["x"]), float(shown["data"]["y"])]], 1)[0]
            assert abs(float(shown["data"]["lon"]) - ra) * 3600 * np.cos(np.radians(dec)) < 0.01
            assert abs(float(shown["data"]["lat"]) - dec) * 3600 < 0.01
    save_artifact("orientation-turned-readout.png", page.screenshot())
    no_errors(page)


def test_the_link_carries_the_turn_and_flips(server, page, browser):
    open_viewer(page, server, "image=rotated.fits&x=150&y=100&zoom=2")
    transform_view(page, quarter=1, flipX=True)
    page.wait_for_function("() => window.location.search.includes('rotate=90&flip=x')")
    link = page.evaluate("() => window.location.href")
    here = [turned_point(page, x, y) for x, y in ((120.0, 80.0), (170.0, 115.0))]
    other = browser.new_context(viewport={"width": 1200, "height": 800}, bypass_csp=True).new_page()
    try:
        other.goto(link)
        settle(other)
        assert other.evaluate("() => window.tileserverViewer.transform.state()") == {
            "quarter": 1, "flipX": True, "flipY": False}
        assert other.get_attribute("[data-tool=flip-x]", "aria-pressed") == "true"
        there = [turned_point(other, x, y) for x, y in ((120.0, 80.0), (170.0, 115.0))]
        assert np.allclose(here, there, atol=1.5), (here, there)  # every pixel where it was
        assert other.evaluate("() => window.location.search") == page.evaluate("() => window.location.search")
        save_artifact("orientation-shared-link.png", other.screenshot())
    finally:
        other.context.close()
    # Back upright: the link says nothing of the orientation.
    transform_view(page, quarter=0, flipX=False)
    page.wait_for_function("() => !/rotate=|flip=/.test(window.location.search)")
    no_errors(page)


def test_right_drag_changes_contrast_and_bias(server, page):
    open_viewer(page, server, "image=rotated.fits")
    before = page.evaluate("() => window.tileserverViewer.settings.cutsOf(1)")
    x, y = 600, 400
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x + 120, y, steps=4)  # bias: to the right, the cuts' middle goes down (a brighter image)
    page.mouse.move(x + 120, y - 160, steps=4)  # contrast: up, a narrower range
    page.mouse.up(button="right")
    settle(page)
    after = page.evaluate("() => window.tileserverViewer.settings.cutsOf(1)")
    width0, width1 = before[1] - before[0], after[1] - after[0]
    assert sum(after) / 2 < sum(before) / 2
    assert width1 < width0 * 0.7
    # The tiles on view are those of the new cuts, and the link carries them.
    assert "MINMAX=1:" in page.evaluate("() => window.tileserverViewer.rendered.params.MINMAX ? "
                                        "'MINMAX=' + window.tileserverViewer.rendered.params.MINMAX : ''")
    assert page.evaluate("() => document.querySelectorAll('.ts-menu, [role=menu]').length") == 0
    no_errors(page)


def test_click_pins_the_readout_and_the_crosshair_holds_it(server, page):
    open_viewer(page, server, "image=rotated.fits&x=150&y=100&zoom=2")
    px, py = turned_point(page, 140, 90)
    page.mouse.click(px, py)
    pinned = readout(page, "cursor")
    assert pinned["data"].get("pinned") == "true"
    page.mouse.move(px + 200, py + 100)
    page.mouse.move(px + 220, py + 120)
    page.wait_for_timeout(100)  # the readout would follow within its 30 ms throttle
    held = readout(page, "cursor")
    assert held["data"]["x"] == pinned["data"]["x"] and held["data"]["y"] == pinned["data"]["y"]
    assert abs(float(held["data"]["x"]) - 140) < 0.5 and abs(float(held["data"]["y"]) - 90) < 0.5
    page.mouse.click(px + 220, py + 120)  # unpin: the row follows the cursor again
    page.mouse.move(px, py)
    page.wait_for_function("() => !document.querySelector('.ts-row-cursor').dataset.pinned")
    # Crosshair mode (key h): lines across the view at the clicked point, the readout on it.
    page.keyboard.press("h")
    assert page.get_attribute("[data-tool=crosshair]", "aria-pressed") == "true"
    page.mouse.click(px, py)
    lines = page.evaluate("() => { const c = document.querySelector('.ts-crosshair');"
                          " return {x: +c.dataset.x, y: +c.dataset.y,"
                          " shown: [...c.querySelectorAll('.ts-crosshair-h, .ts-crosshair-v')]"
                          ".every((l) => !l.hidden)}; }")
    assert lines["shown"] and abs(lines["x"] - px) <= 1 and abs(lines["y"] - py) <= 1
    page.mouse.click(px + 50, py)  # a click moves the crosshair; the readout stays pinned
    moved = readout(page, "cursor")
    assert moved["data"].get("pinned") == "true" and float(moved["data"]["x"]) > 140 + 20
    save_artifact("orientation-crosshair.png", page.screenshot())
    page.keyboard.press("h")
    assert page.evaluate("() => document.querySelector('.ts-row-cursor').dataset.pinned === undefined")
    no_errors(page)


@pytest.fixture(scope="module")
def browse_server(folders: dict[str, Path]) -> Iterator[LiveServer]:
    """The same data plus a multi-extension file, a table-only file and a long name, in a folder of their own."""
    extra = folders["data"] / "files"
    extra.mkdir(exist_ok=True)
    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.arange(3.0))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(extra / "catalogue_only.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sky(120, 80, seed=1), name="SCI"), table,
                  fits.ImageHDU(sky(60, 40, seed=2), name="WHT")]).writeto(extra / "two_images.fits")
    long = "a_very_long_observation_name_2026-12-03T04:05:06_ngc1234_r_band_stacked_v3.fits"
    write_fits(extra / long, sky(100, 100, seed=3), tan_header(100, 100))
    write_fits(extra / "other.fits", sky(100, 100, seed=4), {**tan_header(100, 100), "CRVAL1": 150.0005})
    srv = start_server(folders)
    yield srv
    srv.stop()


def test_browser_searches_lists_extensions_and_picks_for_compare(browse_server, page):
    open_viewer(page, browse_server, "image=files/other.fits")
    page.keyboard.press("o")
    files = page.locator(".ts-panel-files")
    files.locator("[data-path='files/two_images.fits']").wait_for()
    paths = files.locator(".ts-file").evaluate_all("(bs) => bs.map((b) => b.dataset.path)")
    assert "files/catalogue_only.fits" not in paths  # tables only: not an image
    assert {"files/two_images.fits[1]", "files/two_images.fits[3]"} <= set(paths)
    name = files.locator(".ts-file[data-path*='very_long']")
    assert "ngc1234_r_band_stacked_v3.fits" in name.inner_text()  # the whole name, wrapped
    assert name.get_attribute("title").startswith("files/a_very_long")
    files.locator(".ts-file-search").fill("ngc1234")
    shown = files.locator(".ts-files > li:not([hidden]) > .ts-file").evaluate_all(
        "(bs) => bs.map((b) => b.dataset.path)")
    assert len(shown) == 1 and "ngc1234" in shown[0]
    files.locator(".ts-file-search").fill("")
    save_artifact("browser-extensions.png", page.screenshot())
    files.locator("[data-path='files/two_images.fits[3]']").click()
    settle(page)
    assert page.evaluate("() => [window.tileserverViewer.image, window.tileserverViewer.info.full_size]") == [
        "files/two_images.fits[3]", [60, 40]]
    # Compare: the second image from the browser, and a readout row for it.
    open_viewer(page, browse_server, "image=files/other.fits")
    page.keyboard.press("v")
    page.click("[data-action=compare-browse]")
    page.locator(".ts-panel-files [data-path$='ngc1234_r_band_stacked_v3.fits']").click()
    page.wait_for_function("() => window.tileserverViewer.panels.compare.view.mode === 'side'")
    page.wait_for_function("() => !document.querySelector('.ts-row-second').hidden")
    settle(page)
    x, y = turned_point(page, 50, 50)
    page.mouse.move(x + 1, y)
    page.mouse.move(x, y)
    # Both rows read at the one moment they are both filled: a later read could find the cursor row cleared by
    # the map's mouseout as the corners slide under the mouse.
    rows = page.wait_for_function(
        "() => { const s = document.querySelector('.ts-row-second').dataset,"
        " c = document.querySelector('.ts-row-cursor').dataset;"
        " return s.values && s.x && c.x ? {second: {...s}, first: {...c}} : null; }").json_value()
    first, second = rows["first"], rows["second"]
    # Through the sky: the second image is 0.0005 degrees east, i.e. about 16 pixels to the left at this scale.
    w1, w2 = WCS(tan_header(100, 100)), WCS({**tan_header(100, 100), "CRVAL1": 150.0005})
    ra, dec = w2.all_pix2world([[float(first["x"]), float(first["y"])]], 1)[0]
    ex, ey = w1.all_world2pix([[ra, dec]], 1)[0]
    assert abs(float(second["x"]) - ex) < 0.01 and abs(float(second["y"]) - ey) < 0.01
    # The map halved: the readout leaves out its decimal degrees to fit, and the overview and the colorbar rise
    # above it rather than cover its right end.
    page.wait_for_function(  # the corners slide into place (0.2 s transitions)
        "() => { const r = document.querySelector('.ts-readout').getBoundingClientRect();"
        " return [...document.querySelectorAll('.ts-minimap, .ts-colorbar')].every((c) => {"
        " const b = c.getBoundingClientRect(); return !b.width || b.bottom <= r.top || b.left >= r.right; }); }")
    readout_box, map_box = page.locator(".ts-readout").bounding_box(), page.locator(".ts-map").bounding_box()
    assert readout_box["x"] + readout_box["width"] <= map_box["x"] + map_box["width"]
    toolbar = page.locator(".ts-toolbar").bounding_box()
    for corner in (".ts-minimap", ".ts-colorbar"):
        box = page.locator(corner).bounding_box()
        box = page.locator(corner).bounding_box()
        if box is None:  # the overview gives way when it has no room between the toolbar and the readout
            continue
        assert box["y"] >= toolbar["y"] + toolbar["height"], corner
        assert (box["x"] >= readout_box["x"] + readout_box["width"] or box["y"] + box["height"] <= readout_box["y"]), (
            corner, box, readout_box)
    compass_labels_apart(page)  # a north-up image: Y beside N
    save_artifact("browser-compare-readout.png", page.screenshot())
    no_errors(page)


def test_every_tool_is_reachable_on_a_landscape_phone(browse_server, browser):
    from support.browser import watched_page

    with watched_page(browser, viewport={"width": 844, "height": 390}, device_scale_factor=2, is_mobile=True,
                      has_touch=True) as (page, errors):
        page.goto(f"{browse_server.url}/?image=rotated.fits")
        settle(page)
        boxes = page.locator(".ts-tool").evaluate_all(
            "(bs) => bs.filter((b) => b.offsetParent).map((b) => { const r = b.getBoundingClientRect();"
            " return [b.dataset.tool, r.left, r.top, r.right, r.bottom]; })")
        assert len(boxes) >= 15
        for name, left, top, right, bottom in boxes:
            assert left >= 0 and top >= 0 and right <= 844 and bottom <= 390, name
            hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('.ts-tool')?.dataset.tool",
                                [(left + right) / 2, (top + bottom) / 2])
            assert hit == name, (name, hit)  # nothing covers it
        page.tap("[data-tool=link]")
        toast = page.locator(".ts-toast").bounding_box()
        readout_box = page.locator(".ts-readout").bounding_box()
        assert toast["y"] + toast["height"] <= readout_box["y"]  # the message is not over the readout
        save_artifact("layout-landscape-phone.png", page.screenshot())
        assert errors == []
