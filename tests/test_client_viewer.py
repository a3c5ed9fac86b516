"""The web client in Debian's Chromium against a real server (Playwright).

One server and one set of small images serve the whole module; each test opens its own page, whose console errors
and failed requests must stay empty. Screenshots go to test-artifacts/client-*.png.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from tileserver.store.diskcache import cache_key
from tileserver.store.progress import ProgressBoard
from tileserver.store.pyramid import Geometry

from support import save_artifact
from support.browser import PHONE, cancelled, watched_page
from support.images import sky, tan_header
from support.servers import LiveServer
from support.viewer import (
    CUBE,
    SKY,
    TILE,
    centre,
    change,
    client_images,
    grab,
    hover,
    jtl,
    no_errors,
    open_viewer,
    params,
    readout,
    screen_point,
    settle,
    start_server,
    view,
    visible_tiles,
    write_fits,
)

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = client_images(tmp_path_factory, "client")
    (paths["data"] / "bad.fits").write_bytes(b"this is not a FITS file")
    return paths


# -- tests ---------------------------------------------------------------------------------------------------------


def test_page_loads_and_tiles_cover_the_image_exactly(server, page):
    tiles = open_viewer(page, server, "image=sky.fits")
    v = view(page)
    urls = tiles.take()
    # Each tile names the version of its level: the image's key, marked while the level is still a preview.
    key = v["info"]["cache_tag"].removesuffix("-preview")
    assert urls and all(params(u)["FIF"] == ["sky.fits"] and params(u)["V"][0] in (key, key + "-preview")
                        for u in urls)
    # Edge tiles are cropped by the server and drawn at their size: together the tiles cover the image exactly.
    extent = page.evaluate("""() => {
        const v = window.tileserverViewer, m = v.map, box = m.getContainer().getBoundingClientRect();
        const imgs = [...document.querySelectorAll('.ts-image-layer img.leaflet-tile-loaded')];
        const r = imgs.map((i) => i.getBoundingClientRect());
        // Unrounded container points (latLngToContainerPoint rounds): a fitted view has a fractional zoom.
        const origin = m.project(m.containerPointToLatLng([0, 0]));
        const at = (x, y) => m.project(v.mapping.fitsToLatLng(x, y)).subtract(origin);
        const tl = at(0.5, v.mapping.height + 0.5);
        const br = at(v.mapping.width + 0.5, 0.5);
        return {tiles: [Math.min(...r.map((b) => b.left)) - box.left, Math.min(...r.map((b) => b.top)) - box.top,
                        Math.max(...r.map((b) => b.right)) - box.left, Math.max(...r.map((b) => b.bottom)) - box.top],
                image: [tl.x, tl.y, br.x, br.y], area: r.reduce((a, b) => a + b.width * b.height, 0)};
    }""")
    # A fitted view has a fractional zoom: Leaflet scales the level's tiles from a whole-pixel origin, which may
    # put them up to half a screen pixel from the exact place; their size and their union stay exact.
    assert extent["tiles"] == pytest.approx(extent["image"], abs=0.5)
    x0, y0, x1, y1 = extent["image"]
    assert extent["area"] == pytest.approx((x1 - x0) * (y1 - y0), rel=1e-6)  # no overlap, no gap
    shot = page.screenshot()
    save_artifact("client-sky.png", shot)
    pixels = grab(page, (int(x0) + 100, int(y0) + 60, 200, 120))
    assert pixels.std() > 5  # real sky on screen, not a blank map
    no_errors(page)


def test_zoom_and_pan_request_the_tiles_in_view(server, page):
    levels = Geometry(*SKY, 1, TILE).levels
    tiles = open_viewer(page, server, "image=sky.fits&x=200.3&y=150.7&zoom=4")  # 4x past full resolution
    seen: set[str] = set()
    before: set[str] = set()
    steps = [None, *["-"] * 8, "ArrowRight", "ArrowDown", "+"]  # zoom steps of √2: 4x down to 1/4x
    for key in steps:
        if key:
            page.keyboard.press(key)
            page.wait_for_timeout(350)  # the zoom or pan animation
            settle(page)
        v = view(page)
        step = jtl(tiles.take()) - {"0,0"}  # the overview's tile: the coarsest level, whatever the view
        seen |= step
        expected = visible_tiles(v)
        assert expected <= seen, f"after {key}: tiles in view never requested: {sorted(expected - seen)}"
        # Only tiles of the view (or of the one it came from, during a pan's animation) are asked for.
        stray = sorted(step - expected - before)
        assert not stray, f"after {key}: tiles out of view requested: {stray}"
        before = expected
    assert {t.split(",")[0] for t in seen} == {str(z) for z in range(levels - 3, levels)}
    no_errors(page)


def test_each_setting_requests_its_parameter_and_changes_the_image(server, page):
    tiles = open_viewer(page, server, "image=sky.fits")
    page.click("[data-tool=settings]")
    box = (350, 250, 300, 200)  # inside the image, left of the panel
    first = previous = grab(page, box)
    tiles.take()
    info = page.evaluate("() => window.tileserverViewer.info.cuts[0]")
    zscale = ",".join(str(float(f"{v:.7g}")).removesuffix(".0") for v in info["zscale"])
    auto = ",".join(str(float(f"{v:.7g}")).removesuffix(".0") for v in info["auto"])

    def drag_high_cut() -> None:
        canvas = page.locator("canvas.ts-histogram").bounding_box()
        hi = page.evaluate("() => { const h = window.tileserverViewer.panels.settings._histogram;"
                           " return h._shownX(h._cuts[1]); }")
        y = canvas["y"] + canvas["height"] / 2
        page.mouse.move(canvas["x"] + hi, y)
        page.mouse.down()
        page.mouse.move(canvas["x"] + hi - 40, y, steps=4)
        page.mouse.up()

    def fill_cut(which: str, value: str) -> None:
        page.fill(f"[data-setting=cut-{which}]", value)
        page.keyboard.press("Tab")  # a number field reports its change when it loses the focus

    steps: list[tuple[str, Callable[[], Any], Callable[[dict[str, list[str]]], bool]]] = [
        ("stretch", lambda: page.select_option("[data-setting=stretch]", "asinh"), lambda p: p.get("STR") == ["asinh"]),
        ("colormap", lambda: page.select_option("[data-setting=colormap]", "viridis"),
         lambda p: p.get("CMP") == ["viridis"]),
        ("gamma", lambda: page.fill("[data-setting=gamma]", "2"), lambda p: p.get("GAM") == ["2"]),
        ("contrast", lambda: page.fill("[data-setting=contrast]", "0.5"), lambda p: p.get("CNT") == ["3.162278"]),
        ("brightness", lambda: page.fill("[data-setting=brightness]", "10"), lambda p: p.get("BRT") == ["10"]),
        ("invert", lambda: page.check("[data-setting=invert]"), lambda p: p.get("INV") == [""]),
        # A preset is a coherent whole: its cuts, its stretch, the image's gamma (GAM=2 above is not left over).
        ("wide preset", lambda: page.click("[data-preset=auto]"),
         lambda p: p.get("MINMAX") == [f"1:{auto}"] and p.get("STR") == ["asinh"] and "GAM" not in p),
        ("zscale preset", lambda: page.click("[data-preset=zscale]"),
         lambda p: p.get("MINMAX") == [f"1:{zscale}"] and "STR" not in p),
        ("quality", lambda: page.fill("[data-setting=quality]", "10"), lambda p: p.get("QLT") == ["10"]),
        ("manual min", lambda: fill_cut("min", "95"), lambda p: p.get("MINMAX", [""])[0].startswith("1:95,")),
        ("manual max", lambda: fill_cut("max", "160"), lambda p: p.get("MINMAX") == ["1:95,160"]),
        ("histogram drag", drag_high_cut, lambda p: p["MINMAX"][0].startswith("1:95,") and p["MINMAX"] != ["1:95,160"]),
    ]
    for name, act, check in steps:
        urls = change(page, act)
        assert urls and all(check(params(u)) for u in urls), f"{name}: {urls[:1]}"
        assert set(urls) <= set(tiles.take()), f"{name}: tiles shown but never requested"
        now = grab(page, box)
        assert np.abs(now - previous).mean() > 2, f"{name} did not change the image"
        previous = now
        if name == "colormap":
            save_artifact("client-settings.png", page.screenshot())
    assert page.locator("[data-preset=manual]").get_attribute("aria-pressed") == "true"
    page.click("[data-action=reset-settings]")
    settle(page)
    assert view(page)["params"] == {}
    assert np.abs(grab(page, box) - first).mean() < 0.5  # back to the image as it first came
    no_errors(page)


def test_cube_channels_mono_mix_and_animation(server, page):
    tiles = open_viewer(page, server, "image=cube.fits")
    assert all("CHAN" not in params(u) for u in tiles.take())  # a cube opens as a colour mix
    page.keyboard.press("c")
    box = (450, 300, 300, 200)
    previous = grab(page, box)

    def step(act: Callable[[], Any], check: Callable[[dict[str, list[str]]], bool], name: str) -> None:
        nonlocal previous
        urls = change(page, act)
        assert urls and all(check(params(u)) for u in urls), f"{name}: {urls[:1]}"
        now = grab(page, box)
        assert np.abs(now - previous).mean() > 1, f"{name} did not change the image"
        previous = now

    step(lambda: page.check("[data-setting=mode-mono]"), lambda p: p.get("CHAN") == ["1"], "mono")
    step(lambda: page.select_option("[data-setting=channel]", "2"), lambda p: p.get("CHAN") == ["2"], "channel 2")
    step(lambda: page.keyboard.press("]"), lambda p: p.get("CHAN") == ["3"], "next channel")
    step(lambda: page.check("[data-setting=mode-mix]"), lambda p: "CHAN" not in p, "mix")
    step(lambda: page.fill("[data-mix-colour='1']", "#ff0000"),
         lambda p: p.get("MIX", [""])[0] == "1:1,0,0" and len(p["MIX"]) == 3, "colour of channel 1")
    step(lambda: page.uncheck("[data-mix-on='3']"), lambda p: "3:0,0,0" in p.get("MIX", []), "channel 3 off")
    save_artifact("client-cube-mix.png", page.screenshot())
    # All channels' values under the cursor.
    data = fits.getdata(server_data(server) / "cube.fits")
    r = hover(page, 150, 100)
    px, py = (int(v) for v in r["data"]["pixel"].split(","))
    assert json.loads(r["data"]["values"]) == [float(data[c, py - 1, px - 1]) for c in range(CUBE[2])]
    # Animation through the channels at a frame rate, then pause.
    page.check("[data-setting=mode-mono]")
    page.fill("[data-setting=fps]", "20")
    page.keyboard.press("Tab")
    settle(page)
    tiles.take()
    page.click("[data-action=play]")
    assert page.locator("[data-action=play]").text_content() == "Pause"
    # Every channel comes on screen in turn (tiles seen before come from the browser's cache: watch the settings).
    page.wait_for_function("""() => { const seen = window.seenChannels = window.seenChannels || new Set();
        seen.add(window.tileserverViewer.settings.channel); return seen.size === 3; }""", timeout=15000)
    page.click("[data-action=play]")
    assert page.evaluate("() => [...window.seenChannels].sort()") == [1, 2, 3]
    assert page.locator("[data-action=play]").text_content() == "Play"
    settle(page)
    no_errors(page)


def server_data(server: LiveServer) -> Path:
    return Path(server.env["TILESERVER_DATA_DIR"])


def test_coordinates_equal_astropys(server, page):
    header = fits.getheader(server_data(server) / "sip.fits")
    wcs = WCS(header)
    open_viewer(page, server, "image=sip.fits&x=300&y=200&zoom=4")
    for x, y in [(300, 200), (250.25, 180.75), (410, 222), (301.5, 199.5)]:
        r = hover(page, x, y)
        px, py = float(r["data"]["x"]), float(r["data"]["y"])
        assert (px, py) == pytest.approx((x, y), abs=0.3)  # the mouse sits on whole screen pixels
        ra, dec = (float(v) for v in wcs.all_pix2world(px, py, 1))
        assert float(r["data"]["lon"]) == pytest.approx(ra, abs=1e-9)
        assert float(r["data"]["lat"]) == pytest.approx(dec, abs=1e-9)
        sexagesimal, degrees = r["sky"]
        hms, dms = sexagesimal.split()
        decimals = len(hms.split(".")[1])
        assert hms == Angle(ra, "deg").to_string(unit="hour", sep=":", precision=decimals, pad=True)
        assert dms == Angle(dec, "deg").to_string(unit="deg", sep=":", precision=decimals - 1, pad=True,
                                                  alwayssign=True)
        shown_ra, shown_dec = (float(t) for t in degrees.split())
        places = len(degrees.split()[0].split(".")[1])
        assert (shown_ra, shown_dec) == (round(ra, places), round(dec, places))
        assert r["pixel"] == f"{px:.2f}, {py:.2f}"  # past full resolution: two decimals
    # Galactic on request.
    page.select_option(".ts-frame", "galactic")
    r = readout(page, "cursor")
    gal = SkyCoord(float(r["data"]["lon"]), float(r["data"]["lat"]), unit="deg", frame="icrs").galactic
    l_text, b_text = r["sky"][0].replace("l ", "").split("b ")
    places = len(l_text.strip().split(".")[1])
    assert float(l_text) == pytest.approx(gal.l.deg, abs=0.51 * 10**-places)
    assert float(b_text) == pytest.approx(gal.b.deg, abs=0.51 * 10**-places)
    # The centre (reticle) row is astropy's too.
    c = readout(page, "centre")
    ra, dec = (float(v) for v in wcs.all_pix2world(float(c["data"]["x"]), float(c["data"]["y"]), 1))
    assert float(c["data"]["lon"]) == pytest.approx(ra, abs=1e-9)
    # Go to a position typed in sexagesimal, and one in pixels.
    target = wcs.all_pix2world(120.0, 330.0, 1)
    coord = SkyCoord(float(target[0]), float(target[1]), unit="deg")
    page.fill(".ts-goto", coord.to_string("hmsdms", sep=":", precision=4))
    page.keyboard.press("Enter")
    page.wait_for_timeout(400)
    assert view(page)["center"] == pytest.approx([120.0, 330.0], abs=0.01)
    page.fill(".ts-goto", "250 120 px")
    page.keyboard.press("Enter")
    page.wait_for_timeout(400)
    assert view(page)["center"] == pytest.approx([250.0, 120.0], abs=0.01)
    save_artifact("client-coordinates.png", page.screenshot())
    settle(page)
    no_errors(page)


def test_north_is_up_and_east_left_for_a_standard_wcs(server, page):
    # At full resolution, the image's edges lie clear of the controls (fitted, they reach the window's edges).
    open_viewer(page, server, "image=sky.fits&x=300.5&y=200.5&zoom=1")
    top, bottom = hover(page, 300, 390), hover(page, 300, 10)
    left, right = hover(page, 10, 200), hover(page, 590, 200)
    assert screen_point(page, 300, 390)[1] < screen_point(page, 300, 10)[1]  # FITS y grows upwards on screen
    assert float(top["data"]["lat"]) > float(bottom["data"]["lat"])
    assert float(left["data"]["lon"]) > float(right["data"]["lon"])
    no_errors(page)


def test_pixel_values_equal_the_data(server, page):
    data = fits.getdata(server_data(server) / "sky.fits")
    star_y, star_x = (int(i) for i in np.unravel_index(np.nanargmax(data), data.shape))
    open_viewer(page, server, f"image=sky.fits&x={star_x + 1}&y={star_y + 1}&zoom=4")
    for x, y in [(star_x + 1, star_y + 1), (star_x + 2, star_y + 1), (300, 200)]:
        centre(page, x, y)
        settle(page)
        r = hover(page, x, y)
        assert r["data"]["pixel"] == f"{x},{y}"
        expected = float(data[y - 1, x - 1])
        assert json.loads(r["data"]["values"]) == [expected]
        assert r["value"] == str(float(f"{expected:.6g}")).removesuffix(".0")
    centre(page, 20, 20)  # in the NaN corner
    settle(page)
    r = hover(page, 20, 20)
    assert np.isnan(data[19, 19]) and r["value"] == "NaN" and r["data"]["values"] == "[null]"
    no_errors(page)


TILES_IN_VIEW = """() => {
    const box = document.getElementById('map').getBoundingClientRect();
    return [...document.querySelectorAll('.ts-image-layer img.leaflet-tile-loaded')].filter((i) => {
        const r = i.getBoundingClientRect();
        return r.right > box.left && r.left < box.right && r.bottom > box.top && r.top < box.bottom;
    }).map((i) => i.src).sort();
}"""


def test_a_shared_link_restores_the_view(server, page, browser):
    tiles = open_viewer(page, server, "image=sky.fits")
    for key in ("1", "+", "+", "ArrowRight", "ArrowUp", "i"):  # whole magnifications: pixel-exact tiles
        page.keyboard.press(key)
        page.wait_for_timeout(350)
        settle(page)
    page.keyboard.press("s")
    page.click("[data-preset='99.5%']")
    page.select_option("[data-setting=colormap]", "hot")
    page.fill("[data-setting=gamma]", "1.5")
    settle(page)
    # The URL follows the view after a short pause (longer on a loaded machine): wait for it, do not guess.
    page.wait_for_function("location.search.includes('CMP=hot') && location.search.includes('GAM=1.5')",
                           timeout=10000)
    first = view(page)
    url = page.url
    assert f"?{first['link']}" in url and "CMP=hot" in url and "GAM=1.5" in url and "INV" in url
    page.click("[data-tool=link]")
    assert page.locator(".ts-link-field").input_value() == url
    page.keyboard.press("Escape")
    tiles_first = page.evaluate(TILES_IN_VIEW)
    shot_first = grab(page, (100, 100, 600, 500))

    with watched_page(browser, viewport={"width": 1200, "height": 800}) as (other, errors):
        other.goto(url)
        settle(other)
        second = view(other)
        assert second["link"] == first["link"] and second["params"] == first["params"]
        assert second["zoom"] == first["zoom"] and second["center"] == pytest.approx(first["center"], abs=0.01)
        assert other.evaluate(TILES_IN_VIEW) == tiles_first
        assert np.abs(grab(other, (100, 100, 600, 500)) - shot_first).mean() < 1
        save_artifact("client-shared-link.png", other.screenshot())
        assert errors == []
    assert tiles.take()
    no_errors(page)


def test_the_image_browser_lists_and_opens_images(server, page):
    page.goto(f"{server.url}/")
    page.wait_for_selector(".ts-panel-files:not([hidden]) .ts-file")
    names = page.locator(".ts-panel-files .ts-file-name").all_text_contents()
    assert names == ["sub/", "bad.fits", "cube.fits", "plain.fits", "sip.fits", "sky.fits"]
    assert page.locator(".ts-message").text_content().startswith("No image given")
    page.click(".ts-file[data-path=sub]")
    page.wait_for_selector(".ts-file[data-path='sub/deep.fits']")
    assert page.locator(".ts-file[data-path='sub/deep.fits']").get_attribute("data-cached") == "false"
    save_artifact("client-browser.png", page.screenshot())
    page.click(".ts-file[data-path='sub/deep.fits']")
    settle(page)
    assert "image=sub/deep.fits" in page.url
    assert page.locator(".ts-message").count() == 0
    page.wait_for_selector(".ts-file.ts-current[data-path='sub/deep.fits'][data-cached=true]")
    assert page.evaluate("() => document.querySelectorAll('.ts-image-layer img.leaflet-tile-loaded').length") > 0
    # Back to the folder above through the breadcrumbs, and open another image.
    page.click(".ts-crumb >> text=data")
    page.click(".ts-file[data-path='sky.fits']")
    settle(page)
    assert "image=sky.fits" in page.url
    no_errors(page)


def test_the_progress_bar_shows_a_build(server, page, folders):
    """The build of a new image is held (its cache lock taken here) at a known fraction: the bar must show it,
    then go away and leave the image once the lock is released and the build done. A gzip'd FITS: it has no
    random access, so it is built before it is shown (a plain FITS is shown at once, from its previews)."""
    data, cache = folders["data"], folders["cache"]
    write_fits(data / "slow.fits.gz", sky(500, 300, seed=9), tan_header(500, 300))
    key = cache_key((data / "slow.fits.gz").resolve(), None, TILE)
    (cache / "locks").mkdir(parents=True, exist_ok=True)
    lock = os.open(cache / "locks" / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ProgressBoard(cache / "progress").report(key, "slow.fits.gz", "tiling", 0.42)
        page.goto(f"{server.url}/?image=slow.fits.gz")
        page.wait_for_selector(".ts-progress:not([hidden])", timeout=10000)
        page.wait_for_function("() => document.querySelector('.ts-progress-text').textContent.includes('42%')")
        assert page.locator(".ts-progress-text").text_content().startswith("Building the tiles")
        save_artifact("client-progress.png", page.screenshot())
    finally:
        os.close(lock)  # releases the lock: the server builds the image now
    settle(page)
    assert page.locator(".ts-progress").is_hidden()
    assert page.evaluate("() => document.querySelectorAll('.ts-image-layer img.leaflet-tile-loaded').length") > 0
    no_errors(page)


def test_a_file_rewritten_on_disk_reloads_in_place(server, page, folders):
    path = folders["data"] / "live.fits"
    write_fits(path, sky(300, 200, seed=20), tan_header(300, 200))
    tiles = open_viewer(page, server, "image=live.fits&x=100&y=80&zoom=4&CMP=viridis")
    # Once built: the cache tag of a preview changes when its build is done, which is not the change looked for.
    page.wait_for_function("() => { const v = window.tileserverViewer; return v.info && v.info.final; }")
    first = view(page)
    box = (400, 250, 400, 300)
    before = grab(page, box)
    tiles.take()
    data = sky(300, 200, seed=21)
    data[50:150, 100:200] += 2000  # a bright block: a change nobody can miss
    path.unlink()
    write_fits(path, data, tan_header(300, 200))
    # The websocket announces the rewrite; the viewer reloads the image, keeping the view and the settings.
    page.wait_for_function("(tag) => { const v = window.tileserverViewer;"
                           " return v.info && v.info.cache_tag !== tag && v.info.final && v.rendered"
                           " && !v.rendered.loading; }",
                           arg=first["info"]["cache_tag"], timeout=20000)
    second = view(page)
    assert second["link"] == first["link"]
    urls = tiles.take()
    # The new version's tiles (asked for while it was a preview, or once built).
    key = second["info"]["cache_tag"]
    assert urls and all(params(u)["V"][0] in (key, key + "-preview") and params(u)["CMP"] == ["viridis"]
                        for u in urls)
    assert "changed on disk" in page.locator(".ts-toast").text_content()
    assert np.abs(grab(page, box) - before).mean() > 5
    no_errors(page)


@pytest.mark.parametrize("name, message", [
    ("missing.fits", "Cannot open missing.fits: no such image"),
    ("bad.fits", "Cannot open bad.fits: the file is not an image"),
])
def test_an_error_is_a_readable_message(server, page, name: str, message: str):
    page.goto(f"{server.url}/?image={name}")
    page.wait_for_selector(".ts-message.error")
    assert page.locator(".ts-message.error").text_content().startswith(message)
    save_artifact(f"client-error-{name.split('.')[0]}.png", page.screenshot())
    # The INFO request's error status is the only failure (and the browser's console line about it).
    assert page.failed_requests and all(name in url for url in page.failed_requests)
    assert all("Failed to load resource" in text for text in page.console_errors)


def test_keyboard_help_overlay_minimap_scale_bar(server, page):
    native = Geometry(*SKY, 1, TILE).levels - 1  # map zoom at one screen pixel per image pixel
    tiles = open_viewer(page, server, "image=sky.fits&x=300&y=200&zoom=1")
    page.keyboard.press("?")
    help_box = page.locator(".ts-overlay")
    assert help_box.is_visible() and "Zoom in" in help_box.text_content() and "Invert" in help_box.text_content()
    save_artifact("client-help.png", page.screenshot())
    page.keyboard.press("Escape")
    assert help_box.is_hidden()
    # Scale bar: 0.198"/pixel at one screen pixel per image pixel: 140 px hold 27.7", so the bar is 20" long.
    assert page.locator(".ts-scale-label").text_content() == "20″"
    assert page.evaluate("() => document.querySelector('.ts-scale-bar').style.width") == f"{round(20 / 0.198)}px"
    for _ in range(4):  # steps of √2
        page.keyboard.press("+")
        page.wait_for_timeout(350)
        settle(page)
    # 4 screen pixels per image pixel: 35 image pixels hold 6.9", so 5", 101 screen pixels.
    assert page.locator(".ts-scale-label").text_content() == "5″"
    assert page.evaluate("() => document.querySelector('.ts-scale-bar').style.width") == f"{round(4 * 5 / 0.198)}px"
    # The overview shows the view's rectangle (a quarter of the image), and a click on it moves the view there.
    frame = page.locator(".ts-minimap-frame").bounding_box()
    rect = page.locator(".ts-minimap-view").bounding_box()
    assert (rect["width"], rect["height"]) == pytest.approx((frame["width"] / 2, frame["height"] / 2), abs=1.5)
    page.mouse.click(frame["x"] + frame["width"] * 0.25, frame["y"] + frame["height"] * 0.75)
    assert view(page)["center"] == pytest.approx([0.25 * SKY[0] + 0.5, 0.25 * SKY[1] + 0.5], abs=1.5)
    settle(page)
    page.keyboard.press("m")
    assert page.locator(".ts-minimap").is_hidden()
    page.keyboard.press("x")
    assert page.locator(".ts-reticle").is_hidden()
    page.keyboard.press("1")
    page.wait_for_timeout(350)
    assert view(page)["zoom"] == native
    settle(page)
    tiles.take()
    page.keyboard.press("i")
    settle(page)
    urls = tiles.take()
    assert urls and all(params(u).get("INV") == [""] for u in urls)
    no_errors(page)


def test_image_without_wcs_gets_pixel_scale_and_pixel_go_to(server, page):
    open_viewer(page, server, "image=plain.fits&x=100&y=75&zoom=2")
    assert page.locator(".ts-scale-label").text_content().endswith(" px")
    assert "no WCS" in page.locator(".ts-readout thead").text_content()
    page.fill(".ts-goto", "50 60")
    page.keyboard.press("Enter")
    page.wait_for_timeout(400)
    assert view(page)["center"] == pytest.approx([50, 60], abs=0.01)
    settle(page)
    no_errors(page)


def test_full_screen_button(server, page):
    open_viewer(page, server, "image=sky.fits")
    page.click("[data-tool=fullscreen]")
    page.wait_for_function("() => document.fullscreenElement && document.fullscreenElement.id === 'app'")
    assert page.locator("[data-tool=fullscreen]").get_attribute("aria-pressed") == "true"
    page.click("[data-tool=fullscreen]")
    page.wait_for_function("() => document.fullscreenElement === null")
    no_errors(page)


def test_phone_layout_and_touch(server, browser):
    with watched_page(browser, **PHONE) as (page, errors):
        open_viewer(page, server, "image=sky.fits")
        page.touchscreen.tap(195, 420)
        page.wait_for_function("() => document.querySelector('.ts-row-cursor').dataset.values")
        assert readout(page, "cursor")["value"] not in ("—", "?")
        save_artifact("client-phone.png", page.screenshot())
        page.tap("[data-tool=settings]")
        page.wait_for_timeout(400)  # the controls slide up with the sheet
        panel = page.locator(".ts-panel-settings").bounding_box()
        assert panel["width"] == 390 and panel["y"] + panel["height"] == pytest.approx(844, abs=1)
        # The readout moved above the sheet.
        assert page.locator(".ts-readout").bounding_box()["y"] + 10 < panel["y"]
        save_artifact("client-phone-settings.png", page.screenshot())
        assert errors == []


def test_viewer_under_a_root_path(folders, browser):
    srv = start_server(folders, "--root-path", "/vis")
    context = browser.new_context(viewport={"width": 1000, "height": 700}, bypass_csp=True)
    try:
        page = context.new_page()
        failures: list[str] = []
        page.on("console", lambda m: m.type == "error" and failures.append(m.text))
        page.on("requestfailed", lambda r: not cancelled(r) and failures.append(r.url))
        page.on("response", lambda r: r.status >= 400 and failures.append(f"{r.status} {r.url}"))
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        page.goto(f"{srv.url}/?image=sky.fits")
        settle(page)
        hover(page, 300, 200)
        page.keyboard.press("o")
        page.wait_for_selector(".ts-file[data-path='sky.fits']")
        paths = {urlsplit(u).path for u in urls}
        assert {"/vis/", "/vis/api", "/vis/list"} <= paths
        # The client and Leaflet come from their versioned, immutable URLs.
        assert {re.sub(r"^/vis/static/\w+/", "/vis/static/TAG/", p) for p in paths} >= {
            "/vis/static/TAG/client/js/main.js", "/vis/static/TAG/leaflet/leaflet-src.esm.js"}
        assert all(p.startswith("/vis/") for p in paths)
        assert failures == []
    finally:
        context.close()
        srv.stop()
