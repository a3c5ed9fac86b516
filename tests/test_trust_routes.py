"""Regression tests of the routes added after the outside audit (IIIF, HiPS, the measuring tools, SAMP), attacked
as the audit attacked /api (doc/security.rst): cost follows channels and the memory budget, parsers open nothing,
the door and the access rules apply exactly as to /api, and no open CORS lets another site read a private image."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from support.images import sky

SECRET = "a-secret-shared-with-the-proxy-0123"


def detail(r: Any) -> dict[str, Any]:
    return r.json()["detail"][0]


def assert_clean_4xx(r: Any, status: int, *secrets: str) -> None:
    assert r.status_code == status, r.text
    assert detail(r)["msg"] and "Traceback" not in r.text
    for secret in secrets:
        assert secret not in r.text


TAN = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 64.5, "CRPIX2": 64.5, "CRVAL1": 150.0, "CRVAL2": 2.0,
       "CDELT1": -2e-4, "CDELT2": 2e-4, "RADESYS": "ICRS"}


# -- cost follows channels, on every route that reads pixels --------------------------------------------------------

def test_a_tool_on_one_channel_of_a_cube_reads_that_channel_alone(client_for, cube256, data_dir):
    """Region statistics, the pixel table and contours measure the channel shown (CHAN): they read it alone, so a
    256-channel cube costs what one image does, where a region of /api (every channel) is refused. The limits still
    count that channel's tiles and bytes."""
    cube = fits.getdata(data_dir / cube256)
    client = client_for(tile_size=64, max_region_tile_count=4, max_request_bytes=2**20)
    api = client.get("/api", params={"FIF": cube256, "RGN": "1,1:128,128", "CVT": "fits"})
    assert api.status_code == 413  # 4 tiles x 256 channels
    r = client.get("/analysis/stats", params={"FIF": cube256, "shape": "box:1,1,128,128", "CHAN": "200"})
    assert r.status_code == 200, r.text
    assert r.json()["channel"] == 200 and r.json()["mean"] == pytest.approx(float(cube[199].mean()), rel=1e-5)
    table = client.get("/analysis/pixels", params={"FIF": cube256, "x": "5", "y": "7", "r": "1", "CHAN": "37"})
    assert table.status_code == 200, table.text
    assert table.json()["values"][1][1] == pytest.approx(float(cube[36, 6, 4]))  # FITS x 5, y 7: row 6, column 4
    lines = client.get("/analysis/contours", params={"FIF": cube256, "levels": "100", "CHAN": "256"})
    assert lines.status_code == 200 and lines.json()["binning"] == 1  # the full resolution of one channel: 64 kB
    fewer = client_for(tile_size=64, max_region_tile_count=3)
    assert_clean_4xx(fewer.get("/analysis/stats", params={"FIF": cube256, "shape": "box:1,1,128,128"}), 413)
    assert fewer.get("/analysis/stats", params={"FIF": cube256, "shape": "box:1,1,64,64"}).status_code == 200


def test_iiif_answers_of_a_cube_shrink_with_its_channels(client_for, cube256, make_fits):
    make_fits("mono.fits", sky(128, 128), wcs=False)
    client = client_for(tile_size=64, max_region_tile_count=300, max_request_bytes=8 * 2**20)
    mono = client.get("/iiif/3/mono.fits/info.json").json()
    cube = client.get(f"/iiif/3/{cube256}/info.json").json()
    assert cube["maxArea"] < 128 * 128 <= mono["maxArea"]
    for size in ("max", "^max"):
        r = client.get(f"/iiif/3/{cube256}/full/{size}/0/default.png")
        assert r.status_code == 200, r.text
        w, h = Image.open(io.BytesIO(r.content)).size
        assert w * h <= cube["maxArea"]
    assert_clean_4xx(client.get(f"/iiif/3/{cube256}/full/128,128/0/default.png"), 400)
    assert client.get("/iiif/3/mono.fits/full/128,128/0/default.png").status_code == 200


def test_hips_tiles_of_a_cube_are_within_the_budget(client_for, make_fits):
    """A 16-channel cube's order-3 preview resamples 16 x 3.2 million pixels (about 200 MB), more than a 64 MB
    budget: refused before any allocation; its 512 x 512 tiles fit."""
    rng = np.random.default_rng(5)
    make_fits("cube16.fits", rng.normal(100, 5, (16, 128, 128)).astype(np.float32), header=TAN, wcs=False)
    client = client_for(tile_size=64, max_request_bytes=64 * 2**20)
    for fmt in ("jpg", "fits"):
        r = client.get(f"/hips/cube16.fits/Norder3/Allsky.{fmt}")
        assert_clean_4xx(r, 413)
        assert r.headers["access-control-allow-origin"] == "*"
    props = client.get("/hips/cube16.fits/properties").text
    order = int(props.split("hips_order ")[1].split("=")[1].split()[0])
    from astropy import units as u
    from astropy_healpix import HEALPix
    npix = int(HEALPix(1 << order, order="nested").lonlat_to_healpix(150 * u.deg, 2 * u.deg))
    r = client.get(f"/hips/cube16.fits/Norder{order}/Dir{npix // 10000 * 10000}/Npix{npix}.jpg")
    assert r.status_code == 200, r.text


# -- the header viewer ----------------------------------------------------------------------------------------------

def test_the_header_viewer_counts_what_parsing_all_headers_costs(client_for, data_dir):
    """Six HDUs of 2000 cards each: 1 MB of headers, some 15 MB once parsed, over a 4 MB budget."""
    hdus = [fits.PrimaryHDU(np.zeros((4, 4), np.float32))]
    hdus += [fits.ImageHDU(np.zeros((2, 2), np.float32)) for _ in range(5)]
    for hdu in hdus:
        for k in range(2000):
            hdu.header[f"K{k}"] = k
    fits.HDUList(hdus).writeto(data_dir / "cards.fits")
    client = client_for(max_request_bytes=4 * 2**20)
    assert client.get("/api", params={"FIF": "cards.fits", "INFO": ""}).status_code == 200
    assert_clean_4xx(client.get("/analysis/header", params={"FIF": "cards.fits"}), 413, str(data_dir))
    roomy = client_for(max_request_bytes=64 * 2**20)
    assert len(roomy.get("/analysis/header", params={"FIF": "cards.fits"}).json()["hdus"]) == 6


def test_every_measuring_tool_goes_through_the_door(client, make_fits, data_dir, tmp_path):
    outside = tmp_path / "outside.fits"
    fits.PrimaryHDU(sky(16, 16)).writeto(outside)
    (data_dir / "link.fits").symlink_to(outside)
    make_fits(".hidden.fits", width=16, height=16)
    for route, extra in (("header", {}), ("stats", {"shape": "box:1,1,4,4"}), ("contours", {"levels": "1"}),
                         ("pixels", {"x": "2", "y": "2"}), ("colorbar", {})):
        for fif, status in (("../outside.fits", 403), (str(outside), 403), ("link.fits", 404),
                            (".hidden.fits", 404)):
            r = client.get(f"/analysis/{route}", params={"FIF": fif, **extra})
            assert_clean_4xx(r, status, str(tmp_path))


# -- access rules and CORS --------------------------------------------------------------------------------------------

@pytest.fixture
def private(client_for, make_fits, tmp_path) -> Any:
    make_fits("private/p.fits", sky(128, 128), header=TAN, wcs=False)
    rules = tmp_path / "access.conf"
    rules.write_text("[folders]\nprivate = alice\n", encoding="utf-8")
    (tmp_path / "secret").write_text(SECRET + "\n")
    return client_for(address="127.0.0.1", access_file=str(rules), trusted_proxies="127.0.0.1",
                      proxy_secret_file=str(tmp_path / "secret"), cors_origins="https://friend.example.org")


ANALYSIS = [("header", {}), ("stats", {"shape": "box:1,1,4,4"}), ("contours", {"levels": "100"}),
            ("pixels", {"x": "2", "y": "2"}), ("colorbar", {})]


def test_the_measuring_tools_follow_the_access_rules(private):
    alice = {"X-Remote-User": "alice", "X-Tileserver-Proxy-Secret": SECRET}
    bob = {**alice, "X-Remote-User": "bob"}
    for route, extra in ANALYSIS:
        url = f"/analysis/{route}"
        params = {"FIF": "private/p.fits", **extra}
        for headers in ({}, bob):
            assert_clean_4xx(private.get(url, params=params, headers=headers), 403)
        r = private.get(url, params=params, headers=alice)
        assert r.status_code == 200, (route, r.text)
        assert "public" not in r.headers["cache-control"]


def test_open_cors_never_lends_a_users_credentials_to_another_site(private):
    """IIIF and HiPS answer every origin with `*`, but never with credentials: a page elsewhere that makes a
    visitor's browser send their cookies cannot read the answer, and a private answer is never kept by a shared
    cache. The measuring tools keep the API's own CORS rule: only the listed origins."""
    alice = {"X-Remote-User": "alice", "X-Tileserver-Proxy-Secret": SECRET}
    evil = {"Origin": "https://evil.example.com"}
    ident = quote("private/p.fits", safe="")
    for url in (f"/iiif/3/{ident}/info.json", f"/iiif/3/{ident}/full/64,/0/default.jpg",
                f"/hips/{ident}/properties", f"/hips/{ident}/Moc.fits"):
        assert private.get(url, headers=evil).status_code == 403
        r = private.get(url, headers={**alice, **evil})
        assert r.status_code == 200, (url, r.text)
        assert r.headers["access-control-allow-origin"] == "*" and "access-control-allow-credentials" not in r.headers
        assert "public" not in r.headers["cache-control"]
        pre = private.options(url, headers={**evil, "Access-Control-Request-Method": "GET",
                                            "Access-Control-Request-Headers": "authorization"})
        assert "access-control-allow-credentials" not in pre.headers
    for route, extra in ANALYSIS:
        r = private.get(f"/analysis/{route}", params={"FIF": "private/p.fits", **extra}, headers={**alice, **evil})
        assert "access-control-allow-origin" not in r.headers
        friend = private.get(f"/analysis/{route}", params={"FIF": "private/p.fits", **extra},
                             headers={**alice, "Origin": "https://friend.example.org"})
        assert friend.headers["access-control-allow-origin"] == "https://friend.example.org"
        assert "access-control-allow-credentials" not in friend.headers


# -- SAMP -------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"{path}", b"file://{path}"])
def test_a_csv_catalog_opens_nothing(client_for, tmp_path, content):
    """astropy's table reader takes a one-line string for a file name (or URL) to open: a CSV whose only line is a
    path would have the server read that file and send its first line as a column name."""
    extra = tmp_path / "extra"
    extra.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-line\n")
    (extra / "x.csv").write_bytes(content.replace(b"{path}", str(secret).encode()))
    client = client_for(extra_dir=str(extra))
    r = client.get("/samp/votable", params={"path": "x.csv"})
    assert "s3cr3t-line" not in r.text
    assert r.status_code in (200, 415), r.text



# -- one identity per image, on the websocket too --------------------------------------------------------------------

def test_spellings_of_one_image_share_one_watch(client, make_fits):
    """./a.fits and a.fits, a.fits[00] and a.fits[0]: one file each, so one watch each (not one per spelling, a
    cheap way to multiply the server's work); every message names the image as its subscriber spelled it."""
    from starlette.routing import WebSocketRoute

    make_fits("a.fits", width=40, height=30)
    hub = next(r.endpoint.__self__ for r in client.app.routes if isinstance(r, WebSocketRoute))
    spellings = ["a.fits", "./a.fits", "a.fits[0]", "a.fits[00]"]
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        for name in spellings:
            ws.send_json({"type": "subscribe", "image": name})
        ready: set[str] = set()
        while ready != set(spellings):
            message = ws.receive_json()
            assert message["type"] in ("ready", "progress"), message
            if message["type"] == "ready":
                ready.add(message["image"])
        assert sorted(hub.watches) == ["a.fits", "a.fits[0]"]
        ws.send_json({"type": "unsubscribe", "image": "./a.fits"})
        ws.send_json({"type": "unsubscribe", "image": "a.fits[00]"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        assert sorted(hub.watches) == ["a.fits", "a.fits[0]"]
        ws.send_json({"type": "unsubscribe", "image": "a.fits"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
        assert sorted(hub.watches) == ["a.fits[0]"]


def test_region_statistics_count_what_the_shape_test_costs(client_for, make_fits):
    """The shape test works on the whole box in float64 (it held two int64 coordinate grids too): its memory
    counts against the budget, and a polygon's cost (box pixels x corners) is bounded."""
    make_fits("big.fits", sky(2048, 2048), wcs=False)
    client = client_for(max_request_bytes=32 * 2**20)
    box = "box:1,1,1024,1024"  # 4 MB of data, some 40 MB of work
    assert_clean_4xx(client.get("/analysis/stats", params={"FIF": "big.fits", "shape": box}), 413)
    assert client.get("/analysis/stats", params={"FIF": "big.fits", "shape": "box:1,1,512,512"}).status_code == 200
    roomy = client_for()
    t = np.linspace(0, 2 * np.pi, 1000, endpoint=False)
    corners = ",".join(f"{1024 + 1000 * np.cos(a):.1f},{1024 + 1000 * np.sin(a):.1f}" for a in t)
    r = roomy.get("/analysis/stats", params={"FIF": "big.fits", "shape": f"polygon:{corners}"})
    assert_clean_4xx(r, 413)
    assert "corners" in detail(r)["msg"]
