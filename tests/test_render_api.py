"""Rendering through the API: mono and colour modes, MIX/CTW, colormaps, stretches, IIP aliases, quality."""

from __future__ import annotations

import numpy as np
import pytest

from tileserver.display.colormaps import COLORMAPS, colormap_table
from tileserver.display.render import STRETCHES, render_mono

from support.images import decode


@pytest.fixture
def cube(make_fits):
    """3 channels of 64x64, each a constant: 10, 50, 90."""
    data = np.stack([np.full((64, 64), v, np.float32) for v in (10.0, 50.0, 90.0)])
    make_fits("cube.fits", data, wcs=False)
    return data


def tile(client, **params):
    r = client.get("/api", params={"FIF": "cube.fits", "JTL": "0,0", "QLT": "100", "GAM": "1", **params})
    assert r.status_code == 200, r.text
    return decode(r.content)


def test_info_of_a_cube(client, cube):
    info = client.get("/api", params={"FIF": "cube.fits", "INFO": ""}).json()
    assert info["channels"] == 3 and len(info["cuts"]) == 3 and len(info["images"][0]["min_max"]) == 3
    assert np.array(info["default_mix"]).shape == (3, 3)


@pytest.mark.parametrize("channel,value", [(1, 10), (2, 50), (3, 90)])
def test_mono_channel_selects_the_plane(client, cube, channel, value):
    pixels = tile(client, CHAN=channel, MINMAX=f"{channel}:0,100")
    assert pixels.ndim == 2 and abs(pixels.mean() - 255.49 * value / 100) <= 1.5


def test_colour_mode_with_mix(client, cube):
    # Channel 1 -> red only, channel 3 -> blue only, channel 2 -> nothing.
    mix = ["1:1,0,0", "2:0,0,0", "3:0,0,1"]
    cuts = ["1:0,100", "2:0,100", "3:0,100"]
    pixels = tile(client, MIX=mix, MINMAX=cuts)
    assert pixels.shape == (64, 64, 3)
    r, g, b = (pixels[..., k].mean() for k in range(3))
    assert abs(r - 25.5) <= 3 and g <= 3 and abs(b - 229.9) <= 3


def test_mix_interpolates_unlisted_channels(client, cube):
    # Only channels 1 and 3 given: channel 2 gets the mean of their weights.
    pixels = tile(client, MIX=["1:0,0,0", "3:0,2,0"], MINMAX=["1:0,100", "2:0,100", "3:0,100"], SAT="1")
    green = pixels[..., 1].mean()
    expected = 255.49 * min(1.0, 0.5 * 1.0 * 0.5 + 0.9 * 2.0)  # ch2 (0.5) x weight 1 + ch3 (0.9) x 2, clipped
    assert abs(green - expected) <= 3


def test_ctw_colour_twist_as_visiomatic_client_sends_it(client, cube):
    pixels = tile(client, CTW="0,0,1;0,1,0;1,0,0", MINMAX=["1:0,100", "2:0,100", "3:0,100"])
    r, g, b = (pixels[..., k].mean() for k in range(3))
    assert abs(r - 229.9) <= 3 and abs(g - 127.7) <= 3 and abs(b - 25.5) <= 3
    bad = client.get("/api", params={"FIF": "cube.fits", "JTL": "0,0", "CTW": "1,0;0,1;1,0"})
    assert bad.status_code == 422


def test_channel_errors(client, cube):
    for params in ({"CHAN": "4"}, {"MIX": "4:1,1,1"}, {"MINMAX": "9:0,1"}):
        r = client.get("/api", params={"FIF": "cube.fits", "JTL": "0,0", **params})
        assert r.status_code == 422, params


@pytest.mark.parametrize("cmap", [c for c in COLORMAPS if c != "grey"])
def test_colormaps_through_the_api(client, make_fits, cmap):
    ramp = np.tile(np.linspace(0, 100, 64, dtype=np.float32), (64, 1))
    make_fits("ramp.fits", ramp, wcs=False)
    r = client.get("/api", params={"FIF": "ramp.fits", "JTL": "0,0", "CMP": cmap, "MINMAX": "1:0,100",
                                   "GAM": "1", "QLT": "100"})
    pixels = decode(r.content).astype(int)
    table = colormap_table(cmap).astype(int)
    assert pixels.shape == (64, 64, 3)
    # Left and right ends of the ramp show the table's first and last colours (JPEG chroma tolerance).
    assert np.abs(pixels[32, 1] - table[0]).max() <= 24
    assert np.abs(pixels[32, -2] - table[255]).max() <= 24


@pytest.mark.parametrize("stretch", STRETCHES)
def test_stretches_through_the_api(client, make_fits, stretch):
    data = np.tile(np.linspace(0, 100, 64, dtype=np.float32), (64, 1))
    make_fits("ramp.fits", data, wcs=False)
    info = client.get("/api", params={"FIF": "ramp.fits", "INFO": ""}).json()
    r = client.get("/api", params={"FIF": "ramp.fits", "JTL": "0,0", "STR": stretch, "MINMAX": "1:0,100",
                                   "GAM": "1", "QLT": "100"})
    got = decode(r.content).astype(int)
    expected = render_mono(data[::-1].copy(), 0, 100, gamma=1.0, stretch=stretch,
                           histogram=info["histograms"][0]).astype(int)
    assert np.abs(got - expected).max() <= 3


def test_iip_aliases(client, make_fits):
    data = np.tile(np.linspace(0, 100, 64, dtype=np.float32), (64, 1))
    make_fits("ramp.fits", data, wcs=False)
    base = {"FIF": "ramp.fits", "JTL": "0,0", "MINMAX": "1:0,100", "QLT": "100"}
    log_alias = decode(client.get("/api", params={**base, "GAM": "log"}).content)
    log_named = decode(client.get("/api", params={**base, "STR": "log"}).content)  # at the default gamma
    assert np.abs(log_alias.astype(int) - log_named.astype(int)).max() <= 1
    eq_alias = decode(client.get("/api", params={**base, "CNT": "eq"}).content)
    eq_named = decode(client.get("/api", params={**base, "STR": "histeq"}).content)
    assert np.array_equal(eq_alias, eq_named)
    st = client.get("/api", params={"FIF": "ramp.fits", "JTL": "0,0", "CNT": "st", "GAM": "1", "QLT": "100"})
    pixels = decode(st.content)
    assert pixels.min() <= 2 and pixels.max() >= 252  # the full min..max range


def test_quality_changes_the_bytes(client, make_fits):
    make_fits("s.fits", width=256, height=256)
    sizes = [len(client.get("/api", params={"FIF": "s.fits", "JTL": "0,0", "QLT": q}).content) for q in (10, 50, 95)]
    assert sizes[0] < sizes[1] < sizes[2]
