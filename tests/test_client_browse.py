"""The viewer's server side: the data-folder listing (/list), build progress (/progress), the page's configuration."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tileserver.engine import BuildState
from tileserver.store.diskcache import cache_key

from support.servers import wait_for


def test_list_shows_folders_then_images_and_skips_the_rest(client, make_fits, data_dir: Path):
    make_fits("b.fits", width=64, height=48)
    make_fits("A.FITS", width=64, height=48)
    make_fits("sub/deep.fits", width=64, height=48)
    (data_dir / "notes.txt").write_text("not an image")
    (data_dir / ".hidden.fits").write_bytes(b"")
    (data_dir / ".git").mkdir()
    (data_dir / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    body = client.get("/list").json()
    assert body["path"] == "" and body["parent"] is None and body["truncated"] is False
    assert [(e["name"], e["type"]) for e in body["entries"]] == [
        ("sub", "folder"), ("A.FITS", "image"), ("b.fits", "image"), ("pic.png", "image")]
    assert [e["path"] for e in body["entries"]] == ["sub", "A.FITS", "b.fits", "pic.png"]
    b = body["entries"][2]
    assert b["size"] == (data_dir / "b.fits").stat().st_size and b["cached"] is False
    sub = client.get("/list", params={"path": "sub"}).json()
    assert sub["path"] == "sub" and sub["parent"] == ""
    assert [e["path"] for e in sub["entries"]] == ["sub/deep.fits"]


def test_list_marks_cached_images(client, make_fits):
    make_fits("a.fits", width=64, height=48)
    make_fits("b.fits", width=64, height=48)
    assert client.get("/api", params={"FIF": "a.fits", "INFO": ""}).status_code == 200
    wait_for(lambda: client.get("/progress", params={"FIF": "a.fits"}).json()["state"] == "ready",
             what="the build behind the instant open")
    cached = {e["name"]: e["cached"] for e in client.get("/list").json()["entries"]}
    assert cached == {"a.fits": True, "b.fits": False}


@pytest.mark.parametrize("path, status", [
    ("..", 403),
    ("../", 403),
    ("sub/../..", 403),
    ("~", 403),
    ("a\\b", 403),
    ("nowhere", 404),
    ("a.fits", 404),  # a file is not a folder
])
def test_list_is_confined_to_the_data_folder(client, make_fits, path: str, status: int):
    make_fits("a.fits", width=64, height=48)
    response = client.get("/list", params={"path": path})
    assert response.status_code == status
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["query", "path"]
    assert "/" not in detail["msg"].replace("the data folder", "")  # no server path in the message


def test_list_does_not_follow_links_out(client, make_fits, data_dir: Path, tmp_path: Path):
    make_fits("inside.fits", width=64, height=48)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.fits").write_bytes(b"SIMPLE  =")
    os.symlink(outside, data_dir / "escape")
    os.symlink(outside / "secret.fits", data_dir / "secret.fits")
    os.symlink(data_dir / "inside.fits", data_dir / "alias.fits")
    names = [e["name"] for e in client.get("/list").json()["entries"]]
    assert names == ["alias.fits", "inside.fits"]
    # Like a missing folder: the answer tells nothing about what lies outside.
    response = client.get("/list", params={"path": "escape"})
    assert response.status_code == 404 and str(tmp_path) not in response.text


def test_progress_states(client, make_fits, settings_for, data_dir: Path):
    make_fits("a.fits", width=64, height=48)
    make_fits("b.fits", width=64, height=48)
    assert client.get("/progress", params={"FIF": "a.fits"}).json() == {"image": "a.fits", "state": "waiting"}
    client.get("/api", params={"FIF": "a.fits", "INFO": ""})
    # Shown at once (instant open), built in the background: ready once that build is published.
    assert wait_for(lambda: client.get("/progress", params={"FIF": "a.fits"}).json()
                    == {"image": "a.fits", "state": "ready"}, what="the build behind the instant open")
    # A build in progress in this process, as the engine records it.
    engine = client.app.state.engine
    key = cache_key(data_dir.resolve() / "b.fits", None, engine.settings.tile_size)
    engine.progress[key] = BuildState(stage="tiling", fraction=0.4242)
    try:
        body = client.get("/progress", params={"FIF": "b.fits"}).json()
    finally:
        engine.progress.pop(key)
    assert body == {"image": "b.fits", "state": "building", "stage": "tiling", "fraction": 0.4242}
    # ... and one in another worker process, as it publishes it on disk.
    engine.board.report(key, "b.fits", "reading", 0.125)
    assert client.get("/progress", params={"FIF": "b.fits"}).json()["fraction"] == 0.125
    engine.board.remove(key)


@pytest.mark.parametrize("fif, status", [("missing.fits", 404), ("../x.fits", 403), ("", 422)])
def test_progress_errors(client, fif: str, status: int):
    assert client.get("/progress", params={"FIF": fif}).status_code == status


def test_viewer_page_configuration(client_for):
    page = client_for(default_image="a.fits").get("/", params={"image": "dir/b.fits"})
    config = json.loads(re.search(r'id="tileserver-config"[^>]*>(.*?)</script>', page.text, re.S).group(1))
    assert config["image"] == "dir/b.fits" and config["api"] == "/api" and config["root"] == ""
    assert config["ws"] == "/ws"
    # Everything the page loads comes from the server itself: no CDN.
    assert not re.search(r'(src|href)="(https?:)?//', page.text)


def test_list_names_image_extensions_and_skips_table_only_fits(client, data_dir: Path):
    import numpy as np
    from astropy.io import fits

    table = fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.arange(3.0))], name="CAT")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(data_dir / "table.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((30, 20), np.float32), name="SCI"), table,
                  fits.CompImageHDU(np.zeros((10, 12), np.float32), name="COMP")]).writeto(data_dir / "mef.fits")
    fits.PrimaryHDU(np.zeros((5, 6), np.float32)).writeto(data_dir / "one.fits")
    (data_dir / "broken.fits").write_bytes(b"not FITS at all")
    entries = {e["name"]: e for e in client.get("/list").json()["entries"]}
    assert "table.fits" not in entries
    assert entries["mef.fits"]["hdus"] == [{"index": 1, "name": "SCI", "shape": [20, 30]},
                                           {"index": 3, "name": "COMP", "shape": [12, 10]}]
    assert "hdus" not in entries["one.fits"] and "broken.fits" in entries  # unknown: listed, the viewer will say
    info = client.get("/api", params={"FIF": "mef.fits[3]", "INFO": ""})
    assert info.status_code == 200 and info.json()["full_size"] == [12, 10]
