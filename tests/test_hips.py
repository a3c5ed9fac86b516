"""HiPS: tile pixels land where astropy and astropy-healpix put them (TAN, SIP-distorted, galactic), the CDS tile
layout, properties, MOC, Allsky, 404s outside the footprint and for images without a sky, CORS on every answer."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
import simplejpeg
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from astropy_healpix import lonlat_to_healpix
from mocpy import MOC

from tileserver.sky import healpix

SCALE = 1.0 / 3600  # degrees per image pixel: HiPS order 9 with 512-pixel tiles (0.8" cells)
SIZE = 300
SOURCES = [(40, 60), (150, 150), (262, 231), (75, 250)]  # 0-based image pixels (x, y up) of bright 3x3 sources
BRIGHT = 10_000.0

WCS_KINDS = {
    "tan": {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 210.5, "CRVAL2": 54.3, "RADESYS": "ICRS"},
    # A strong SIP distortion: 1e-4 * 150^2 = 2.2 pixels at the edges, far more than the tolerance.
    "sip": {"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "CRVAL1": 33.0, "CRVAL2": -20.0,
            "RADESYS": "ICRS", "A_ORDER": 2, "B_ORDER": 2, "A_2_0": 1e-4, "A_0_2": -5e-5, "B_1_1": 8e-5},
    # TPV polynomials (wcslib's): 0.5 x^2 with x = 0.04 degree is 2.9 pixels at the edges.
    "tpv": {"CTYPE1": "RA---TPV", "CTYPE2": "DEC--TPV", "CRVAL1": 300.0, "CRVAL2": 70.0, "RADESYS": "ICRS",
            "PV1_1": 1.0, "PV2_1": 1.0, "PV1_4": 0.5, "PV2_4": -0.4},
    "galactic": {"CTYPE1": "GLON-TAN", "CTYPE2": "GLAT-TAN", "CRVAL1": 120.0, "CRVAL2": 30.0},
}


def sky_fits(make_fits: Callable[..., Any], name: str, kind: str, scale: float = SCALE) -> WCS:
    data = np.random.default_rng(3).normal(100.0, 3.0, (SIZE, SIZE)).astype(np.float32)
    for x, y in SOURCES:
        data[y - 1:y + 2, x - 1:x + 2] = BRIGHT
    header = {"CRPIX1": SIZE / 2 + 0.5, "CRPIX2": SIZE / 2 + 0.5, "CD1_1": -scale, "CD1_2": 0.0, "CD2_1": 0.0,
              "CD2_2": scale, **WCS_KINDS[kind]}
    path = make_fits(name, data, header=header, wcs=False)
    return WCS(fits.getheader(path))


def properties(client: Any, ident: str) -> dict[str, str]:
    answer = client.get(f"/hips/{quote(ident, safe='')}/properties")
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    rows = [line.split("=", 1) for line in answer.text.splitlines() if "=" in line]
    return {k.strip(): v.strip() for k, v in rows}


def tile_url(ident: str, order: int, npix: int, ext: str) -> str:
    return f"/hips/{quote(ident, safe='')}/Norder{order}/Dir{npix // 10000 * 10000}/Npix{npix}.{ext}"


def test_tile_layout_is_the_cds_one() -> None:
    # hipsgen's xy2hpx table for a 4 x 4 tile, as a FITS tile stores it (first row first): the sub-index of
    # nested cell at each pixel. Written out from the CDS tools' convention, not computed by our code.
    expected = [[5, 7, 13, 15], [4, 6, 12, 14], [1, 3, 9, 11], [0, 2, 8, 10]]
    assert healpix.tile_layout(2).tolist() == expected
    layout = healpix.tile_layout(9)
    assert sorted(layout.ravel().tolist()) == list(range(512 * 512))  # every cell once


@pytest.mark.parametrize("kind", sorted(WCS_KINDS))
def test_sources_land_where_astropy_puts_them(kind: str, make_fits: Callable[..., Any], client: Any) -> None:
    wcs = sky_fits(make_fits, f"{kind}.fits", kind)
    props = properties(client, f"{kind}.fits")
    order, width = int(props["hips_order"]), int(props["hips_tile_width"])
    assert (order, width, props["hips_frame"], props["hips_tile_format"]) == (9, 512, "equatorial", "jpeg fits")
    shift = width.bit_length() - 1
    lon, lat = wcs.all_pix2world([x for x, _ in SOURCES], [y for _, y in SOURCES], 0)  # SIP included
    icrs = SkyCoord(lon * u.deg, lat * u.deg, frame=wcs.celestial.wcs.radesys.lower() or "galactic").icrs
    cells = lonlat_to_healpix(icrs.ra, icrs.dec, 1 << (order + shift), order="nested")
    for cell in np.asarray(cells):
        npix, sub = int(cell) >> (2 * shift), int(cell) & ((1 << 2 * shift) - 1)
        answer = client.get(tile_url(f"{kind}.fits", order, npix, "fits"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/fits"
        data = fits.getdata(io.BytesIO(answer.content))
        assert data.shape == (width, width) and data.dtype == np.dtype(">f4")
        row, col = (int(v[0]) for v in np.nonzero(healpix.tile_layout(shift) == sub))
        # The source's centre: the centroid of the bright tile pixels around the expected one.
        r0, c0 = max(0, row - 8), max(0, col - 8)
        window = data[r0:row + 9, c0:col + 9]
        bright = np.argwhere(window > BRIGHT / 2)
        assert len(bright), f"{kind}: no bright pixel near tile {npix} pixel {row},{col}"
        centre = bright.mean(axis=0) + (r0, c0)
        assert np.hypot(*(centre - (row, col))) <= 1.0, (kind, centre, (row, col))
        jpeg = simplejpeg.decode_jpeg(client.get(tile_url(f"{kind}.fits", order, npix, "jpg")).content,
                                      colorspace="GRAY")[:, :, 0]
        assert jpeg[width - 1 - row, col] > 200  # the same place, rows top first


def test_properties_moc_and_allsky(make_fits: Callable[..., Any], client: Any) -> None:
    wcs = sky_fits(make_fits, "sub dir/tan #1.fits", "tan")
    ident = "sub dir/tan #1.fits"
    props = properties(client, ident)
    for key in ("creator_did", "obs_title", "hips_release_date", "hips_status", "hips_pixel_cut", "moc_sky_fraction",
                "hips_order_min", "hips_pixel_bitpix"):
        assert props[key], key
    assert props["dataproduct_type"] == "image" and props["hips_version"] == "1.4"
    ra, dec = wcs.all_pix2world([(SIZE - 1) / 2], [(SIZE - 1) / 2], 0)
    assert abs(float(props["hips_initial_ra"]) - ra[0]) < 1e-6 and abs(float(props["hips_initial_dec"]) - dec[0]) < 1e-6
    assert SIZE * SCALE < float(props["hips_initial_fov"]) < 4 * SIZE * SCALE
    lo, hi = (float(v) for v in props["hips_pixel_cut"].split())
    assert lo < 100 < hi

    answer = client.get(f"/hips/{quote(ident, safe='')}/Moc.fits")
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
    moc = MOC.from_fits(io.BytesIO(answer.content))
    assert moc.contains_lonlat(ra * u.deg, dec * u.deg)[0]
    far = SkyCoord(ra[0] * u.deg, dec[0] * u.deg).directional_offset_by(0 * u.deg, 0.2 * u.deg)
    assert not moc.contains_skycoords(far)
    area = SIZE * SIZE * SCALE**2 / (4 * np.pi * np.degrees(1) ** 2)
    assert area < float(props["moc_sky_fraction"]) < 3 * area  # the outline, to 1/16 of a tile

    # The Allsky preview has 7' pixels: it shows a wide image (5 degrees), not this one.
    wide = sky_fits(make_fits, "wide.fits", "tan", scale=60 * SCALE)
    ident = "wide.fits"
    ra, dec = wide.all_pix2world([(SIZE - 1) / 2], [(SIZE - 1) / 2], 0)
    answer = client.get(f"/hips/{quote(ident, safe='')}/Norder3/Allsky.jpg")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    allsky = simplejpeg.decode_jpeg(answer.content, colorspace="GRAY")[:, :, 0]
    per_row, rows = healpix.allsky_grid()
    assert allsky.shape == (rows * 64, per_row * 64) == (29 * 64, 27 * 64)
    npix = int(lonlat_to_healpix(ra[0] * u.deg, dec[0] * u.deg, 8, order="nested"))
    row, col = divmod(npix, per_row)
    assert allsky[row * 64:(row + 1) * 64, col * 64:(col + 1) * 64].max() > 0  # the image, in its order-3 tile
    assert allsky[:64, :64].max() == 0 or npix == 0
    fits_allsky = fits.getdata(io.BytesIO(client.get(f"/hips/{quote(ident, safe='')}/Norder3/Allsky.fits").content))
    assert fits_allsky.shape == allsky.shape
    flipped = fits_allsky[::-1][row * 64:(row + 1) * 64, col * 64:(col + 1) * 64]
    assert np.isfinite(flipped).any()


def test_outside_footprint_and_bad_names(make_fits: Callable[..., Any], client: Any) -> None:
    sky_fits(make_fits, "tan.fits", "tan")
    props = properties(client, "tan.fits")
    assert properties(client, "tan.fits[0]")["hips_order"] == props["hips_order"]  # a selector is part of the id
    order = int(props["hips_order"])
    cell = int(lonlat_to_healpix(30 * u.deg, -60 * u.deg, 1 << order, order="nested"))  # far from the image
    cases = {
        tile_url("tan.fits", order, cell, "jpg"): 404,
        tile_url("tan.fits", order + 1, cell, "jpg"): 404,  # deeper than the HiPS
        tile_url("tan.fits", 2, 12 * 16, "jpg"): 404,  # no such cell
        "/hips/tan.fits/Norder9/Dir10000/Npix5.jpg": 404,  # the wrong folder
        "/hips/tan.fits/Norder9/Dir0/Npix5.png": 404,
        "/hips/tan.fits/nothing": 404,
        "/hips/missing.fits/properties": 404,
        "/hips/..%2Fsecret.fits/properties": 403,
        "/hips/%2Fetc%2Fpasswd/properties": 403,
        "/hips/tan.fits%ff/properties": 422,  # not UTF-8
        "/hips//properties": 404,
    }
    for url, status in cases.items():
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.text)
        assert answer.headers["access-control-allow-origin"] == "*", url
        assert answer.json()["detail"][0]["msg"], url
        assert "/tmp" not in answer.text and "Traceback" not in answer.text


def test_an_image_without_a_sky_has_no_hips(make_fits: Callable[..., Any], client: Any) -> None:
    make_fits("plain.fits", wcs=False, width=100, height=80)
    for path in ("properties", "Moc.fits", "Norder3/Allsky.jpg", "Norder0/Dir0/Npix0.jpg"):
        answer = client.get(f"/hips/plain.fits/{path}")
        assert answer.status_code == 404
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "no celestial WCS" in answer.json()["detail"][0]["msg"]


def test_tiles_are_cached_with_etags(make_fits: Callable[..., Any], client: Any) -> None:
    wcs = sky_fits(make_fits, "tan.fits", "tan")
    ra, dec = wcs.all_pix2world([150], [150], 0)
    npix = int(lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << 9, order="nested")[0])
    url = tile_url("tan.fits", 9, npix, "jpg")
    first = client.get(url)
    assert first.status_code == 200 and first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["access-control-allow-origin"] == "*"
    assert client.get(url).content == first.content
    redirect = client.get("/hips/tan.fits/", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/aladin?image=tan.fits"


def test_access_rules_apply(make_fits: Callable[..., Any], client_for: Callable[..., Any], tmp_path: Path) -> None:
    wcs = sky_fits(make_fits, "private/mine.fits", "tan")
    rules = tmp_path / "access.conf"
    rules.write_text("[folders]\nprivate = alice\n", encoding="utf-8")
    secret = tmp_path / "secret"
    secret.write_text("a-shared-secret-of-enough-length-0123\n", encoding="utf-8")
    client = client_for(address="10.0.0.1", access_file=str(rules), trusted_proxies="10.0.0.1",
                        proxy_secret_file=str(secret))
    alice = {"X-Remote-User": "alice", "X-Tileserver-Proxy-Secret": "a-shared-secret-of-enough-length-0123"}
    url = f"/hips/{quote('private/mine.fits', safe='')}/properties"
    for headers in ({}, {**alice, "X-Remote-User": "bob"}):
        refused = client.get(url, headers=headers)
        assert refused.status_code == 403 and refused.headers["access-control-allow-origin"] == "*"
    allowed = client.get(url, headers=alice)
    assert allowed.status_code == 200
    assert allowed.headers["cache-control"].startswith("private")  # never kept by a shared proxy cache
    order = int(allowed.text.split("hips_order ")[1].split("=")[1].split()[0])
    ra, dec = wcs.all_pix2world([150], [150], 0)
    npix = int(lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << order, order="nested")[0])
    tile = tile_url("private/mine.fits", order, npix, "jpg")
    assert client.get(tile, headers=alice).status_code == 200
    assert client.get(tile).status_code == 403  # the memory cache answers nobody else


PIECES = ["properties", "Moc.fits", "Norder3", "Allsky.jpg", "Allsky.fits", "Norder9", "Dir0", "Npix0.jpg",
          "Npix99999999999999999999.fits", "..", "%2e%2e", "%00", "%ff", "tan.fits", "tan.fits%5B0%5D", "", "x" * 300]


def test_generated_hips_paths_never_fail_the_server(make_fits: Callable[..., Any], client: Any) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sky_fits(make_fits, "tan.fits", "tan")
    segment = st.one_of(st.sampled_from(PIECES), st.text(max_size=12).map(lambda t: quote(t, safe="")))

    @settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(segment, min_size=1, max_size=5))
    def check(parts: list[str]) -> None:
        answer = client.get("/hips/" + "/".join(parts), follow_redirects=False)
        assert answer.status_code < 500, (parts, answer.text)
        if answer.request.url.raw_path.startswith(b"/hips/"):  # not a ".." the client resolved away
            assert answer.headers.get("access-control-allow-origin") == "*", (answer.request.url, answer.text)

    check()


def test_a_full_queue_answers_503(make_fits: Callable[..., Any], client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tileserver.sky import service

    sky_fits(make_fits, "tan.fits", "tan")
    monkeypatch.setattr(service, "QUEUE_PER_SLOT", 0)  # as if every slot had its full queue of tiles waiting
    answer = client.get("/hips/tan.fits/Norder3/Allsky.jpg")
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "busy" in answer.json()["detail"][0]["msg"]
    monkeypatch.setattr(service, "QUEUE_PER_SLOT", 32)
    assert client.get("/hips/tan.fits/Norder3/Allsky.jpg").status_code == 200  # nothing was left held


BROKEN_WCS = {
    "singular": {"CD1_1": 0.0, "CD2_2": 0.0},
    "unknown projection": {"CTYPE1": "RA---XYZ", "CTYPE2": "DEC--XYZ"},
    "one axis": {"CTYPE2": "LINEAR"},
    "latitude past the pole": {"CRVAL2": 95.0},
    "huge pixels": {"CD1_1": -90.0, "CD2_2": 90.0},
    "not a number": {"CRVAL1": "abc"},
}


@pytest.mark.parametrize("name", sorted(BROKEN_WCS))
def test_broken_wcs_is_a_clear_404(name: str, make_fits: Callable[..., Any], client: Any) -> None:
    make_fits("broken.fits", width=64, height=48, header=BROKEN_WCS[name])
    answer = client.get("/hips/broken.fits/properties")
    assert answer.status_code in (200, 404), answer.text
    if answer.status_code == 404:
        assert "WCS" in answer.json()["detail"][0]["msg"] or "frame" in answer.json()["detail"][0]["msg"]
    else:  # a WCS astropy accepts: the HiPS answers its files
        for path in ("Moc.fits", "Norder3/Allsky.jpg", "Norder0/Dir0/Npix0.fits"):
            assert client.get(f"/hips/broken.fits/{path}").status_code in (200, 404)
