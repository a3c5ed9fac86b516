"""Regression tests of the outside audit (doc/security.rst): one or more reproductions per class of defect, each seen
failing before its fix. Classes: 1 parsers open nothing, 2 one door, 3 limits on what is decoded, 4 cost follows
channels, 5 one identity per image, 6 access rules, 7 edges of BIN, 8 no 500 on odd input, 9 protocol details,
10 depth (Host names)."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from support.images import sky


def detail(r: Any) -> dict[str, Any]:
    return r.json()["detail"][0]


def api(client: Any, fif: str, headers: dict[str, str] | None = None, **params: str) -> Any:
    return client.get("/api", params={"FIF": fif, **params}, headers=headers or {})


def assert_clean_4xx(r: Any, status: int, *secrets: str) -> None:
    assert r.status_code == status, r.text
    assert detail(r)["msg"] and "Traceback" not in r.text
    for secret in secrets:
        assert secret not in r.text


# -- 3. limits on what is really decoded -------------------------------------------------------------------------

def tiff_pages(sizes: list[tuple[int, int]]) -> bytes:
    frames = [Image.fromarray(np.zeros((h, w), np.uint8)) for w, h in sizes]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    return buf.getvalue()


def test_a_tiff_page_is_checked_before_it_is_decoded(client_for, data_dir, cache_dir):
    (data_dir / "two.tif").write_bytes(tiff_pages([(10, 10), (300, 300)]))
    client = client_for(max_image_pixels=10_000)
    assert api(client, "two.tif", INFO="").status_code == 200
    assert_clean_4xx(api(client, "two.tif[1]", INFO=""), 413)


def many_page_tiff(pages: int) -> bytes:
    """A little-endian TIFF of `pages` 4 x 4 grey pages, written directly (Pillow takes minutes for 5000 pages)."""
    entries = [(256, 3, 4), (257, 3, 4), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0), (278, 3, 4), (279, 4, 16)]
    ifd_size = 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        start = len(out)
        pixels = start + ifd_size
        following = pixels + 16 if page < pages - 1 else 0
        out += struct.pack("<H", len(entries))
        for tag, kind, value in entries:
            value = pixels if tag == 273 else value
            out += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else
                                                          struct.pack("<I", value))
        out += struct.pack("<I", following) + bytes(16)
    return bytes(out)


def test_a_tiff_of_many_pages_is_not_many_channels(client_for, data_dir):
    assert Image.open(io.BytesIO(many_page_tiff(3))).n_frames == 3
    (data_dir / "pages.tif").write_bytes(many_page_tiff(5000))
    assert_clean_4xx(api(client_for(), "pages.tif", INFO=""), 413)


def png_bomb(side: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = zlib.compress(bytes(side * (3 * side + 1)), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused_by_the_memory_budget(client_for, data_dir, cache_dir):
    """A small PNG or .fits.gz that would decode to more than max_request_bytes is refused before decoding."""
    (data_dir / "bomb.png").write_bytes(png_bomb(3000))  # ~40 KB -> 27 MB RGB, 108 MB as float32
    buf = io.BytesIO()
    fits.PrimaryHDU(np.zeros((3000, 3000), np.float32)).writeto(buf)
    (data_dir / "bomb.fits.gz").write_bytes(gzip.compress(buf.getvalue()))  # ~40 KB -> 36 MB
    client = client_for(max_request_bytes=16 * 2**20)
    for name in ("bomb.png", "bomb.fits.gz"):
        r = api(client, name, INFO="")
        assert_clean_4xx(r, 413)
        assert "max_request_bytes" in detail(r)["msg"] or "memory" in detail(r)["msg"]
    assert not any((cache_dir / "entries").iterdir())


def test_a_thin_tall_fits_is_refused_by_its_cost(client_for, data_dir):
    """2 x 20,000,000 pixels pass the pixel limit but cost a pyramid of 150,000 tiles: the budget sees it."""
    header = fits.Header({"SIMPLE": True, "BITPIX": 8, "NAXIS": 2, "NAXIS1": 2, "NAXIS2": 20_000_000})
    with open(data_dir / "thin.fits", "wb") as f:
        f.write(header.tostring().encode())
        f.truncate(2880 + -(-40_000_000 // 2880) * 2880)
    assert_clean_4xx(api(client_for(max_request_bytes=64 * 2**20), "thin.fits", INFO=""), 413)


def test_thousands_of_hdus_are_refused_before_astropy_parses_them(client_for, data_dir):
    hdus = [fits.PrimaryHDU(sky(8, 8))] + [fits.ImageHDU(np.zeros((1, 1), np.uint8)) for _ in range(5000)]
    fits.HDUList(hdus).writeto(data_dir / "many.fits")
    assert_clean_4xx(api(client_for(), "many.fits", INFO=""), 413)


def test_max_request_bytes_is_a_checked_setting(settings_for):
    from tileserver.errors import SettingError

    assert settings_for().max_request_bytes >= 2**20
    with pytest.raises(SettingError):
        settings_for(max_request_bytes=10)


# -- 4. cost follows channels ------------------------------------------------------------------------------------

def test_region_limits_count_channels(client_for, cube256):
    client = client_for(tile_size=64, max_region_tile_count=300)
    r = api(client, cube256, RGN="1,1:128,128", CVT="fits")  # 4 tiles, but x 256 channels
    assert_clean_4xx(r, 413)
    assert "channel" in detail(r)["msg"]
    assert api(client, cube256, RGN="1,1:32,32", CVT="fits").status_code == 200  # 1 tile x 256 channels: 256


@pytest.mark.parametrize("params", [{"VAL": "5,5"}, {"JTL": "1,0"}, {"INFO": ""}, {"PFL": "1,1:100,100"},
                                    {"RGN": "1,1:64,64"}])
def test_heavy_work_never_blocks_the_event_loop(client_for, cube256, monkeypatch, params):
    """While a request on a 256-channel cube reads its pixels, /healthz answers: the work runs in a thread. (Were it
    on the event loop, /healthz could not answer until it was released, and the test would see that.)"""
    from tileserver.store.sourcelevels import Levels

    client = client_for(tile_size=64)
    assert api(client, cube256, INFO="").status_code == 200
    entered, release = threading.Event(), threading.Event()

    def held(read: Any) -> Any:
        def slow_read(self: Any, *args: Any) -> Any:
            entered.set()
            release.wait(20)
            return read(self, *args)
        return slow_read

    for name in ("tile", "region", "pixel"):  # every read of an image's pixels, from its entry or its source
        monkeypatch.setattr(Levels, name, held(getattr(Levels, name)))
    if "INFO" in params:  # INFO reads no pixel: hold its serialisation instead
        from tileserver import engine as engine_module
        info = engine_module.Engine.info
        monkeypatch.setattr(engine_module.Engine, "info",
                            lambda self, image: (entered.set(), release.wait(20), info(self, image))[2])
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.setdefault("r", api(client, cube256, **params)))
    worker.start()
    assert entered.wait(20)
    healthy_while_busy = client.get("/healthz").status_code == 200 and not release.is_set()
    release.set()
    worker.join(30)
    assert healthy_while_busy and result["r"].status_code == 200, result["r"].text


# -- 5. one identity per image: tests/test_identity.py ------------------------------------------------------


# -- 6. access rules mean what they say --------------------------------------------------------------------------

def test_a_user_named_like_a_group_is_not_the_group(client_for, tmp_path, data_dir):
    from tileserver import access

    rules_file = tmp_path / "access.conf"
    rules_file.write_text("[groups]\nteam = alice\n[folders]\nteam = @team\n")
    rules = access.load_rules(rules_file)
    assert rules.may_read("alice", "team/x.fits")
    assert not rules.may_read("@team", "team/x.fits")
    assert not rules.may_read("team", "team/x.fits")
    (data_dir / "team").mkdir()
    fits.PrimaryHDU(sky(8, 8)).writeto(data_dir / "team" / "x.fits")
    secret = "a-secret-shared-with-the-proxy-0123"
    (tmp_path / "secret").write_text(secret + "\n")
    client = client_for(address="127.0.0.1", access_file=str(rules_file), proxy_secret_file=str(tmp_path / "secret"))
    for user, status in (("@team", 403), ("alice", 200)):
        headers = {"X-Remote-User": user, "X-Tileserver-Proxy-Secret": secret}
        assert api(client, "team/x.fits", headers, INFO="").status_code == status, user


# -- 7. BIN at the edges -----------------------------------------------------------------------------------------

@pytest.fixture
def ramp(make_fits: Any) -> Any:
    """A 50 x 40 image whose pixel (x, y) (FITS, 1-based) is 1000 y + x, with a TAN WCS."""
    y, x = np.mgrid[1:41, 1:51]
    return WCS(fits.getheader(make_fits("ramp.fits", (1000.0 * y + x).astype(np.float32))))


@pytest.mark.parametrize("rgn,b", [("1,1:50,40", 2), ("3,5:20,24", 2), ("2,2:49,39", 4), ("1,1:50,40", 3),
                                   ("41,31:50,40", 8), ("1,1:50,40", 64), ("5,5:5,5", 1024), ("7,9:20,12", 2)])
def test_binned_cutouts_agree_with_their_wcs(client, ramp, rgn, b):
    r = api(client, "ramp.fits", RGN=rgn, BIN=str(b), CVT="fits")
    assert r.status_code == 200, r.text
    with fits.open(io.BytesIO(r.content)) as hdul:
        data, header = hdul[0].data, hdul[0].header
    x1, y1, x2, y2 = (int(v) for v in rgn.replace(":", ",").split(","))
    height = 40
    # The region, in FITS pixels: columns x1..x2, rows from height+1-y2 to height+1-y1 (RGN's y is from the top).
    fy1, fy2 = height + 1 - y2, height + 1 - y1
    out_h, out_w = data.shape
    assert out_w == max(1, (x2 - x1 + 1) // b) and out_h == max(1, (fy2 - fy1 + 1) // b) or b > 40
    # Every output pixel is the mean of the source block it covers, and the cutout's WCS puts it where that
    # block's centre is in the source WCS.
    cut = WCS(header)
    for j, i in ((0, 0), (out_h - 1, out_w - 1), (out_h // 2, 0)):
        sx, sy = ramp.wcs_world2pix(*cut.wcs_pix2world(i + 1, j + 1, 1), 1)
        # the block's FITS pixel centre, from its mean value (1000 y + x)
        value = float(data[j, i])  # 1000 y + x, y and x whole or half (an even block's centre)
        halves = np.floor(value / 500)
        cy, cx = halves / 2, value - 500 * halves
        assert abs(float(sx) - cx) < 0.51 and abs(float(sy) - cy) < 0.51, (i, j, sx, sy, value)


# -- 8. no 500 on odd input --------------------------------------------------------------------------------------

def test_odd_names_in_content_disposition(client, make_fits, data_dir):
    make_fits("x.fits", width=20, height=20)
    for name in ("é-名.fits", 'q"uote.fits', "semi;colon,.fits", "line\u2028sep.fits"):
        (data_dir / name).write_bytes((data_dir / "x.fits").read_bytes())
        r = api(client, name, RGN="1,1:10,10", CVT="png")
        assert r.status_code == 200, (name, r.text)
        disposition = r.headers["content-disposition"]
        assert disposition.count('"') == 2 and "filename*=UTF-8''" in disposition


def test_a_non_utf8_file_name_does_not_break_a_listing(client_for, make_fits, data_dir, tmp_path):
    make_fits("good.fits", width=20, height=20)
    os.close(os.open(os.path.join(bytes(data_dir), b"bad\xff.fits"), os.O_CREAT | os.O_WRONLY))
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "ok.csv").write_text("ra,dec\n")
    os.close(os.open(os.path.join(bytes(extra), b"bad\xfe.csv"), os.O_CREAT | os.O_WRONLY))
    client = client_for(extra_dir=str(extra))
    r = client.get("/list")
    assert r.status_code == 200 and [e["name"] for e in r.json()["entries"]] == ["good.fits"]
    r = client.get("/extra/list")
    assert r.status_code == 200 and [e["name"] for e in r.json()["entries"]] == ["ok.csv"]


def test_webp_over_its_size_limit(client_for, make_fits):
    make_fits("wide.fits", np.zeros((2, 17000), np.float32), wcs=False)
    client = client_for(max_region_tile_count=10**6)
    assert_clean_4xx(api(client, "wide.fits", RGN="1,1:17000,2", CVT="webp"), 413)
    assert api(client, "wide.fits", RGN="1,1:16000,2", CVT="webp").status_code == 200


@pytest.mark.parametrize("params", [{"MIX": "1:1e300,0,0"}, {"CTW": "1e300,0,0;0,1,0;0,0,1"},
                                    {"MINMAX": "1:-1e300,1e300"}, {"MIX": "2:-1e38,1e38,1e38"},
                                    {"MINMAX": "1:1e-300,2e-300"}])
def test_extreme_weights_and_cuts(client, make_fits, params):
    make_fits("cube.fits", np.stack([sky(40, 30, seed=s) for s in (1, 2, 3)]))
    for extra in ({"JTL": "0,0"}, {"RGN": "1,1:40,30"}):
        r = api(client, "cube.fits", **params, **extra)
        assert r.status_code in (200, 422), r.text


def test_deeply_nested_json_on_the_websocket_gets_a_close_frame(client):

    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_text("[" * 2000 + "]" * 2000)
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["kind"] == "value_error"
        ws.send_text(json.dumps({"type": "ping"}))
        assert ws.receive_json()["type"] == "pong"


def header_with_cards(cards: list[bytes]) -> bytes:
    """A small valid FITS file whose primary header also holds `cards` (raw 80-byte images, as archives have)."""
    buf = io.BytesIO()
    fits.PrimaryHDU(sky(20, 10)).writeto(buf)
    raw = bytearray(buf.getvalue())
    end = raw.index(b"END" + b" " * 77)
    body = b"".join(c.ljust(80) for c in cards)
    assert len(body) + end + 80 <= 2880
    raw[end:end + len(body) + 80] = body + b"END".ljust(80)
    return bytes(raw)


def test_cards_astropy_cannot_parse_are_kept_as_text(client, data_dir):
    cards = [b"BADF    = 1.0.0", b"BADQ    = 'unterminated", b"LATIN   = 'caf\xe9'", b"BAD KEY = 3",
             b"NUL     = 'a\x00b'", b"CONTINUE  'orphan'", b"BADL    = Tee", b"BADC    = (1, 2, 3)",
             b"CRPIX1  = 'ten'", b"EQUINOX = 2000.0.0"]
    (data_dir / "cards.fits").write_bytes(header_with_cards(cards))
    r = api(client, "cards.fits", INFO="")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["header"]["BADF"] in ("1.0.0", "= 1.0.0")
    assert "BADQ" in info.get("unparsed_cards", []) or "BADQ" in info["header"]
    assert api(client, "cards.fits", JTL="0,0").status_code == 200
    assert api(client, "cards.fits", RGN="1,1:20,10", CVT="fits").status_code == 200


# -- 9. protocol details -----------------------------------------------------------------------------------------

def test_if_none_match_star_on_a_missing_tile_or_region(client, make_fits):
    make_fits("a.fits", width=30, height=20)
    star = {"If-None-Match": "*"}
    assert api(client, "a.fits", star, JTL="0,0").status_code == 304
    assert api(client, "a.fits", star, JTL="0,99").status_code == 404
    assert api(client, "a.fits", star, JTL="9,0").status_code == 404
    assert api(client, "a.fits", star, RGN="1,1:99,99").status_code == 422


def test_progress_of_a_dead_builder(client, make_fits, cache_dir):
    make_fits("a.fits", width=30, height=20)
    from tileserver.datapath import resolve
    from tileserver.store import diskcache
    from tileserver.store.progress import ProgressBoard

    path = resolve(Path(client.app.state.settings.data_dir), "a.fits")
    key = diskcache.cache_key(path, None, client.app.state.settings.tile_size)
    board = ProgressBoard(cache_dir / "progress")
    board.report(key, "a.fits", "tiling", 0.5)
    record = json.loads((cache_dir / "progress" / f"{key}.json").read_text())
    record["pid"] = 2**22 + 12345  # no such process
    (cache_dir / "progress" / f"{key}.json").write_text(json.dumps(record))
    assert client.get("/progress", params={"FIF": "a.fits"}).json()["state"] == "waiting"


def test_a_data_folder_at_the_root_serves(client_for, make_fits, data_dir):
    make_fits("a.fits", width=30, height=20)
    client = client_for(data_dir="/")
    relative = str(data_dir / "a.fits").lstrip("/")
    assert api(client, relative, INFO="").status_code == 200
    folder = str(data_dir).lstrip("/")
    assert [e["name"] for e in client.get("/list", params={"path": folder}).json()["entries"]] == ["a.fits"]


def test_a_quick_look_of_files_in_different_top_folders(make_fits, cache_dir, capsys):
    from tileserver import cli

    a = make_fits("a.fits", width=20, height=20)
    other = Path("/var/tmp") / f"trust-{os.getpid()}.fits"
    other.write_bytes(a.read_bytes())
    try:
        code = cli.main([str(a), str(other), "--no-browser", "--cache-dir", str(cache_dir), "--get",
                         "/api?FIF=" + str(other).lstrip("/") + "&INFO"])
    finally:
        other.unlink()
    assert code == 0, capsys.readouterr().err


# -- 10. depth: Host names ---------------------------------------------------------------------------------------

def test_a_loopback_server_answers_loopback_host_names_only(settings_for):
    from starlette.testclient import TestClient

    from tileserver.web.app import create_app

    app = create_app(settings_for(host="127.0.0.1", allowed_hosts=""))
    for base, ok in (("http://127.0.0.1:8009", True), ("http://localhost:8009", True), ("http://[::1]:8009", True),
                     ("http://attacker.example:8009", False), ("http://127.0.0.1.nip.io", False),
                     ("http://viewer.localhost", True)):
        with TestClient(app, base_url=base, raise_server_exceptions=False) as c:
            r = c.get("/healthz")
            assert (r.status_code == 200) == ok, (base, r.status_code)
    app = create_app(settings_for(host="127.0.0.1", allowed_hosts="sky.example.org"))
    with TestClient(app, base_url="http://sky.example.org") as c:
        assert c.get("/healthz").status_code == 200
    app = create_app(settings_for(host="0.0.0.0", allowed_hosts=""))
    with TestClient(app, base_url="http://anything.example") as c:
        assert c.get("/healthz").status_code == 200



def test_the_kubernetes_example_trusts_only_the_ingress_pods():
    import ipaddress

    import yaml

    root = Path(__file__).resolve().parent.parent
    docs = list(yaml.safe_load_all((root / "deploy" / "kubernetes" / "tileserver.yaml").read_text()))
    env = [e for d in docs if d and d.get("kind") in ("Deployment", "StatefulSet")
           for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])]
    value = next(e["value"] for e in env if e["name"] == "TILESERVER_TRUSTED_PROXIES")
    for net in value.split(","):
        assert ipaddress.ip_network(net.strip()).num_addresses <= 256, value  # a pod range, not the pod network


@pytest.mark.parametrize("body", ["image\npolygon()\n", "image\ncircle(1e999,2,3)\n", "fk5\ncircle(10,20,1e999\")\n",
                                  "image\nbox(1,2,3,4,1e999)\n", "image\npolygon(1,2,3,4,5,1e999)\n"])
def test_region_files_with_empty_or_infinite_shapes(client, body):
    """Found by benchmarks/fuzz.py: these answered 500 (an empty polygon's ring, inf in the JSON)."""
    r = client.post("/extra/regions", content=body.encode())
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert r.json()["features"] == [] and r.json()["skipped"]
