"""Open first, build after: INFO and tiles while the pyramid is still being built (held back by the test hook),
preview -> final identities through every cache, the full resolution and its data read exactly from the source,
versions that never mix, and a builder killed mid-way that leaves nothing torn."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits

from tileserver.images import direct
from tileserver.store import pyramid

from support import proxies
from support.images import sky, tan_header, write_image
from support.servers import wait_for

WIDTH, HEIGHT = 600, 500  # 3 levels of 256: z=2 is the file itself, z=0 and z=1 are built
TOP = 2


@pytest.fixture
def gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """While this file exists, builds wait between two chunks of rows (in this process and in servers started with
    the environment it sets)."""
    path = tmp_path / "build-gate"
    path.touch()
    monkeypatch.setenv(pyramid.GATE_ENV, str(path))
    yield path
    path.unlink(missing_ok=True)


def info(client: Any, name: str = "a.fits") -> dict[str, Any]:
    response = client.get(f"/api?FIF={name}&INFO")
    assert response.status_code == 200, response.text
    return response.json()


def final_info(client: Any, name: str = "a.fits") -> dict[str, Any]:
    return wait_for(lambda: (i := info(client, name))["final"] and i, "the build to be final")


def tile(client: Any, z: int, i: int, name: str = "a.fits", extra: str = "") -> Any:
    response = client.get(f"/api?FIF={name}&JTL={z},{i}{extra}")
    assert response.status_code == 200, response.text
    return response


def test_info_and_tiles_before_the_build_then_final_tiles_with_new_etags(client_for, make_fits, gate, cache_dir):
    make_fits("a.fits", width=WIDTH, height=HEIGHT)
    client = client_for()
    first = info(client)
    assert first["final"] is False and first["cache_tag"].endswith("-preview")
    assert first["levels_final"] == [False, False, True]
    assert list((cache_dir / "entries").iterdir()) == []  # nothing published: the build is held
    preview = tile(client, 0, 0)
    full = tile(client, TOP, 3)
    assert preview.headers["cache-control"] == "no-store"  # no cache may keep a preview
    assert full.headers["cache-control"] != "no-store"  # the full resolution is final from the start
    assert tile(client, 0, 0).headers["etag"] == preview.headers["etag"]  # previews are the same every time
    gate.unlink()
    done = final_info(client)
    assert done["cache_tag"] == first["cache_tag"].removesuffix("-preview")
    assert done["stats"] == first["stats"]  # statistics from the sample taken at open: cuts never move
    final = tile(client, 0, 0)
    assert final.headers["etag"] != preview.headers["etag"] and final.content != preview.content
    assert "no-store" not in final.headers["cache-control"]
    # Through the memory cache and the If-None-Match of a client holding the preview: the final tile, never the
    # preview again.
    again = client.get("/api?FIF=a.fits&JTL=0,0", headers={"If-None-Match": preview.headers["etag"]})
    assert again.status_code == 200 and again.content == final.content
    assert tile(client, TOP, 3).content == full.content  # the full resolution, byte for byte the same
    fresh = client_for(cache_dir=str(cache_dir.parent / "other-cache"))
    final_info(fresh)
    assert tile(fresh, 0, 0).content == final.content and tile(fresh, 1, 1).content == tile(client, 1, 1).content
    immutable = client.get(f"/api?FIF=a.fits&JTL=0,0&V={done['cache_tag']}")
    assert "immutable" in immutable.headers["cache-control"]
    assert sorted(p.name for p in next((cache_dir / "entries").iterdir()).glob("level*")) == [
        "level0.f32", "level1.f32"]  # the cache holds the reduced levels only


def test_a_client_holding_the_preview_tag_does_not_make_every_tile_stat_the_source(client_for, make_fits, gate,
                                                                                 monkeypatch):
    """A client that opened the image during its build holds the preview's cache tag (V=) until it reloads; that
    tag names the version served, so its tiles are answered from the path's resolution like any other, while a tag
    of another version has the file looked at again at once."""
    make_fits("a.fits", width=WIDTH, height=HEIGHT)
    client = client_for()
    tag = info(client)["cache_tag"]
    gate.unlink()
    final_info(client)
    engine = client.app.state.engine
    looked = []
    key_for = engine.key_for
    monkeypatch.setattr(engine, "key_for", lambda query: looked.append(query) or key_for(query))
    for i in range(6):
        tile(client, TOP, i, extra=f"&V={tag}")
    assert len(looked) <= 1  # at most the resolution's expiry (KEY_TTL) in between
    looked.clear()
    for i in range(6):
        tile(client, TOP, i, extra="&V=0123456789abcdef01234567-preview")
    assert len(looked) == 6


@pytest.fixture(params=["pread", "leased map"])
def reads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Full-resolution windows read with a pread per row, or copied from a map under a read lease (as a server
    does: it listens for the lease-break signal)."""
    if request.param == "pread":
        yield request.param
        return
    previous = signal.getsignal(signal.SIGIO)
    monkeypatch.setattr(direct._leases, "enabled", False)  # set again by watch_leases, put back after the test
    assert direct.watch_leases()
    yield request.param
    signal.signal(signal.SIGIO, previous)


def mapped_by_us(path: Path) -> bool:
    return str(path) in Path("/proc/self/maps").read_text()


def write_source(path: Path) -> None:
    """A 500 x 300 source with random values: RGB or 16-bit TIFF in strips, or a 16-bit FITS with BSCALE, BZERO
    and BLANK."""
    from PIL import Image

    rng = np.random.default_rng(0)
    if path.name == "rgb.tif":
        Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)).save(path)
    elif path.name == "grey16.tif":
        Image.fromarray(rng.integers(0, 65536, (300, 500), dtype=np.uint16)).save(path)
    else:
        data = rng.integers(-29999, 30000, (300, 500)).astype(np.int16)
        data[::7, ::5] = -30000  # blank
        hdu = fits.PrimaryHDU(data)
        hdu.header.update(BSCALE=2.0, BZERO=10.0, BLANK=-30000)
        hdu.writeto(path)


@pytest.mark.parametrize("name", ["rgb.tif", "grey16.tif", "scaled.fits"])
def test_windows_copied_from_the_leased_map_are_the_values_pread_gives(tmp_path, monkeypatch, name):
    """Full-resolution windows (every column, or every xstep-th) of each channel, copied from the leased map (the
    rows as stored, then converted), equal those read with a pread per row."""
    from tileserver.images import open_image

    path = tmp_path / name
    write_source(path)
    previous = signal.getsignal(signal.SIGIO)
    monkeypatch.setattr(direct._leases, "enabled", False)
    assert direct.watch_leases()
    mapped = open_image(path, None, 2**40)
    monkeypatch.setattr(direct._leases, "enabled", False)  # sources opened from now on read with pread
    read = open_image(path, None, 2**40)
    try:
        assert mapped.direct is not None and read.direct is not None
        for channel in range(mapped.nchannels):
            for y0, y1, x0, x1, xstep in [(0, 300, 0, 500, 1), (17, 273, 31, 287, 1), (100, 300, 250, 500, 3)]:
                window = mapped.direct.window(channel, y0, y1, x0, x1, 1, xstep)
                assert np.array_equal(window, read.direct.window(channel, y0, y1, x0, x1, 1, xstep), equal_nan=True)
        assert mapped_by_us(path) and mapped.nchannels == (3 if name == "rgb.tif" else 1)
        if name == "scaled.fits":
            assert np.isnan(window).any()  # BLANK, through the map too
    finally:
        mapped.close()
        read.close()
        signal.signal(signal.SIGIO, previous)


@pytest.mark.parametrize("bitpix", [8, 16, 32, 64, -32, -64])
def test_values_profiles_and_cutouts_are_the_source_exactly(client_for, make_fits, data_dir, gate, bitpix, reads):
    rng = np.random.default_rng(bitpix + 100)
    dtype = {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64, -32: np.float32, -64: np.float64}[bitpix]
    data = (rng.random((HEIGHT, WIDTH)) * 200).astype(dtype)
    header = {"BSCALE": 0.5, "BZERO": 7.0} if bitpix > 0 else {}
    if bitpix in (16, 32):
        header["BLANK"] = int(data[10, 20])
    make_fits("a.fits", data=data, header=header)
    expected = fits.getdata(data_dir / "a.fits").astype(np.float32)  # astropy applies BSCALE, BZERO, BLANK
    client = client_for()
    assert info(client)["final"] is False  # all of the below is answered before the build
    for x, y in ((1, 1), (21, 11), (WIDTH, HEIGHT), (317, 233)):
        value = client.get(f"/api?FIF=a.fits&VAL={x},{y}").json()["values"][0]
        truth = expected[y - 1, x - 1]
        assert (value is None and np.isnan(truth)) or value == float(truth)
    profile = client.get("/api?FIF=a.fits&PFL=5,7:400,7").json()["profile"]
    assert [p["values"][0] for p in profile] == [None if np.isnan(v) else float(v) for v in expected[6, 4:400]]
    cutout = client.get("/api?FIF=a.fits&RGN=101,51:356,250&BIN=2&CVT=fits")
    assert cutout.headers["cache-control"] == "no-store"  # binned from the full resolution while previews
    with fits.open(io.BytesIO(cutout.content)) as hdul:
        block = expected[HEIGHT - 250:HEIGHT - 50, 100:356][::-1].reshape(100, 2, 128, 2)
        with np.errstate(invalid="ignore"):
            binned = np.nanmean(block, axis=(1, 3))[::-1]
        np.testing.assert_allclose(hdul[0].data, binned, rtol=1e-6)
    assert mapped_by_us(data_dir / "a.fits") == (reads == "leased map")  # the values above came the way named
    gate.unlink()
    final_info(client)
    assert client.get("/api?FIF=a.fits&VAL=317,233").json()["values"][0] == float(expected[232, 316])


def test_a_source_rewritten_during_the_build_never_mixes_versions(client_for, make_fits, data_dir, gate, cache_dir,
                                                                 monkeypatch):
    monkeypatch.setattr(pyramid, "CHUNK_BYTES", 4 * WIDTH * 50)  # chunks of 50 rows: the build holds after the first
    old = sky(WIDTH, HEIGHT, seed=1)
    new = sky(WIDTH, HEIGHT, seed=2)
    path = make_fits("a.fits", data=old)
    client = client_for()
    before = info(client)
    wait_for(lambda: any((cache_dir / "tmp").iterdir()), "the build to start")
    # Rewritten in place, same size: the held build has read its first rows from the old version.
    hdu = fits.PrimaryHDU(new)
    hdu.header.update(tan_header(WIDTH, HEIGHT))
    raw = io.BytesIO()
    hdu.writeto(raw)
    with open(path, "r+b") as f:
        f.write(raw.getvalue())
    gate.unlink()
    after = final_info(client)
    assert after["cache_tag"].removesuffix("-preview") != before["cache_tag"].removesuffix("-preview")
    # Nothing was published under the old version's key: its build saw the file change and dropped its work.
    keys = [p.name for p in (cache_dir / "entries").iterdir()]
    assert keys == [after["cache_tag"]]
    reference = client_for(cache_dir=str(cache_dir.parent / "ref-cache"))
    final_info(reference)
    for z, i in ((0, 0), (1, 0), (1, 1), (2, 4)):
        assert tile(client, z, i).content == tile(reference, z, i).content
    value = client.get("/api?FIF=a.fits&VAL=30,40").json()["values"][0]
    assert value == pytest.approx(float(new[39, 29]))


def test_preview_then_final_through_nginx_proxy_cache(live_server, data_dir, gate):
    write_image(data_dir / "a.fits", WIDTH, HEIGHT, seed=4)
    backend = live_server("--root-path", "/vis", env={pyramid.GATE_ENV: str(gate)})
    nginx = proxies.start_nginx([backend.port])
    try:
        url = nginx.url + "/vis/api?FIF=a.fits"
        first = httpx.get(url + "&INFO", timeout=30).json()
        assert first["final"] is False
        previews = [httpx.get(url + "&JTL=0,0", timeout=30) for _ in range(2)]
        assert [r.headers["x-cache-status"] for r in previews] == ["MISS", "MISS"]  # never stored
        full = [httpx.get(url + "&JTL=2,3", timeout=30) for _ in range(2)]
        assert [r.headers["x-cache-status"] for r in full] == ["MISS", "HIT"]  # final from the start
        gate.unlink()
        wait_for(lambda: httpx.get(url + "&INFO", timeout=30).json()["final"], "the build")
        final = [httpx.get(url + "&JTL=0,0", timeout=30) for _ in range(2)]
        assert [r.headers["x-cache-status"] for r in final] == ["MISS", "HIT"]
        assert final[0].content == final[1].content != previews[0].content
        assert final[0].headers["etag"] != previews[0].headers["etag"]
        assert httpx.get(url + "&JTL=2,3", timeout=30).content == full[0].content
    finally:
        nginx.stop()


def test_kill_9_during_the_build_leaves_nothing_torn(live_server, make_fits, data_dir, cache_dir, gate, client_for,
                                                     tmp_path):
    make_fits("a.fits", width=WIDTH, height=HEIGHT, seed=6)
    server = live_server(env={pyramid.GATE_ENV: str(gate)})
    assert httpx.get(server.url + "/api?FIF=a.fits&INFO", timeout=30).json()["final"] is False
    wait_for(lambda: any((cache_dir / "tmp").iterdir()), "the build to start")
    time.sleep(0.3)  # held after its first rows: level files half written
    assert httpx.get(server.url + "/api?FIF=a.fits&INFO", timeout=30).json()["final"] is False
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    assert list((cache_dir / "entries").iterdir()) == []  # nothing half-built is ever published
    gate.unlink()
    server = live_server()
    assert os.listdir(cache_dir / "tmp") == []  # the dead builder's folder went at start-up
    url = server.url + "/api?FIF=a.fits"
    wait_for(lambda: httpx.get(url + "&INFO", timeout=30).json()["final"], "the rebuild")
    reference = client_for(cache_dir=str(tmp_path / "ref-cache"))
    final_info(reference)
    for z, i in ((0, 0), (1, 1), (2, 5)):
        assert httpx.get(url + f"&JTL={z},{i}", timeout=30).content == tile(reference, z, i).content


def test_a_view_of_one_channel_of_a_cube_reads_and_checks_that_channel_alone(client_for, make_fits, cache_dir):
    """Each channel of a stored tile has its own checksum: damage to channel 2 of a reduced level leaves the tiles
    of channel 1 served from the entry as they are, and is found (the entry rebuilt) once channel 2 is shown."""
    rng = np.random.default_rng(8)
    make_fits("cube.fits", data=rng.normal(100, 5, (3, HEIGHT, WIDTH)).astype(np.float32))
    client = client_for()
    final_info(client, "cube.fits")
    expected = {c: tile(client, 0, 0, "cube.fits", f"&CHAN={c}").content for c in (1, 2, 3)}
    assert len(set(expected.values())) == 3
    [folder] = (cache_dir / "entries").iterdir()
    level = folder / "level0.f32"
    plane = level.stat().st_size // 3  # level 0 is one tile: the channels one after the other
    with open(level, "r+b") as f:
        f.seek(plane + 1000)
        f.write(b"\x7f" * 64)  # channel 2
    damaged = level.read_bytes()
    assert tile(client, 0, 0, "cube.fits", "&CHAN=1&CNT=1.01").status_code == 200  # new settings: read again
    assert tile(client, 0, 0, "cube.fits", "&CHAN=3&CNT=1.01").status_code == 200
    assert level.read_bytes() == damaged  # channels 1 and 3 were read without finding anything wrong
    response = client.get("/api?FIF=cube.fits&JTL=0,0&CHAN=2&CNT=1.01")
    assert response.status_code in (200, 503)  # the damage is found: the entry goes, to be built again
    final_info(client, "cube.fits")
    assert level.read_bytes() != damaged  # built again
    fresh = client_for()  # no memory cache of its own yet: every channel from the rebuilt entry, as before the damage
    assert {c: tile(fresh, 0, 0, "cube.fits", f"&CHAN={c}").content for c in (1, 2, 3)} == expected
