"""The measuring tools' endpoints (/analysis/...): region statistics against numpy on the full-resolution data,
contours where the data cross their level (in FITS pixels, binned on big images), the pixel table, every HDU's
header, the colorbar; bad input refused with a readable 4xx."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

W, H = 300, 200


@pytest.fixture
def field(make_fits: Any) -> np.ndarray:
    rng = np.random.default_rng(3)
    data = rng.normal(100, 10, (H, W)).astype(np.float32)
    data[50:60, 100:130] = np.nan  # blank pixels inside some shapes
    make_fits("f.fits", data, header={"BUNIT": "Jy/beam"})
    return data


def inside(kind: str, numbers: list[float]) -> np.ndarray:
    """Mask of the pixels whose centres lie inside, computed independently of the server (FITS pixels)."""
    y, x = np.mgrid[1:H + 1, 1:W + 1].astype(float)
    if kind == "circle":
        cx, cy, r = numbers
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if kind == "box":
        x1, y1, x2, y2 = numbers
        return (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)
    cx, cy, a, b, angle = numbers
    t = np.radians(angle)
    u, v = (x - cx) * np.cos(t) + (y - cy) * np.sin(t), -(x - cx) * np.sin(t) + (y - cy) * np.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


@pytest.mark.parametrize("kind, numbers", [
    ("circle", [110.5, 55.0, 20.0]),
    ("box", [90.0, 40.0, 140.0, 75.0]),
    ("ellipse", [150.0, 100.0, 40.0, 15.0, 30.0]),
    ("circle", [3.0, 3.0, 10.0]),  # over the image's corner: only the pixels on the image
])
def test_region_statistics_equal_numpys_on_the_full_data(client, field, kind: str, numbers: list[float]):
    r = client.get("/analysis/stats", params={"FIF": "f.fits", "shape": f"{kind}:{','.join(map(str, numbers))}"})
    assert r.status_code == 200, r.text
    got = r.json()
    mask = inside(kind, numbers)
    values = field[mask]  # FITS row y is data row y - 1
    finite = values[np.isfinite(values)].astype(np.float64)
    assert got["unit"] == "Jy/beam" and got["channel"] == 1
    assert got["area"] == int(mask.sum()) and got["count"] == finite.size
    expected = {"sum": finite.sum(), "mean": finite.mean(), "median": np.median(finite), "std": finite.std(),
                "min": finite.min(), "max": finite.max()}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_polygon_statistics(client, field):
    # A right triangle with legs along the axes: the pixels with x + y <= 150 above x = 20, y = 20.
    r = client.get("/analysis/stats", params={"FIF": "f.fits", "shape": "polygon:20,20,130,20,20,130"})
    y, x = np.mgrid[1:H + 1, 1:W + 1]
    mask = (x > 20) & (y > 20) & (x + y < 150)  # centres strictly inside (none sits on the slanted edge here)
    border = (x >= 20) & (y >= 20) & (x + y <= 150)
    got = r.json()
    assert mask.sum() <= got["area"] <= border.sum()


def test_contours_lie_where_the_data_cross_their_level(client, make_fits):
    # A cone: the data are the distance to (120.5, 80.5) in FITS pixels, so the contour at L is a circle of radius L.
    y, x = np.mgrid[1:H + 1, 1:W + 1]
    make_fits("cone.fits", np.hypot(x - 120.5, y - 80.5).astype(np.float32), wcs=False)
    r = client.get("/analysis/contours", params={"FIF": "cone.fits", "levels": "30,10"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["binning"] == 1 and [c["level"] for c in body["contours"]] == [10.0, 30.0]
    for contour in body["contours"]:
        points = np.array([p for path in contour["paths"] for p in path])
        assert len(points) > 20
        assert np.abs(np.hypot(points[:, 0] - 120.5, points[:, 1] - 80.5) - contour["level"]).max() < 0.05


def test_contours_of_a_big_image_are_traced_on_binned_data_in_full_resolution_pixels(client_for, make_fits):
    client = client_for(tile_size=64)
    w, h = 2200, 600
    y, x = np.mgrid[1:h + 1, 1:w + 1]
    make_fits("big.fits", np.hypot(x - 1000.5, y - 300.5).astype(np.float32), wcs=False)
    body = client.get("/analysis/contours", params={"FIF": "big.fits", "levels": "200"}).json()
    assert body["binning"] == 4
    points = np.array([p for path in body["contours"][0]["paths"] for p in path])
    assert np.abs(np.hypot(points[:, 0] - 1000.5, points[:, 1] - 300.5) - 200).max() < 1.0


def test_pixel_table_around_a_pixel(client, field):
    r = client.get("/analysis/pixels", params={"FIF": "f.fits", "x": "2", "y": "100", "r": "2"})
    body = r.json()
    assert body["x"] == [1, 2, 3, 4] and body["y"] == [102, 101, 100, 99, 98]  # clipped at the left edge; top first
    for row, yy in zip(body["values"], body["y"]):
        assert row == pytest.approx([float(field[yy - 1, xx - 1]) for xx in body["x"]])
    blank = client.get("/analysis/pixels", params={"FIF": "f.fits", "x": "110", "y": "55", "r": "0"}).json()
    assert blank["values"] == [[None]]


def test_every_hdu_header(client, data_dir):
    primary = fits.PrimaryHDU()
    primary.header["OBSERVER"] = ("Herschel", "who looked")
    sci = fits.ImageHDU(np.zeros((20, 30), np.float32), name="SCI")
    sci.header["BUNIT"] = "electron/s"
    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.arange(3.0))], name="CAT")
    fits.HDUList([primary, sci, table]).writeto(data_dir / "mef.fits")
    body = client.get("/analysis/header", params={"FIF": "mef.fits"}).json()
    assert [(h["index"], h["name"]) for h in body["hdus"]] == [(0, "PRIMARY"), (1, "SCI"), (2, "CAT")]
    cards = {card[0]: card for card in body["hdus"][0]["cards"]}
    assert cards["OBSERVER"] == ["OBSERVER", "Herschel", "who looked"]
    assert ["BUNIT", "electron/s", ""] in body["hdus"][1]["cards"]
    assert ["TTYPE1", "flux", ""] in body["hdus"][2]["cards"]


def test_colorbar_is_the_tiles_colour_scale(client, field):
    info = client.get("/api", params={"FIF": "f.fits", "INFO": ""}).json()
    r = client.get("/analysis/colorbar", params={"FIF": "f.fits", "CMP": "hot"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    lo, hi = (float(v) for v in r.headers["x-cuts"].split(","))
    assert [lo, hi] == pytest.approx(info["cuts"][0]["default"], rel=1e-8)
    bar = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    assert bar.shape == (1, 256, 3)
    assert bar[0, 0].sum() < 30 and bar[0, -1].sum() > 700  # hot: black to white
    assert (np.diff(bar[0].sum(axis=1)) >= 0).all()
    manual = client.get("/analysis/colorbar", params={"FIF": "f.fits", "MINMAX": "1:0,500"})
    assert manual.headers["x-cuts"] == "0,500"


@pytest.mark.parametrize("path, params, status, message", [
    ("stats", {"shape": "square:1,2,3"}, 422, "shape must be one of"),
    ("stats", {"shape": "circle:1,2"}, 422, "a circle is written circle:x,y,r"),
    ("stats", {"shape": "circle:1,2,-3"}, 422, "radii must be positive"),
    ("stats", {"shape": "circle:nan,2,3"}, 422, "a circle is written"),
    ("stats", {"shape": "polygon:1,2,3,4"}, 422, "a polygon has 3 to"),
    ("stats", {"shape": "circle:-500,-500,10"}, 422, "holds no pixel"),
    ("stats", {"shape": "circle:10,10,5", "CHAN": "2"}, 422, "CHAN 2 does not exist"),
    ("contours", {"levels": ""}, 422, "levels must be 1 to 50"),
    ("contours", {"levels": ",".join(["1"] * 51)}, 422, "levels must be 1 to 50"),
    ("contours", {"levels": "1,inf"}, 422, "levels must be"),
    ("pixels", {"x": "10", "y": "10", "r": "11"}, 422, "r must be a number from 0 to 10"),
    ("pixels", {"x": "abc", "y": "10"}, 422, "x must be a number"),
    ("pixels", {"x": "301", "y": "10"}, 422, "must lie inside the image"),
    ("colorbar", {"NAN": "blue"}, 422, "NAN must be a colour"),
])
def test_bad_input_is_refused_with_a_message(client, field, path: str, params: dict, status: int, message: str):
    r = client.get(f"/analysis/{path}", params={"FIF": "f.fits", **params})
    assert r.status_code == status and message in r.text, r.text
    assert "/tmp" not in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("path", ["header", "stats", "contours", "pixels", "colorbar"])
def test_missing_or_outside_images_are_refused(client, field, path: str):
    for fif, status in (("missing.fits", 404), ("../etc/passwd", 403), ("", 422)):
        r = client.get(f"/analysis/{path}", params={"FIF": fif, "shape": "circle:5,5,2", "levels": "1",
                                                     "x": "1", "y": "1"})
        assert r.status_code == status, (fif, r.text)
        assert "/tmp" not in r.text and "Traceback" not in r.text


def test_too_large_a_region_is_refused(client_for, field):
    client = client_for(max_region_tile_count=1)
    r = client.get("/analysis/stats", params={"FIF": "f.fits", "shape": "box:1,1,300,200"})
    assert r.status_code == 413 and "over the limit" in r.text
