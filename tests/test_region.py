"""Region snapshots (RGN, BIN, CVT), FITS cutouts with their WCS, values and profiles at full precision."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from support.images import sky, tan_header

W, H = 400, 300


@pytest.fixture
def field(make_fits):
    data = sky(W, H, seed=7)
    make_fits("f.fits", data)
    return data


def fits_of(content: bytes):
    with fits.open(io.BytesIO(content)) as hdul:
        return hdul[0].data.copy(), hdul[0].header.copy()


def test_fits_cutout_values_and_wcs(client_for, field):
    client = client_for(tile_size=64)  # the region crosses many tile borders
    x1, y1, x2, y2 = 37, 20, 250, 199  # y from the top
    r = client.get("/api", params={"FIF": "f.fits", "RGN": f"{x1},{y1}:{x2},{y2}", "CVT": "fits"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/fits"
    assert '.fits"' in r.headers["content-disposition"]
    data, header = fits_of(r.content)
    # Display rows y1..y2 from the top are FITS rows H-y2+1 .. H-y1+1 from the bottom.
    expected = field[H - y2: H - y1 + 1, x1 - 1: x2]
    assert data.shape == expected.shape and header["BITPIX"] == -32
    assert np.array_equal(data, expected)  # seamless across tile borders, full precision
    original, cutout = WCS(tan_header(W, H)), WCS(header)
    for cx, cy in [(1, 1), (50, 70), (data.shape[1], data.shape[0])]:
        ox, oy = cx + x1 - 1, cy + (H - y2)  # the same pixel in the original image
        a = original.pixel_to_world_values(ox - 1, oy - 1)
        b = cutout.pixel_to_world_values(cx - 1, cy - 1)
        assert np.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("binning", [2, 3, 4, 6])
def test_binned_cutout_matches_block_means_and_wcs(client_for, field, binning):
    client = client_for(tile_size=64)
    x1, y1, x2, y2 = 1, 1, 240, 240
    r = client.get("/api", params={"FIF": "f.fits", "RGN": f"{x1},{y1}:{x2},{y2}", "BIN": binning,
                                   "CVT": "fits"})
    data, header = fits_of(r.content)
    n = 240 // binning
    top = field[H - 240:, :240][::-1]  # display order, rows from the top
    blocks = top.reshape(n, binning, n, binning).mean(axis=(1, 3))[::-1]
    assert data.shape == (n, n)
    assert np.allclose(data, blocks, rtol=1e-5, atol=1e-3)
    original, cutout = WCS(tan_header(W, H)), WCS(header)
    # The centre of cutout pixel (1,1) is the centre of its binning x binning block in the original.
    ox = (binning + 1) / 2
    oy = (H - 240) + (binning + 1) / 2
    assert np.allclose(original.pixel_to_world_values(ox - 1, oy - 1), cutout.pixel_to_world_values(0, 0),
                       atol=1e-10)


@pytest.mark.parametrize("cvt,fmt", [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_snapshot_formats(client, field, cvt, fmt):
    r = client.get("/api", params={"FIF": "f.fits", "RGN": "1,1:400,300", "BIN": 2, "CVT": cvt})
    assert r.status_code == 200, r.text
    image = Image.open(io.BytesIO(r.content))
    assert image.format == fmt and image.size == (200, 150)


def test_snapshot_equals_tiles_rendering(client_for, field):
    client = client_for(tile_size=64)
    png = client.get("/api", params={"FIF": "f.fits", "RGN": "1,1:128,128", "CVT": "png", "MINMAX": "1:90,200"})
    snap = np.asarray(Image.open(io.BytesIO(png.content)))
    assert snap.shape == (128, 128)
    # The same pixels through the same renderer: the PNG is lossless.
    from tileserver.display.render import render_mono

    expected = render_mono(field[H - 128:, :128][::-1].copy(), 90, 200, gamma=1.0)
    assert np.array_equal(snap, expected)


@pytest.mark.parametrize("params,status", [
    ({"RGN": "0,1:10,10"}, 422),
    ({"RGN": "1,1:401,10"}, 422),
    ({"RGN": "10,10:5,5"}, 422),
    ({"RGN": "1,1:10,10", "BIN": "0"}, 422),
    ({"RGN": "1,1:10,10", "BIN": "2000"}, 422),
    ({"RGN": "1,1:10,10", "CVT": "gif"}, 422),
    ({"RGN": "1,1:10"}, 422),
])
def test_region_errors(client, field, params, status):
    r = client.get("/api", params={"FIF": "f.fits", **params})
    assert r.status_code == status, r.text


def test_region_over_tile_limit_is_413_before_work(client_for, field):
    client = client_for(tile_size=64, max_region_tile_count=4)
    r = client.get("/api", params={"FIF": "f.fits", "RGN": "1,1:400,300"})
    assert r.status_code == 413 and "BIN" in r.json()["detail"][0]["msg"]
    assert client.get("/api", params={"FIF": "f.fits", "RGN": "1,1:400,300", "BIN": 4}).status_code == 200


def test_values_and_profile_at_full_precision(client, field):
    for x, y in [(1, 1), (400, 300), (123, 45)]:
        assert client.get("/api", params={"FIF": "f.fits", "VAL": f"{x},{y}"}).json() == \
            {"values": [float(field[y - 1, x - 1])]}
    assert client.get("/api", params={"FIF": "f.fits", "VAL": "0,5"}).json() == {"values": [None]}
    r = client.get("/api", params={"FIF": "f.fits", "PFL": "10,20:50,20"}).json()["profile"]
    assert len(r) == 41 and r[0]["x"] == 10 and r[-1]["x"] == 50
    assert [p["values"][0] for p in r] == [float(v) for v in field[19, 9:50]]
    diagonal = client.get("/api", params={"FIF": "f.fits", "PFL": "395,295:405,305"}).json()["profile"]
    assert diagonal[0]["values"] == [float(field[294, 394])] and diagonal[-1]["values"] == [None]


def test_profile_length_limit_is_fast_413(client_for, field):
    client = client_for(max_profile_length=1000)
    r = client.get("/api", params={"FIF": "f.fits", "PFL": "1,1:100000000,1"})
    assert r.status_code == 413 and "100000000 points" in r.json()["detail"][0]["msg"]
