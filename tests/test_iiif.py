"""IIIF Image API 3.0, written from the specification (https://iiif.io/api/image/3.0/) and its compliance levels:
every region, size, rotation, quality and format form, the image information document, the HTTP features of level
2, errors, and pixel-exact answers checked against the source data."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from support.servers import wait_for

W, H = 300, 200  # the spec's own example image size, so its worked examples apply as they are
BW, BH = 320, 200  # a multiple of 8 wide and high: the levels are exact block means
LINEAR = {"MINMAX": "1:0,255", "GAM": "1"}  # value v renders as grey v: the answer is the data itself


def ramp() -> np.ndarray:
    """Display order (row 0 at the top): distinct neighbours, integer values 0..255."""
    y, x = np.mgrid[0:H, 0:W]
    return ((x * 7 + y * 13) % 256).astype(np.float32)


def blocks() -> np.ndarray:
    """Constant over 8 x 8 blocks, so every level down to 1/8 is exact integers."""
    y, x = np.mgrid[0:BH, 0:BW]
    return ((x // 8 * 37 + y // 8 * 11) % 256).astype(np.float32)


@pytest.fixture
def images(make_fits):
    # FITS row 0 is the bottom: flip, so that the display (and IIIF) row 0 is ramp()'s row 0.
    make_fits("ramp.fits", ramp()[::-1], wcs=False)
    make_fits("blocks.fits", blocks()[::-1], wcs=False)
    make_fits("sub dir/deep [x].fits", ramp()[::-1], wcs=False)


@pytest.fixture
def iiif(client_for, images):
    return client_for(tile_size=64)


def pixels(r) -> np.ndarray:
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)))


def get(client, path: str, headers: dict[str, str] | None = None, **params: str):
    return client.get("/iiif/3/" + path, params={**LINEAR, **params}, headers=headers)


def level(data: np.ndarray, s: int) -> np.ndarray:
    h, w = data.shape
    return data[: h // s * s, : w // s * s].reshape(h // s, s, w // s, s).mean(axis=(1, 3))


# -- image information ---------------------------------------------------------------------------------------------

def test_info_json(iiif):
    r = iiif.get("/iiif/3/ramp.fits/info.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["link"] == '<http://iiif.io/api/image/3/level2.json>;rel="profile"'
    info = r.json()
    assert next(iter(info)) == "@context" and info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == "http://testserver/iiif/3/ramp.fits"  # the base URI, no trailing slash
    assert (info["type"], info["protocol"], info["profile"]) == ("ImageService3", "http://iiif.io/api/image",
                                                                  "level2")
    assert (info["width"], info["height"]) == (W, H)
    # Our pyramid: 300 -> 150 -> 75 -> 37 with 64-pixel tiles.
    assert info["tiles"] == [{"width": 64, "height": 64, "scaleFactors": [1, 2, 4, 8]}]
    assert info["sizes"] == [{"width": 37, "height": 25}, {"width": 75, "height": 50},
                             {"width": 150, "height": 100}, {"width": 300, "height": 200}]
    assert info["maxArea"] == 1024 * 64 * 64 // 4 and info["maxWidth"] >= info["maxHeight"] > 0
    assert info["extraFormats"] == ["webp"] and set(info["extraQualities"]) == {"color", "gray", "bitonal"}
    assert {"mirroring", "sizeUpscaling", "rotationArbitrary"} <= set(info["extraFeatures"])
    # Content negotiation: plain JSON when only that is acceptable.
    plain = iiif.get("/iiif/3/ramp.fits/info.json", headers={"Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json" and plain.json() == info


def test_every_advertised_size_and_tile_is_served(iiif):
    info = iiif.get("/iiif/3/blocks.fits/info.json").json()
    for size in info["sizes"]:
        w, h = size["width"], size["height"]
        assert pixels(get(iiif, f"blocks.fits/full/{w},{h}/0/default.png")).shape == (h, w)
    # Tiles as the spec's implementation notes compute them, compared with the data's block means.
    data, tw = blocks(), info["tiles"][0]["width"]
    for s in info["tiles"][0]["scaleFactors"]:
        expected = level(data, s)
        for m in range(math.ceil(BH / (tw * s))):
            for n in range(math.ceil(BW / (tw * s))):
                xr, yr = n * tw * s, m * tw * s
                wr, hr = min(tw * s, BW - xr), min(tw * s, BH - yr)
                ws, hs = -(-wr // s), -(-hr // s)
                got = pixels(get(iiif, f"blocks.fits/{xr},{yr},{wr},{hr}/{ws},{hs}/0/default.png"))
                assert np.array_equal(got, expected[yr // s: yr // s + hs, xr // s: xr // s + ws]), (s, n, m)


def test_base_uri_redirects_to_info(iiif):
    r = iiif.get("/iiif/3/ramp.fits", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "http://testserver/iiif/3/ramp.fits/info.json"
    assert r.headers["access-control-allow-origin"] == "*"
    assert iiif.get("/iiif/3/missing.fits", follow_redirects=False).status_code == 404


def test_identifier_is_one_encoded_segment(iiif):
    # Slashes, spaces and brackets percent-encoded, as the spec asks of clients.
    ident = "sub%20dir%2Fdeep%20%5Bx%5D.fits"
    info = iiif.get(f"/iiif/3/{ident}/info.json").json()
    assert info["id"] == f"http://testserver/iiif/3/{ident}"
    assert np.array_equal(pixels(get(iiif, f"{ident}/full/max/0/default.png")), ramp())


# -- regions -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("region,box", [
    ("full", (0, 0, W, H)),
    ("square", ((W - H) // 2, 0, H, H)),  # centred in the longer dimension
    ("125,15,120,140", (125, 15, 120, 140)),  # spec example 3
    ("pct:41.6,7.5,40,70", (125, 15, 120, 140)),  # spec example 4: the same pixels
    ("125,15,200,200", (125, 15, 175, 185)),  # spec example 5: cropped at the edge, 175 x 185
    ("pct:41.6,7.5,66.6,100", (125, 15, 175, 185)),  # spec example 6
    ("0,0,1,1", (0, 0, 1, 1)),
    ("299,199,5,5", (299, 199, 1, 1)),
])
def test_regions_are_pixel_exact(iiif, region, box):
    x, y, w, h = box
    assert np.array_equal(pixels(get(iiif, f"ramp.fits/{region}/max/0/default.png")), ramp()[y:y + h, x:x + w])


@pytest.mark.parametrize("region", ["0,0,0,10", "0,0,10,0", "300,0,10,10", "0,200,10,10", "pct:100,0,10,10",
                                    "pct:0,0,0,10", "1,2,3", "-1,0,10,10", "pct:1,2,3,x", "fulll", "10,10,10,10,10",
                                    "pct:+1,0,10,10", "1e3,0,10,10"])
def test_bad_regions_are_400(iiif, region):
    r = get(iiif, f"ramp.fits/{region}/max/0/default.jpg")
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["path", "region"], region
    assert r.headers["access-control-allow-origin"] == "*"


# -- sizes ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size,shape", [
    ("max", (200, 300)),
    ("150,", (100, 150)),  # spec size example 2
    (",150", (150, 225)),  # example 3
    ("pct:50", (100, 150)),  # example 4
    ("225,100", (100, 225)),  # example 5: distorted
    ("!225,100", (100, 150)),  # example 6: confined
    ("^360,", (240, 360)),
    ("^,240", (240, 360)),
    ("^pct:120", (240, 360)),
    ("^360,360", (360, 360)),
    ("^!360,360", (240, 360)),  # example 6 upscaled: 360 x 240
    ("!1000,1000", (200, 300)),  # confined, never above the region without ^
    ("1,", (1, 1)),
])
def test_sizes(iiif, size, shape):
    assert pixels(get(iiif, f"ramp.fits/full/{size}/0/default.png")).shape == shape


def test_scaled_answers_are_the_block_means(iiif):
    data = blocks()
    for s in (2, 4, 8):
        got = pixels(get(iiif, f"blocks.fits/full/{BW // s},/0/default.png"))
        assert np.array_equal(got, level(data, s)), s
    # A region, halved: read from the 1/2 level.
    got = pixels(get(iiif, "blocks.fits/64,32,128,96/pct:50/0/default.png"))
    assert np.array_equal(got, level(data, 2)[16:64, 32:96])
    # Upscaled by 2: every source pixel becomes a 2 x 2 block.
    got = pixels(get(iiif, "ramp.fits/10,20,30,40/^60,80/0/default.png"))
    assert np.array_equal(got, np.kron(ramp()[20:60, 10:40], np.ones((2, 2))))


def test_max_and_upscaling_respect_the_limits(client_for, images):
    client = client_for(tile_size=64, max_region_tile_count=4)  # maxArea = 4 * 64 * 64 / 4 = 4096
    info = client.get("/iiif/3/ramp.fits/info.json").json()
    assert info["maxArea"] == 4096
    assert all(s["width"] * s["height"] <= 4096 for s in info["sizes"])
    got = pixels(get(client, "ramp.fits/full/max/0/default.png"))  # constrained, aspect kept
    assert got.shape[0] * got.shape[1] <= 4096 and abs(got.shape[1] / got.shape[0] - 1.5) < 0.05
    up = pixels(get(client, "ramp.fits/0,0,30,20/^max/0/default.png"))
    assert up.shape[0] * up.shape[1] <= 4096 and up.shape[1] > 30
    for size in ("300,", "^1000,", "^pct:500"):
        r = get(client, f"ramp.fits/full/{size}/0/default.png")
        assert r.status_code == 400 and "limit" in r.json()["detail"][0]["msg"], size


@pytest.mark.parametrize("size", ["301,", ",201", "301,100", "pct:101", "0,", ",0", "0,0", "pct:0", "!0,10",
                                  "pct:0.1", "!,10", "^", "10", "maxx", "-10,", "10,10,", "^^10,"])
def test_bad_sizes_are_400(iiif, size):
    r = get(iiif, f"ramp.fits/full/{size}/0/default.jpg")
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["path", "size"], size


# -- rotation, quality, format -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rotation,turn", [
    ("0", lambda a: a), ("90", lambda a: np.rot90(a, -1)), ("180", lambda a: np.rot90(a, 2)),
    ("270", lambda a: np.rot90(a, 1)), ("360", lambda a: a), ("!0", np.fliplr),
    ("!90", lambda a: np.rot90(np.fliplr(a), -1)), ("!180", lambda a: np.rot90(np.fliplr(a), 2)),
])
def test_rotations_and_mirroring(iiif, rotation, turn):
    got = pixels(get(iiif, f"ramp.fits/10,20,30,40/max/{rotation}/default.png"))
    assert np.array_equal(got, turn(ramp()[20:60, 10:40]))


def test_arbitrary_rotation_keeps_all_the_content(iiif):
    got = pixels(get(iiif, "ramp.fits/full/150,/22.5/default.png"))
    a = math.radians(22.5)
    w, h = 150 * math.cos(a) + 100 * math.sin(a), 100 * math.cos(a) + 150 * math.sin(a)
    assert got.ndim == 3 and got.shape[2] == 2  # grey plus alpha: transparent corners
    assert abs(got.shape[1] - w) <= 2 and abs(got.shape[0] - h) <= 2
    assert got[0, 0, 1] == 0 and got[got.shape[0] // 2, got.shape[1] // 2, 1] == 255


@pytest.mark.parametrize("rotation", ["361", "-90", "abc", "!", "90!", "!!90", "+90", "1e2"])
def test_bad_rotations_are_400(iiif, rotation):
    r = get(iiif, f"ramp.fits/full/max/{rotation}/default.jpg")
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["path", "rotation"]


def test_qualities(iiif):
    grey = pixels(get(iiif, "ramp.fits/full/max/0/gray.png"))
    assert np.array_equal(grey, ramp()) and np.array_equal(pixels(get(iiif, "ramp.fits/full/max/0/color.png")),
                                                           ramp())
    bitonal = pixels(get(iiif, "ramp.fits/full/max/0/bitonal.png"))
    assert np.array_equal(bitonal, np.where(ramp() >= 128, 255, 0))
    # A colormap makes colour; gray then takes its luma.
    colour = pixels(get(iiif, "ramp.fits/full/max/0/color.png", CMP="hot"))
    assert colour.shape == (H, W, 3) and (colour[..., 0] != colour[..., 2]).any()
    luma = pixels(get(iiif, "ramp.fits/full/max/0/gray.png", CMP="hot"))
    expected = (colour @ np.array([0.299, 0.587, 0.114]) + 0.5).astype(np.uint8)
    assert np.abs(luma.astype(int) - expected).max() <= 1
    r = get(iiif, "ramp.fits/full/max/0/sepia.png")
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["path", "quality"]


@pytest.mark.parametrize("fmt,media", [("jpg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")])
def test_formats(iiif, fmt, media):
    r = get(iiif, f"ramp.fits/full/max/0/default.{fmt}")
    assert r.status_code == 200 and r.headers["content-type"] == media
    assert Image.open(io.BytesIO(r.content)).size == (W, H)


@pytest.mark.parametrize("tail,status", [("default.jp2", 501), ("default.pdf", 501), ("default.tif", 501),
                                         ("default.bmp", 400), ("default.JPG", 400), ("default", 400),
                                         ("default.", 400)])
def test_unsupported_formats(iiif, tail, status):
    r = get(iiif, f"ramp.fits/full/max/0/{tail}")
    assert r.status_code == status and r.json()["detail"][0]["msg"]


# -- display parameters, identifiers, access, caching ------------------------------------------------------------

def test_display_parameters_in_the_query(iiif):
    default = iiif.get("/iiif/3/ramp.fits/full/max/0/default.png")
    # The server's display settings: zscale cuts (a ramp's own range) and gamma 1 show the ramp as it is.
    assert default.status_code == 200
    assert np.array_equal(pixels(default), ramp())
    inverted = pixels(get(iiif, "ramp.fits/full/max/0/default.png", INV="1"))
    assert np.array_equal(inverted, 255 - ramp())
    for params, name in (({"CNT": "abc"}, "CNT"), ({"GAM": "9"}, "GAM"), ({"CMP": "nope"}, "CMP"),
                         ({"CHAN": "2"}, "CHAN"), ({"JTL": "0,0"}, "JTL"), ({"FIF": "blocks.fits"}, "FIF")):
        r = get(iiif, "ramp.fits/full/max/0/default.png", **params)
        assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["query", name], params


@pytest.mark.parametrize("ident,status", [("missing.fits", 404), ("..%2Fsecret.fits", 403),
                                          ("%2Fetc%2Fpasswd", 403), ("sub%20dir", 404), ("ramp.fits%5B9%5D", 404)])
def test_identifiers_are_confined(iiif, ident, status):
    for tail in ("info.json", "full/max/0/default.jpg"):
        r = iiif.get(f"/iiif/3/{ident}/{tail}")
        assert r.status_code == status, (ident, tail, r.text)
        assert "/" not in r.json()["detail"][0]["msg"].replace("/iiif/3/", "")  # no server path


def test_access_rules_apply(client_for, make_fits, tmp_path):
    make_fits("private/p.fits", width=64, height=64)
    rules = tmp_path / "access.conf"
    rules.write_text("[folders]\nprivate = alice\n", encoding="utf-8")
    secret = tmp_path / "proxy-secret"
    secret.write_text("a-secret-the-proxy-shares-with-us-0123\n", encoding="utf-8")
    client = client_for(access_file=str(rules), trusted_proxies="127.0.0.1", address="127.0.0.1",
                        proxy_secret_file=str(secret))
    alice = {"X-Remote-User": "alice", "X-Tileserver-Proxy-Secret": "a-secret-the-proxy-shares-with-us-0123"}
    for tail in ("info.json", "full/max/0/default.jpg"):
        assert client.get(f"/iiif/3/private%2Fp.fits/{tail}").status_code == 403
        r = client.get(f"/iiif/3/private%2Fp.fits/{tail}", headers=alice)
        assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
    assert client.get("/iiif/3/private%2Fp.fits", follow_redirects=False).status_code == 403


def test_etags_and_cache_control(iiif):
    r = get(iiif, "ramp.fits/full/150,/0/default.jpg")
    assert r.headers["cache-control"] == "public, max-age=60, must-revalidate"
    assert r.headers["link"].endswith('<http://testserver/iiif/3/ramp.fits/full/150,100/0/default.jpg>;rel="canonical"')
    again = get(iiif, "ramp.fits/full/150,100/0/default.jpg", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.headers["access-control-allow-origin"] == "*"
    other = get(iiif, "ramp.fits/full/150,/0/default.jpg", INV="1")
    assert other.headers["etag"] != r.headers["etag"]

    def built() -> dict | None:
        info = iiif.get("/api", params={"FIF": "ramp.fits", "INFO": ""}).json()
        return info if info["final"] else None

    tag = wait_for(built, what="the build behind the instant open")["cache_tag"]
    assert "immutable" in get(iiif, "ramp.fits/full/150,/0/default.jpg", V=tag).headers["cache-control"]
    info = iiif.get("/iiif/3/ramp.fits/info.json")
    assert iiif.get("/iiif/3/ramp.fits/info.json", headers={"If-None-Match": info.headers["etag"]}).status_code == 304


def test_cors_for_every_origin_even_when_the_api_is_closed(client_for, images):
    client = client_for(tile_size=64, cors_origins="https://a.example.org")
    origin = {"Origin": "https://elsewhere.example.com"}
    r = client.options("/iiif/3/ramp.fits/info.json", headers={**origin, "Access-Control-Request-Method": "GET"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    for path in ("/iiif/3/ramp.fits/info.json", "/iiif/3/ramp.fits/full/max/0/default.jpg", "/iiif/3/x/info.json"):
        assert client.get(path, headers=origin).headers["access-control-allow-origin"] == "*"
    # The rest of the API keeps its own rule.
    assert "access-control-allow-origin" not in client.get("/api?FIF=ramp.fits&INFO", headers=origin).headers


# -- generated requests --------------------------------------------------------------------------------------------

SEGMENTS = ["full", "square", "max", "^max", "0", "90", "!0", "22.5", "pct:50", "^pct:150", "0,0,10,10", "10,",
            ",10", "!10,10", "^!500,500", "^10,10", "pct:0,0,100,100", "pct:99.9,99.9,0.1,0.1", "0,0,99999,1",
            "999999999,", "^999999999,1", "!1,999999999", "pct:1e3", "360", "360.0001", "", "..", "%2e%2e", "\u0661"]


def test_generated_requests_never_fail_the_server(iiif):
    from urllib.parse import quote

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    segment = st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=12))
    tail = st.tuples(st.sampled_from(["default", "gray", "color", "bitonal", "x"]),
                     st.sampled_from(["jpg", "png", "webp", "gif", "", "jpg.png"]))

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(segment, segment, segment, tail, st.sampled_from(["ramp.fits", "blocks.fits", "nope.fits"]))
    def check(region: str, size: str, rotation: str, qf: tuple[str, str], ident: str) -> None:
        # A "." or ".." segment would be resolved by the client itself, out of /iiif/3/: encode it, as a client must.
        path = "/".join(quote(p, safe=",:!^") if p.strip(".") else p.replace(".", "%2E")
                        for p in (ident, region, size, rotation, ".".join(qf)))
        r = iiif.get("/iiif/3/" + path)
        assert r.status_code in (200, 303, 400, 403, 404, 501), (path, r.status_code, r.text)
        assert r.headers["access-control-allow-origin"] == "*"
        if r.status_code >= 400:
            assert r.json()["detail"][0]["msg"]

    check()
