"""The extra folder (catalogs, region files) and its endpoints: listing, confinement, ds9 regions as GeoJSON checked
against astropy's `regions`, VOTables as rows."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io.votable import from_table, writeto
from astropy.table import MaskedColumn, Table
from astropy.wcs import WCS
from regions import EllipseSkyRegion, Regions

from tileserver.overlays import regions

REGION_FILE = """# Region file format: DS9 version 4.1
global color=green width=1
fk5
circle(150.0,2.0,10") # color=red text={A}
ellipse(150.01,2.01,20",10",30)
box(149.99,2.0,30",15",45)
polygon(150.0,2.0,150.005,2.0,150.0,2.005)
point(150.0,1.99) # point=cross
line(150.0,2.0,150.01,2.01)
# text(150.002,2.0) text={Hello}
galactic
ellipse(236.8,41.3,20",10",30)
icrs
annulus(150.0,2.0,5",10")
image
circle(100,200,5)
box(50.5,60,10,4,20)
vector(1,2,3,4)
"""


@pytest.fixture
def extra_dir(tmp_path: Path) -> Path:
    root = tmp_path / "extra"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "stars.csv").write_text("ra,dec\n150,2\n")
    (root / "sub" / "shapes.reg").write_text(REGION_FILE)
    (root / "sub" / "deeper" / "table.vot").write_bytes(votable_bytes())
    (root / "sub" / "zones.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    (root / "notes.txt").write_text("not offered")
    (root / ".hidden.csv").write_text("ra,dec\n")
    outside = tmp_path / "secret.csv"
    outside.write_text("ra,dec\n1,2\n")
    os.symlink(outside, root / "link.csv")
    return root


@pytest.fixture
def extra_client(client_for: Any, extra_dir: Path) -> Any:
    return client_for(extra_dir=str(extra_dir))


def votable_bytes(fmt: str = "tabledata") -> bytes:
    table = Table({"RAJ2000": [150.0, 150.1], "DEJ2000": [2.0, np.nan], "Name": ["a", "bé"],
                   "vec": np.zeros((2, 3)), "Vmag": MaskedColumn([12.5, 0.0], mask=[False, True])})
    table["RAJ2000"].unit = "deg"
    table["RAJ2000"].meta["ucd"] = "pos.eq.ra;meta.main"
    votable = from_table(table)
    votable.get_first_table().format = fmt
    out = io.BytesIO()
    writeto(votable, out)
    return out.getvalue()


def error_of(response: Any) -> str:
    return response.json()["detail"][0]["msg"]


# -- listing and files ---------------------------------------------------------------------------------------------


def test_listing_offers_usable_files_only(extra_client):
    r = extra_client.get("/extra/list")
    assert r.status_code == 200
    entries = {e["path"]: (e["kind"], e["format"]) for e in r.json()["entries"]}
    assert entries == {
        "stars.csv": ("catalog", "csv"),
        "sub/shapes.reg": ("regions", "ds9"),
        "sub/deeper/table.vot": ("catalog", "votable"),
        "sub/zones.geojson": ("catalog", "geojson"),
    }  # no text file, no hidden file, no link leading out of the folder
    assert r.json()["truncated"] is False


def test_without_an_extra_folder_the_listing_is_empty(client):
    assert client.get("/extra/list").json() == {"entries": [], "truncated": False}
    r = client.get("/extra/file", params={"path": "stars.csv"})
    assert r.status_code == 404


@pytest.mark.parametrize("path, status", [
    ("stars.csv", 200),
    ("sub/shapes.reg", 200),
    ("../secret.csv", 403),
    ("/etc/passwd", 403),
    ("missing.csv", 404),
    ("notes.txt", 404),  # exists, but not a catalog or region file
    ("link.csv", 404),  # a symlink out of the folder
    ("sub", 404),
])
def test_files_are_confined_to_the_extra_folder(extra_client, path, status):
    r = extra_client.get("/extra/file", params={"path": path})
    assert r.status_code == status
    if status != 200:
        assert "secret" not in r.text and str(Path.home()) not in r.text
    elif path.endswith(".csv"):
        assert r.text == "ra,dec\n150,2\n" and r.headers["content-type"].startswith("text/csv")


# -- ds9 regions ---------------------------------------------------------------------------------------------------


def features_of(client: Any) -> list[dict[str, Any]]:
    r = client.get("/extra/regions", params={"path": "sub/shapes.reg"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["skipped"] == ['"vector" frame or shape is not supported by the regions package, skipping.']
    return body["features"]


def test_every_shape_becomes_a_feature(extra_client):
    features = features_of(extra_client)
    got = [(f["properties"]["shape"], f["properties"]["frame"], f["geometry"]["type"]) for f in features]
    assert got == [
        ("circle", "icrs", "Point"), ("ellipse", "icrs", "Point"), ("box", "icrs", "Point"),
        ("polygon", "icrs", "Polygon"), ("point", "icrs", "Point"), ("line", "icrs", "LineString"),
        ("text", "icrs", "Point"), ("ellipse", "icrs", "Point"), ("annulus", "icrs", "Point"),
        ("circle", "image", "Point"), ("box", "image", "Point"),
    ]


def test_sizes_styles_and_image_coordinates(extra_client):
    circle, ellipse, box, polygon, point, line, text, _, annulus, pixel_circle, pixel_box = features_of(extra_client)
    arcsec = 1 / 3600
    assert circle["properties"] == {"shape": "circle", "frame": "icrs", "color": "red", "width": 1.0, "label": "A",
                                    "radius": pytest.approx(10 * arcsec)}
    assert ellipse["properties"]["radii"] == pytest.approx([20 * arcsec, 10 * arcsec])  # ds9 radii, not widths
    assert box["properties"]["size"] == pytest.approx([30 * arcsec, 15 * arcsec])
    assert annulus["properties"]["radii"] == pytest.approx([5 * arcsec, 10 * arcsec])
    assert point["properties"]["marker"] == "cross"
    assert text["properties"]["text"] == "Hello"
    ring = polygon["geometry"]["coordinates"][0]
    assert len(ring) == 4 and ring[0] == ring[-1]
    assert len(line["geometry"]["coordinates"]) == 2
    # ds9 image coordinates are FITS pixels, 1-based: given back as written.
    assert pixel_circle["geometry"]["coordinates"] == [100.0, 200.0] and pixel_circle["properties"]["radius"] == 5.0
    assert pixel_box["geometry"]["coordinates"] == [50.5, 60.0]
    assert pixel_box["properties"] == {"shape": "box", "frame": "image", "color": "green", "width": 1.0,
                                           "size": [10.0, 4.0], "angle": 20.0}


def test_sky_positions_are_icrs(extra_client):
    features = features_of(extra_client)
    expected = SkyCoord([150.0, 236.8], [2.0, 41.3], unit="deg", frame="fk5")
    expected = SkyCoord([expected[0].icrs, SkyCoord(236.8, 41.3, unit="deg", frame="galactic").icrs])
    for feature, want in zip([features[0], features[7]], expected):
        got = SkyCoord(*feature["geometry"]["coordinates"], unit="deg")
        assert got.separation(want).arcsec < 1e-6
    # FK5 and ICRS differ by the frame bias, tens of milliarcseconds: the conversion happened.
    assert SkyCoord(*features[0]["geometry"]["coordinates"], unit="deg").separation(
        SkyCoord(150.0, 2.0, unit="deg")).arcsec > 0.005


def tan_wcs(ctype: tuple[str, str], centre: tuple[float, float]) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = list(ctype)
    wcs.wcs.crval = list(centre)
    wcs.wcs.crpix = [500, 500]
    wcs.wcs.cdelt = [-1e-4, 1e-4]
    return wcs


def test_a_galactic_angle_is_turned_into_an_icrs_one(extra_client):
    """The file's galactic ellipse, drawn on a galactic image by `regions` (frames alike, so its angle is right) and
    taken to ICRS point by point, lies on our ICRS ellipse drawn on an ICRS image."""
    feature = features_of(extra_client)[7]
    galactic = SkyCoord(236.8, 41.3, unit="deg", frame="galactic")
    gal_wcs = tan_wcs(("GLON-TAN", "GLAT-TAN"), (236.8, 41.3))
    truth = EllipseSkyRegion(galactic, 40 * u.arcsec, 20 * u.arcsec, angle=30 * u.deg).to_pixel(gal_wcs)
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    a, b, turn = truth.width / 2, truth.height / 2, truth.angle.rad
    x = truth.center.x + a * np.cos(t) * np.cos(turn) - b * np.sin(t) * np.sin(turn)
    y = truth.center.y + a * np.cos(t) * np.sin(turn) + b * np.sin(t) * np.cos(turn)
    outline = gal_wcs.pixel_to_world(x, y).icrs

    centre = SkyCoord(*feature["geometry"]["coordinates"], unit="deg")
    icrs_wcs = tan_wcs(("RA---TAN", "DEC--TAN"), (centre.ra.deg, centre.dec.deg))
    ours = EllipseSkyRegion(centre, 40 * u.arcsec, 20 * u.arcsec, angle=feature["properties"]["angle"] * u.deg)
    ours = ours.to_pixel(icrs_wcs)
    px, py = icrs_wcs.world_to_pixel(outline)
    dx, dy, turn = px - ours.center.x, py - ours.center.y, ours.angle.rad
    along = (dx * np.cos(turn) + dy * np.sin(turn)) / (ours.width / 2)
    across = (-dx * np.sin(turn) + dy * np.cos(turn)) / (ours.height / 2)
    assert along**2 + across**2 == pytest.approx(np.ones_like(t), abs=1e-4)
    assert abs(feature["properties"]["angle"] - 30) > 10  # the galactic and equatorial norths differ a lot here


def test_a_region_file_can_be_posted(extra_client):
    r = extra_client.post("/extra/regions", content=b"image\npoint(3,4) # point=x color=blue\n")
    assert r.status_code == 200
    assert r.json()["features"] == [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [3.0, 4.0]},
                                     "properties": {"shape": "point", "frame": "image", "color": "blue",
                                                    "marker": "x"}}]


@pytest.mark.parametrize("body, status, message", [
    (b"fk5\ncircle(150,2,3\")\ncircle(150,2)\n", 422, "line 3: "),
    (b"fk5\ncircle(400,100,3\")\n", 422, "line 2: "),
    (b"circle(1,2,3)\n" * (2 * regions.MAX_REGIONS + 1), 413, "more than"),
], ids=["missing-radius", "bad-latitude", "too-many"])
def test_bad_region_files_are_refused_with_the_line(extra_client, body, status, message):
    r = extra_client.post("/extra/regions", content=body)
    assert r.status_code == status
    assert message in error_of(r)


def test_uploads_past_the_limit_are_refused(extra_client, monkeypatch):
    monkeypatch.setattr(regions, "MAX_TEXT_BYTES", 100)
    r = extra_client.post("/extra/regions", content=b"image\n" + b"point(1,1)\n" * 20)
    assert r.status_code == 413
    chunks = iter([b"image\n", b"point(1,1)\n" * 20])  # streamed, no Content-Length
    r = extra_client.post("/extra/regions", content=chunks)
    assert r.status_code == 413


def test_ds9_regions_round_trip_through_the_parser():
    """Regions the package writes itself come back at the same places."""
    written = Regions.parse(REGION_FILE.replace("vector(1,2,3,4)\n", ""), format="ds9").serialize(format="ds9")
    features = regions.to_geojson(written)["features"]
    assert [f["properties"]["shape"] for f in features][:3] == ["circle", "ellipse", "box"]
    assert features[9]["geometry"]["coordinates"] == pytest.approx([100.0, 200.0])


# -- VOTables ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tabledata", "binary", "binary2"])
def test_votables_become_rows(extra_client, extra_dir, fmt):
    (extra_dir / f"{fmt}.xml").write_bytes(votable_bytes(fmt))
    r = extra_client.get("/extra/votable", params={"path": f"{fmt}.xml"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == [{"name": "RAJ2000", "unit": "deg", "ucd": "pos.eq.ra;meta.main"},
                               {"name": "DEJ2000", "unit": "", "ucd": ""}, {"name": "Name", "unit": "", "ucd": ""},
                               {"name": "Vmag", "unit": "", "ucd": ""}]  # the array column is left out
    assert body["rows"] == [[150.0, 2.0, "a", 12.5], [150.1, None, "bé", None]]
    assert body["truncated"] is False


def test_a_votable_can_be_posted_and_garbage_is_refused(extra_client):
    assert extra_client.post("/extra/votable", content=votable_bytes()).json()["rows"][0][0] == 150.0
    for garbage in (b"", b"hello", b"<?xml version='1.0'?><VOTABLE></VOTABLE>"):
        r = extra_client.post("/extra/votable", content=garbage)
        assert r.status_code == 422 and error_of(r).startswith("not a VOTable")



# -- VOTables that point outside themselves ------------------------------------------------------------------------


def _with_stream_href(href: str, fmt: str = "binary") -> bytes:
    """A valid VOTable whose data is replaced by a reference to `href` (astropy would open it)."""
    text = votable_bytes(fmt).decode()
    start = text.index("<STREAM")
    end = text.index("</STREAM>") + len("</STREAM>")
    return (text[:start] + f'<STREAM href="{href}"/>' + text[end:]).encode()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.xml"
    secret.parent.mkdir()
    secret.write_bytes(votable_bytes("binary").replace(b"150.1", b"777.7"))
    return secret


@pytest.mark.parametrize("fmt", ["binary", "binary2"])
def test_a_posted_votable_cannot_make_the_server_open_a_file_or_url(extra_client, secret_file, fmt):
    hrefs = [secret_file.as_uri(), "file:///etc/passwd", "file:///no/such/file", "/etc/hostname",
             "http://127.0.0.1:9/status.json", "https://example.invalid/x.vot", "../../outside/secret.xml"]
    messages = set()
    for href in hrefs:
        r = extra_client.post("/extra/votable", content=_with_stream_href(href, fmt))
        assert r.status_code == 422, (href, r.text)
        assert "777.7" not in r.text and "root:" not in r.text
        assert href not in r.text and "/etc" not in r.text and "No such file" not in r.text
        messages.add(error_of(r))
    assert len(messages) == 1  # the same answer whether the file exists or not: no existence oracle


def test_a_votable_in_the_extra_folder_cannot_refer_outside_either(extra_client, extra_dir, secret_file):
    (extra_dir / "pointer.vot").write_bytes(_with_stream_href(secret_file.as_uri()))
    r = extra_client.get("/extra/votable", params={"path": "pointer.vot"})
    assert r.status_code == 422 and "777.7" not in r.text and str(secret_file) not in r.text


def test_a_votable_with_a_document_type_or_entities_is_refused(extra_client, secret_file):
    entity = (f'<?xml version="1.0"?><!DOCTYPE VOTABLE [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]>'
              '<VOTABLE version="1.4"><RESOURCE><TABLE><FIELD name="a" datatype="char" arraysize="*"/>'
              "<DATA><TABLEDATA><TR><TD>&x;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>")
    laughs = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
              "<VOTABLE>&b;</VOTABLE>")
    for body in (entity, laughs):
        r = extra_client.post("/extra/votable", content=body.encode())
        assert r.status_code == 422 and "777.7" not in r.text
        assert "document type" in error_of(r)
