"""The /api on single-HDU FITS: INFO, obj, JTL geometry, the display formulas and the error cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from support.images import decode, sky
from support.servers import wait_for


def quadrants(values=(0.0, 25.0, 50.0, 100.0), size=64) -> np.ndarray:
    """A 2x2-tile image, each tile one value: top-left, top-right, bottom-left, bottom-right (display order)."""
    tl, tr, bl, br = values
    top = np.hstack([np.full((size, size), tl), np.full((size, size), tr)])
    bottom = np.hstack([np.full((size, size), bl), np.full((size, size), br)])
    return np.vstack([bottom, top]).astype(np.float32)  # FITS row 0 is the bottom


def test_info_fields(client, make_fits):
    make_fits("sky.fits", width=300, height=200, header={"OBJECT": "M31"})
    r = client.get("/api", params={"FIF": "sky.fits", "INFO": ""})
    assert r.status_code == 200, r.text
    info = r.json()
    for field in ("type", "version", "image_name", "object_name", "full_size", "tile_size", "tile_levels",
                  "channels", "bits_per_channel", "brightness", "contrast", "color_saturation", "gamma",
                  "quality", "header", "images", "cache_tag"):
        assert field in info, field
    assert info["type"] == "visiomatic" and info["object_name"] == "M31"
    assert info["full_size"] == [300, 200] and info["tile_size"] == [256, 256] and info["tile_levels"] == 2
    assert info["header"]["CTYPE1"] == "RA---TAN" and info["header"]["NAXIS1"] == 300
    image = info["images"][0]
    for field in ("size", "dataslice", "detslice", "background_level", "background_mad", "min_max", "header"):
        assert field in image, field
    assert abs(image["background_level"][0] - 100) < 1 and 2 < image["background_mad"][0] < 5
    # The first view's cuts are zscale's (the sky mid-grey, as DS9 and Aladin users expect).
    assert image["min_max"][0] == info["cuts"][0]["zscale"] == info["cuts"][0]["default"]
    json.dumps(info, allow_nan=False)


def test_obj_iip_header(client, make_fits):
    make_fits("sky.fits", width=1000, height=300)
    r = client.get("/api?FIF=sky.fits&obj=IIP,1.0")
    assert r.status_code == 200
    lines = r.text.splitlines()
    assert lines[:5] == ["IIP:1.0", "Max-size:1000 300", "Tile-size:256 256", "Resolution-number:3",
                         "Bits-per-channel:32"]
    assert lines[5].startswith("Min-Max-sample-values:")


@pytest.mark.parametrize("bitpix,bscale,bzero,dtype", [
    (8, 1.0, 0.0, np.uint8),
    (16, 1.0, 0.0, np.int16),
    (16, 1.0, 32768.0, np.int16),  # unsigned 16-bit
    (16, 0.5, 100.0, np.int16),
    (32, 2.0, -5.0, np.int32),
    (64, 1.0, 0.0, np.int64),
    (-32, 1.0, 0.0, np.float32),
    (-64, 1.0, 0.0, np.float64),
])
def test_bitpix_scaling_and_values(client, make_fits, data_dir, bitpix, bscale, bzero, dtype):
    rng = np.random.default_rng(bitpix + 100)
    raw = rng.integers(0, 200, (70, 90)).astype(dtype)
    hdu = fits.PrimaryHDU(raw)
    if (bscale, bzero) != (1.0, 0.0):
        hdu.header["BSCALE"], hdu.header["BZERO"] = bscale, bzero
    hdu.writeto(data_dir / "b.fits", output_verify="silentfix")
    truth = fits.getdata(data_dir / "b.fits").astype(np.float64)  # astropy applies the scaling
    assert fits.getheader(data_dir / "b.fits")["BITPIX"] == bitpix
    for x, y in [(1, 1), (90, 70), (45, 12), (3, 69)]:
        r = client.get("/api", params={"FIF": "b.fits", "VAL": f"{x},{y}"})
        assert r.status_code == 200, r.text
        assert r.json()["values"][0] == pytest.approx(truth[y - 1, x - 1], rel=1e-6)
    tile = client.get("/api", params={"FIF": "b.fits", "JTL": "0,0"})
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    assert decode(tile.content).shape == (70, 90)


def test_blank_and_nan_are_null_and_in_the_blank_colour(client, data_dir):
    raw = np.full((64, 64), 500, np.int16)
    raw[0, 0] = -32768
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BLANK"] = -32768
    hdu.writeto(data_dir / "blank.fits")
    r = client.get("/api", params={"FIF": "blank.fits", "VAL": "1,1"})
    assert r.json() == {"values": [None]}
    assert client.get("/api", params={"FIF": "blank.fits", "VAL": "2,1"}).json() == {"values": [500.0]}
    data = np.full((64, 64), 50.0, np.float32)
    data[:, :32] = np.nan
    fits.PrimaryHDU(data).writeto(data_dir / "nan.fits")
    r = client.get("/api", params={"FIF": "nan.fits", "JTL": "0,0", "MINMAX": "1:0,100", "GAM": "1",
                                   "QLT": "100", "INV": ""})
    pixels = decode(r.content)
    # NaN in the server's blank colour (blank_color 3a5a7a), even inverted: no data is not low data.
    assert pixels.ndim == 3 and np.abs(pixels[:, :28].reshape(-1, 3).mean(axis=0) - (0x3A, 0x5A, 0x7A)).max() <= 3
    assert np.abs(pixels[:, 36:].astype(int) - (255 - 127)).max() <= 3
    for colour, expected in (("000000", (0, 0, 0)), ("#ffffff", (255, 255, 255)), ("ff0000", (255, 0, 0))):
        pixels = decode(client.get("/api", params={"FIF": "nan.fits", "JTL": "0,0", "QLT": "100",
                                                   "NAN": colour}).content)
        blank = pixels[:, :28].reshape(-1, pixels.shape[-1]) if pixels.ndim == 3 else pixels[:, :28].reshape(-1, 1)
        assert np.abs(blank.mean(axis=0) - expected[:blank.shape[1]]).max() <= 3, colour
    for bad in ("red", "12345", "gg0000", "ff00001"):
        r = client.get("/api", params={"FIF": "nan.fits", "JTL": "0,0", "NAN": bad})
        assert r.status_code == 422 and "NAN must be a colour" in r.text


def test_tile_geometry_levels_edges_and_orientation(client_for, make_fits):
    client = client_for(tile_size=64)
    data = sky(300, 200)
    data[100:, :] += 1000  # the upper half in FITS (high y) is bright: it must come out at the top
    make_fits("g.fits", data)
    info = client.get("/api", params={"FIF": "g.fits", "INFO": ""}).json()
    assert info["tile_levels"] == 4
    expected = {3: (300, 200), 2: (150, 100), 1: (75, 50), 0: (37, 25)}  # floor(size / 2^k), as IIP
    for z, (w, h) in expected.items():
        cols, rows = -(-w // 64), -(-h // 64)
        last = client.get("/api", params={"FIF": "g.fits", "JTL": f"{z},{cols * rows - 1}", "QLT": "100"})
        assert last.status_code == 200
        assert decode(last.content).shape == (h - 64 * (rows - 1), w - 64 * (cols - 1))  # cropped, not padded
        beyond = client.get("/api", params={"FIF": "g.fits", "JTL": f"{z},{cols * rows}"})
        assert beyond.status_code == 404
    assert client.get("/api", params={"FIF": "g.fits", "JTL": "4,0"}).status_code == 404
    top = decode(client.get("/api", params={"FIF": "g.fits", "JTL": "3,0", "MINMAX": "1:0,1200"}).content)
    bottom = decode(client.get("/api", params={"FIF": "g.fits", "JTL": "3,15", "MINMAX": "1:0,1200"}).content)
    assert top.mean() > bottom.mean() + 50


@pytest.mark.parametrize("params,expected", [
    ({}, 63),                                  # 255.49 * 0.25
    ({"GAM": "2"}, 127),                       # 255.49 * 0.25**(1/2)
    ({"CNT": "2"}, 127),                       # 255.49 * 0.5
    ({"BRT": "10"}, 89),                       # 255.49 * (0.25 + 0.1)
    ({"CNT": "2", "BRT": "-10"}, 76),          # 255.49 * (0.5 - 0.2)
    ({"INV": ""}, 192),                        # 255 - 63
    ({"GAM": "0.5"}, 15),                      # 255.49 * 0.25**2
    ({"CNT": "10"}, 255),                      # clipped at 1
    ({"BRT": "-50"}, 0),                       # clipped at 0
])
def test_mono_formula_known_values(client_for, make_fits, params, expected):
    client = client_for(tile_size=64)
    make_fits("q.fits", quadrants((25.0, 0.0, 0.0, 0.0)), wcs=False)
    query = {"FIF": "q.fits", "JTL": "1,0", "MINMAX": "1:0,100", "GAM": "1", "QLT": "100", **params}
    r = client.get("/api", params=query)
    assert r.status_code == 200, r.text
    pixels = decode(r.content)
    assert pixels.ndim == 2  # a grey tile is a one-channel JPEG
    assert abs(int(round(pixels.mean())) - expected) <= 1


def test_requests_do_not_affect_each_other(client, make_fits):
    make_fits("s.fits", width=256, height=256)
    plain = client.get("/api", params={"FIF": "s.fits", "JTL": "0,0"}).content
    client.get("/api", params={"FIF": "s.fits", "JTL": "0,0", "CNT": "5", "GAM": "0.5", "MINMAX": "1:0,10", "INV": ""})
    client.get("/api", params={"FIF": "s.fits", "JTL": "0,0", "CMP": "viridis", "QLT": "10"})
    again = client.get("/api", params={"FIF": "s.fits", "JTL": "0,0", "Q": "fresh"}).content
    assert np.array_equal(decode(plain), decode(again))


@pytest.mark.parametrize("query,status,param", [
    ("INFO", 422, "FIF"),
    ("FIF=&INFO", 422, "FIF"),
    ("FIF=../etc/passwd&INFO", 403, "FIF"),
    ("FIF=/etc/passwd&INFO", 403, "FIF"),
    ("FIF=sub/../../x.fits&INFO", 403, "FIF"),
    ("FIF=nope.fits&INFO", 404, "FIF"),
    ("FIF=garbage.fits&INFO", 415, "FIF"),
    ("FIF=s.fits&JTL=abc", 422, "JTL"),
    ("FIF=s.fits&JTL=0,-1", 422, "JTL"),
    ("FIF=s.fits&JTL=0,99", 404, "JTL"),
    ("FIF=s.fits&JTL=0,0&CNT=-1", 422, "CNT"),
    ("FIF=s.fits&JTL=0,0&CNT=nan", 422, "CNT"),
    ("FIF=s.fits&JTL=0,0&GAM=9", 422, "GAM"),
    ("FIF=s.fits&JTL=0,0&BRT=1e400", 422, "BRT"),
    ("FIF=s.fits&JTL=0,0&QLT=500", 422, "QLT"),
    ("FIF=s.fits&JTL=0,0&CMP=rainbowz", 422, "CMP"),
    ("FIF=s.fits&JTL=0,0&CHAN=2", 422, "CHAN"),
    ("FIF=s.fits&JTL=0,0&CHAN=0", 422, "CHAN"),
    ("FIF=s.fits&JTL=0,0&MINMAX=1:5", 422, "MINMAX"),
    ("FIF=s.fits&JTL=0,0&JTL=0,0", 422, "JTL"),
    ("FIF=s.fits&VAL=1", 422, "VAL"),
    ("FIF=s.fits", 422, "FIF"),
])
def test_errors(client, make_fits, data_dir, query, status, param):
    make_fits("s.fits", width=100, height=100)
    (data_dir / "garbage.fits").write_bytes(b"SIMPLE  = this is not a FITS file" * 100)
    r = client.get("/api?" + query)
    assert r.status_code == status, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["query", param] and detail["msg"]
    assert str(data_dir) not in r.text and "Traceback" not in r.text and "/tmp" not in r.text


def test_server_keeps_serving_after_errors(client, make_fits, cache_dir, data_dir):
    make_fits("s.fits", width=100, height=100)
    (data_dir / "empty.fits").write_bytes(b"")
    for query in ("FIF=empty.fits&INFO", "FIF=s.fits&JTL=zz", "FIF=..&INFO"):
        assert 400 <= client.get("/api?" + query).status_code < 500
    assert client.get("/api?FIF=s.fits&JTL=0,0").status_code == 200
    wait_for(lambda: list((cache_dir / "entries").iterdir()), "the build to finish")  # built in the background
    assert list((cache_dir / "tmp").iterdir()) == []  # failed builds leave nothing behind


def test_banner_and_viewer_page(client):
    assert "tileserver" in client.get("/api").text
    page = client.get("/", params={"image": "x.fits"})
    assert page.status_code == 200 and "/leaflet/leaflet.css" in page.text and '"x.fits"' in page.text
    assert client.get("/leaflet/leaflet-src.esm.js").status_code == 200
    assert client.get("/client/js/main.js").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
