"""The web client's WCS library (client/js/wcs/: wcs.js and the modules it reads, coords.js) checked against astropy.

astropy computes the expected values at test time from the FITS headers its own test suite
ships; they go to a JSON file that tests/js/wcs.test.mjs reads under `node --test`.
"""

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import astropy
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales, wcs_to_celestial_frame

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(astropy.__file__).parent / "wcs" / "tests" / "data"

# 1904-66_NCP.hdr is the NCP map written as SIN with PV2_2; the "ncp" header below is a real NCP.
SUPPORTED_MAPS = ("AZP", "TAN", "STG", "SIN", "NCP", "ARC", "ZPN", "ZEA", "CEA", "CAR", "MER", "SFL", "MOL", "AIT",
                  "COE")
SUPPORTED_CODES = {"TAN", "SIN", "NCP", "ZEA", "ARC", "STG", "ZPN", "AZP", "CAR", "CEA", "MER", "AIT", "MOL", "SFL",
                   "COE", "TPV"}
UNSUPPORTED_MAPS = ("SZP", "AIR", "CYP", "PAR", "COP", "COD", "COO", "BON", "PCO", "TSC", "CSC", "QSC", "HPX")
DISTORTED_FILES = ("sip.fits", "sip2.fits", "irac_sip.hdr", "siponly.hdr", "tpvonly.hdr")
OTHER_FILES = ("zpn-hole.hdr", "outside_sky.hdr")
# Projections whose scale at the reference point is exactly CDELT (so astropy's
# proj_plane_pixel_scales is the expected local scale there), unless PV keywords change it;
# checked for pixels small enough (< 0.1 deg) that curvature over a pixel is negligible.
UNIT_SCALE = {"TAN", "SIN", "ARC", "ZEA", "STG", "CAR", "MER", "SFL", "AIT"}

# Headers made here for what the shipped ones lack: other axis types and orders, other
# linear forms (PC, CROTA), non-default parameters, all-sky maps with off-sky pixels.
BUILT = {
    "galactic-tan-cd": dict(
        NAXIS1=1000, NAXIS2=800, CTYPE1="GLON-TAN", CTYPE2="GLAT-TAN", CRPIX1=480.5, CRPIX2=410.2,
        CRVAL1=280.5, CRVAL2=-2.3, CD1_1=-2.1e-4, CD1_2=6.0e-5, CD2_1=5.5e-5, CD2_2=2.0e-4,
    ),
    "dec-first-zea-pc": dict(
        NAXIS1=600, NAXIS2=900, CTYPE1="DEC--ZEA", CTYPE2="RA---ZEA", CRPIX1=300.0, CRPIX2=450.0,
        CRVAL1=-35.2, CRVAL2=150.3, CDELT1=0.01, CDELT2=-0.012, PC1_1=0.8, PC1_2=0.6, PC2_1=-0.6, PC2_2=0.8,
        RADESYS="FK4", EQUINOX=1950.0,
    ),
    "dec-first-tan-crota": dict(
        NAXIS1=500, NAXIS2=500, CTYPE1="DEC--TAN", CTYPE2="RA---TAN", CRPIX1=250.0, CRPIX2=260.0,
        CRVAL1=12.0, CRVAL2=300.0, CDELT1=0.002, CDELT2=-0.0015, CROTA1=25.0,
    ),
    "tan-crota2": dict(
        NAXIS1=2048, NAXIS2=2048, CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRPIX1=1024.5, CRPIX2=1030.0,
        CRVAL1=359.9, CRVAL2=88.5, CDELT1=-2.8e-4, CDELT2=2.8e-4, CROTA2=-37.0, RADESYS="ICRS",
    ),
    "ecliptic-sin-slant": dict(
        NAXIS1=400, NAXIS2=400, CTYPE1="ELON-SIN", CTYPE2="ELAT-SIN", CRPIX1=200.0, CRPIX2=210.0,
        CRVAL1=75.0, CRVAL2=40.0, CDELT1=-0.25, CDELT2=0.25, PV2_1=0.3, PV2_2=-0.2,
    ),
    "galactic-car-allsky": dict(
        NAXIS1=720, NAXIS2=360, CTYPE1="GLON-CAR", CTYPE2="GLAT-CAR", CRPIX1=360.5, CRPIX2=180.5,
        CRVAL1=0.0, CRVAL2=0.0, CDELT1=-0.5, CDELT2=0.5,
    ),
    "ait-allsky-oblique": dict(
        NAXIS1=400, NAXIS2=200, CTYPE1="RA---AIT", CTYPE2="DEC--AIT", CRPIX1=200.5, CRPIX2=100.5,
        CRVAL1=180.0, CRVAL2=30.0, CDELT1=-1.0, CDELT2=1.0,
    ),
    "mol-allsky": dict(
        NAXIS1=400, NAXIS2=200, CTYPE1="GLON-MOL", CTYPE2="GLAT-MOL", CRPIX1=200.5, CRPIX2=100.5,
        CRVAL1=0.0, CRVAL2=0.0, CDELT1=-1.0, CDELT2=1.0,
    ),
    "sfl-allsky": dict(
        NAXIS1=400, NAXIS2=200, CTYPE1="RA---SFL", CTYPE2="DEC--SFL", CRPIX1=200.5, CRPIX2=100.5,
        CRVAL1=90.0, CRVAL2=0.0, CDELT1=-1.0, CDELT2=1.0,
    ),
    "cea-lambda": dict(
        NAXIS1=300, NAXIS2=300, CTYPE1="RA---CEA", CTYPE2="DEC--CEA", CRPIX1=150.0, CRPIX2=140.0,
        CRVAL1=45.0, CRVAL2=20.0, CDELT1=-0.1, CDELT2=0.1, PV2_1=0.5,
    ),
    "mer-lonpole": dict(
        NAXIS1=300, NAXIS2=300, CTYPE1="RA---MER", CTYPE2="DEC--MER", CRPIX1=150.0, CRPIX2=150.0,
        CRVAL1=10.0, CRVAL2=60.0, CDELT1=-0.05, CDELT2=0.05, LONPOLE=20.0, LATPOLE=-30.0,
    ),
    "coe-north": dict(
        NAXIS1=300, NAXIS2=300, CTYPE1="RA---COE", CTYPE2="DEC--COE", CRPIX1=150.0, CRPIX2=150.0,
        CRVAL1=120.0, CRVAL2=30.0, CDELT1=-0.2, CDELT2=0.2, PV2_1=30.0, PV2_2=10.0,
    ),
    "azp-outside": dict(
        NAXIS1=300, NAXIS2=300, CTYPE1="RA---AZP", CTYPE2="DEC--AZP", CRPIX1=150.0, CRPIX2=150.0,
        CRVAL1=200.0, CRVAL2=-40.0, CDELT1=-1.0, CDELT2=1.0, PV2_1=1.5, PV2_2=20.0,
    ),
    "zpn-cubic": dict(
        NAXIS1=500, NAXIS2=500, CTYPE1="RA---ZPN", CTYPE2="DEC--ZPN", CRPIX1=250.0, CRPIX2=250.0,
        CRVAL1=200.0, CRVAL2=-40.0, CDELT1=-0.1, CDELT2=0.1, PV2_1=1.0, PV2_3=-0.2,
    ),
    "ncp": dict(
        NAXIS1=400, NAXIS2=400, CTYPE1="RA---NCP", CTYPE2="DEC--NCP", CRPIX1=200.0, CRPIX2=200.0,
        CRVAL1=30.0, CRVAL2=60.0, CDELT1=-0.05, CDELT2=0.05,
    ),
    # Units other than degrees (CUNIT), and the frames beyond equatorial, galactic and ecliptic: solar images
    # (helioprojective in arcseconds, as instruments write them; heliographic Stonyhurst and Carrington) and
    # supergalactic. wcslib (through astropy) converts CUNIT to degrees, as wcs.js does.
    "helioprojective-tan-arcsec": dict(
        NAXIS1=1024, NAXIS2=1024, CTYPE1="HPLN-TAN", CTYPE2="HPLT-TAN", CUNIT1="arcsec", CUNIT2="arcsec",
        CRPIX1=512.5, CRPIX2=512.5, CRVAL1=-4.5, CRVAL2=2.9, CDELT1=0.6, CDELT2=0.6,
        PC1_1=0.9998, PC1_2=-0.0175, PC2_1=0.0175, PC2_2=0.9998,
    ),
    "helioprojective-far-latitude": dict(
        NAXIS1=512, NAXIS2=512, CTYPE1="HPLN-TAN", CTYPE2="HPLT-TAN", CUNIT1="arcsec", CUNIT2="arcsec",
        CRPIX1=256.5, CRPIX2=256.5, CRVAL1=-600.0, CRVAL2=750.0, CDELT1=2.4, CDELT2=2.4,
    ),
    "stonyhurst-car": dict(
        NAXIS1=720, NAXIS2=360, CTYPE1="HGLN-CAR", CTYPE2="HGLT-CAR", CUNIT1="deg", CUNIT2="deg",
        CRPIX1=360.5, CRPIX2=180.5, CRVAL1=0.0, CRVAL2=0.0, CDELT1=0.25, CDELT2=0.25,
    ),
    "carrington-cea": dict(
        NAXIS1=720, NAXIS2=360, CTYPE1="CRLN-CEA", CTYPE2="CRLT-CEA", CUNIT1="deg", CUNIT2="deg",
        CRPIX1=360.5, CRPIX2=180.5, CRVAL1=180.0, CRVAL2=0.0, CDELT1=0.5, CDELT2=0.318310, PV2_1=1.0,
    ),
    "supergalactic-ait": dict(
        NAXIS1=400, NAXIS2=200, CTYPE1="SLON-AIT", CTYPE2="SLAT-AIT", CRPIX1=200.5, CRPIX2=100.5,
        CRVAL1=90.0, CRVAL2=0.0, CDELT1=-0.8, CDELT2=0.8,
    ),
    "equatorial-arcmin-units": dict(
        NAXIS1=600, NAXIS2=600, CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CUNIT1="arcmin", CUNIT2="arcmin",
        CRPIX1=300.5, CRPIX2=300.5, CRVAL1=9000.0, CRVAL2=-1800.0, CDELT1=-0.05, CDELT2=0.05, RADESYS="ICRS",
    ),
    "tpv-radial": dict(
        NAXIS1=2000, NAXIS2=2000, CTYPE1="RA---TPV", CTYPE2="DEC--TPV", CRPIX1=1000.0, CRPIX2=1000.0,
        CRVAL1=150.0, CRVAL2=2.2, CD1_1=-7.3e-5, CD1_2=1.0e-6, CD2_1=1.2e-6, CD2_2=7.3e-5,
        PV1_0=1.0e-5, PV1_1=1.0, PV1_3=2.0e-3, PV1_4=-3.0e-3, PV1_11=-4.0e-3,
        PV2_1=1.0, PV2_3=-1.0e-3, PV2_6=2.0e-3, PV2_11=5.0e-3,
    ),
}


def header_dict(header: fits.Header) -> dict:
    """The header as the server sends it: a flat {KEY: number | string | bool}, COMMENT/HISTORY as text."""
    cards: dict = {}
    for card in header.cards:
        key, value = card.keyword, card.value
        if key in ("COMMENT", "HISTORY"):
            cards[key] = (cards.get(key, "") + "\n" + str(value)).lstrip("\n")
        elif key and isinstance(value, (bool, int, float, str)) and not (
                isinstance(value, float) and not math.isfinite(value)):
            cards[key] = value
    # Bring legacy headers up to date on both sides, so that astropy raises no warning:
    # RADECSYS is deprecated (wcs.js reads it too, see its own tests), and sip.fits is a
    # primary header with NAXIS = 0 that we give an image size for the pixel grid.
    if "RADECSYS" in cards:
        cards["RADESYS"] = cards.pop("RADECSYS")
    if cards.get("NAXIS") == 0:
        cards.update(NAXIS=2, NAXIS1=256, NAXIS2=256)
    return cards


def astropy_wcs(cards: dict) -> WCS:
    # Dates play no part in a celestial WCS; astropy would derive MJD-OBS from them, with a warning.
    header = fits.Header(
        [(key, value) for key, value in cards.items()
         if key not in ("COMMENT", "HISTORY") and not key.startswith("DATE")]
    )
    if projection_code(cards) == "NCP":
        # wcslib rewrites the legacy NCP as SIN (paper II, section 5.1.5) and says so.
        with pytest.warns(FITSFixedWarning, match="celfix"):
            return WCS(header)
    return WCS(header)


def read_header(path: Path) -> fits.Header:
    if path.suffix == ".fits":
        return fits.getheader(path)
    return fits.Header.fromstring(path.read_text())


def projection_code(cards: dict) -> str:
    return cards["CTYPE1"][5:8]


def has_unit_scale(cards: dict) -> bool:
    pv = [abs(value) for key, value in cards.items() if key.startswith("PV")]
    return projection_code(cards) in UNIT_SCALE and all(value < 1e-6 for value in pv)


# Frames astropy does not name without sunpy (solar) or at all (ELON/ELAT: it falls back on RADESYS; SLON), by their
# longitude axis, under the names paper II and sunpy give them.
FRAME_OF_AXIS = {"ELON": "ecliptic", "SLON": "supergalactic", "HPLN": "helioprojective",
                 "HGLN": "heliographic_stonyhurst", "CRLN": "heliographic_carrington"}


def frame_name(wcs: WCS) -> str:
    if wcs.wcs.lngtyp in FRAME_OF_AXIS:
        return FRAME_OF_AXIS[wcs.wcs.lngtyp]
    name = wcs_to_celestial_frame(wcs).name
    return {"fk4noeterms": "fk4"}.get(name, name)


def wcs_case(name: str, cards: dict, seed: int) -> dict:
    """Pixels on a jittered 5x5 grid over the image, their world coordinates and the pixels back, per astropy."""
    wcs = astropy_wcs(cards)
    rng = np.random.default_rng(seed)
    nx, ny = cards["NAXIS1"], cards["NAXIS2"]
    xs, ys = np.meshgrid(np.linspace(1, nx, 5), np.linspace(1, ny, 5))
    x = xs.ravel() + rng.uniform(-0.1, 0.1, xs.size) * nx / 5
    y = ys.ravel() + rng.uniform(-0.1, 0.1, ys.size) * ny / 5
    world = wcs.all_pix2world(x, y, 1)
    lon, lat = world[wcs.wcs.lng], world[wcs.wcs.lat]  # the header may put latitude first
    valid = np.isfinite(lon) & np.isfinite(lat)
    back_x, back_y = wcs.all_world2pix(world[0][valid], world[1][valid], 1, tolerance=1e-11, maxiter=200)
    code = projection_code(cards)
    case = {
        "name": name,
        "header": cards,
        "distorted": "-SIP" in cards["CTYPE1"] or code == "TPV",
        "frame": frame_name(wcs),
        "pixels": np.column_stack([x[valid], y[valid]]).tolist(),
        "world": np.column_stack([lon[valid], lat[valid]]).tolist(),
        "back": np.column_stack([back_x, back_y]).tolist(),
        "invalid": np.column_stack([x[~valid], y[~valid]]).tolist(),
    }
    if has_unit_scale(cards) and max(proj_plane_pixel_scales(wcs)) < 0.1:
        case["scale"] = {
            "pixel": [cards["CRPIX1"], cards["CRPIX2"]],
            "value": float(np.sqrt(np.prod(proj_plane_pixel_scales(wcs)))),
        }
    assert valid.sum() >= 5, f"{name}: too few valid pixels to test"
    return case


def sexagesimal_cases(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    positions = [(lon, lat) for lon, lat in zip(rng.uniform(0, 360, 24), rng.uniform(-90, 90, 24))]
    # Carries through seconds, minutes, hours and degrees; a tiny negative declination.
    positions += [(359.9999999, 89.99999999), (44.99999, -29.999999), (0.0041666, -1e-7), (14.999999999, 9.99999)]
    cases = []
    for index, (lon, lat) in enumerate(positions):
        precision = index % 4
        ra = Angle(lon * u.deg).to_string(unit=u.hourangle, sep=":", precision=precision, pad=True)
        dec = Angle(lat * u.deg).to_string(unit=u.deg, sep=":", precision=max(precision - 1, 0), pad=True,
                                           alwayssign=True)
        # astropy writes 24:00:00 for a right ascension that rounds up to a full turn; wcs.js wraps it to 0h.
        ra = "00" + ra[2:] if ra.startswith("24:") else ra
        ra_letters = Angle(ra, unit=u.hourangle).to_string(unit=u.hourangle, sep="hms", precision=precision, pad=True)
        dec_letters = Angle(dec, unit=u.deg).to_string(unit=u.deg, sep="dms", precision=max(precision - 1, 0),
                                                       pad=True, alwayssign=True)
        cases.append({
            "lon": lon,
            "lat": lat,
            "precision": precision,
            "strings": [ra, dec],
            "letters": f"{ra_letters} {dec_letters}",
            "parsed": [Angle(ra, unit=u.hourangle).degree, Angle(dec, unit=u.deg).degree],
        })
    return cases


def galactic_cases(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ra, dec = rng.uniform(0, 360, 20), np.degrees(np.arcsin(rng.uniform(-1, 1, 20)))
    galactic = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").galactic
    glon, glat = rng.uniform(0, 360, 20), np.degrees(np.arcsin(rng.uniform(-1, 1, 20)))
    icrs = SkyCoord(glon * u.deg, glat * u.deg, frame="galactic").icrs
    return {
        "to_galactic": [[r, d, g.l.degree, g.b.degree] for r, d, g in zip(ra, dec, galactic)],
        "to_equatorial": [[gl, gb, e.ra.degree, e.dec.degree] for gl, gb, e in zip(glon, glat, icrs)],
    }


# Cubes whose channels run along a spectral axis, in the units instruments write: velocity in m/s and km/s,
# frequency in Hz and GHz, wavelength in Angstrom; the third axis given by CDELT, CD or PC.
SPECTRAL = {
    "vrad-m/s": dict(CTYPE3="VRAD", CUNIT3="m/s", CRVAL3=-5.0e3, CDELT3=250.0, CRPIX3=100.0, NAXIS3=200),
    "vopt-km/s-cd": dict(CTYPE3="VOPT", CUNIT3="km/s", CRVAL3=1500.0, CD1_1=-1e-3, CD2_2=1e-3, CD3_3=-2.6,
                         CRPIX3=1.0, NAXIS3=64),
    "freq-hz": dict(CTYPE3="FREQ", CUNIT3="Hz", CRVAL3=1.420405752e9, CDELT3=-2.0e4, CRPIX3=33.0, NAXIS3=64),
    "freq-ghz-pc": dict(CTYPE3="FREQ", CUNIT3="GHz", CRVAL3=230.538, CDELT3=1.0e-3, PC3_3=0.5, CRPIX3=5.0,
                        NAXIS3=10),
    "wave-angstrom": dict(CTYPE3="WAVE", CUNIT3="Angstrom", CRVAL3=6562.8, CDELT3=1.25, CRPIX3=20.0, NAXIS3=40),
}
SI_UNITS = {"V": u.m / u.s, "F": u.Hz, "W": u.m}


def spectral_cases() -> list[dict]:
    cases = []
    for name, axis in SPECTRAL.items():
        cards = dict(NAXIS=3, NAXIS1=8, NAXIS2=8, CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRPIX1=4.0, CRPIX2=4.0,
                     CRVAL1=10.0, CRVAL2=20.0, CDELT1=-1e-3, CDELT2=1e-3, **axis)
        n = axis["NAXIS3"]
        spectral = astropy_wcs(cards).spectral.pixel_to_world(np.arange(n))
        si = spectral.to_value(SI_UNITS[axis["CTYPE3"][0]])
        cases.append({"name": name, "header": cards, "channels": n, "si": si.tolist()})
    return cases


def build_fixture() -> dict:
    cases = []
    for seed, code in enumerate(SUPPORTED_MAPS):
        cards = header_dict(read_header(DATA / "maps" / f"1904-66_{code}.hdr"))
        cases.append(wcs_case(f"1904-66_{code}.hdr", cards, seed))
    for seed, name in enumerate(DISTORTED_FILES + OTHER_FILES, start=100):
        cases.append(wcs_case(name, header_dict(read_header(DATA / name)), seed))
    for seed, (name, cards) in enumerate(BUILT.items(), start=200):
        cases.append(wcs_case(name, dict(cards, NAXIS=2), seed))
    unsupported = [
        {"name": f"1904-66_{code}.hdr", "header": header_dict(read_header(DATA / "maps" / f"1904-66_{code}.hdr"))}
        for code in UNSUPPORTED_MAPS
    ]
    return {
        "wcs": cases,
        "unsupported": unsupported,
        "sexagesimal": sexagesimal_cases(300),
        "galactic": galactic_cases(301),
        "spectral": spectral_cases(),
    }


@pytest.fixture(scope="module")
def fixture() -> dict:
    return build_fixture()


def test_fixture_covers_every_supported_projection(fixture: dict):
    codes = {projection_code(case["header"]) for case in fixture["wcs"]}
    assert codes == SUPPORTED_CODES
    assert any("-SIP" in case["header"]["CTYPE1"] and "AP_ORDER" not in case["header"] for case in fixture["wcs"])
    assert any("AP_ORDER" in case["header"] for case in fixture["wcs"])


def test_wcs_js_matches_astropy(fixture: dict, tmp_path: Path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js >= 20) is required to test the web client's WCS library: "
                    "install it (apt-get install nodejs)")
    fixture_path = tmp_path / "wcs_fixture.json"
    fixture_path.write_text(json.dumps(fixture))
    result = subprocess.run(
        [node, "--test", "tests/js/wcs.test.mjs"],
        cwd=ROOT,
        env=dict(os.environ, WCS_FIXTURES=str(fixture_path)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"node --test failed:\n{result.stdout}\n{result.stderr}"
