"""`tileserver cache warm|list|clear`: building ahead, sharding, warming through a server, and clearing."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tileserver.cli.cache import URI_COMPONENT_SAFE, main
from tileserver.store.diskcache import DiskCache

from support.servers import free_port


def cached_names(cache_dir: Path) -> list[str]:
    return sorted(e.manifest["image"]["name"] for e in DiskCache(cache_dir, 100, 2**40).list())


@pytest.fixture
def cache_cli(data_dir: Path, cache_dir: Path,
              capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `tileserver cache ...` on the test's folders: -> (exit status, stdout, stderr)."""

    def run(*args: str, cache: Path = cache_dir) -> tuple[int, str, str]:
        status = main(["-c", os.devnull, "--data-dir", str(data_dir), "--cache-dir", str(cache), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_warm_list_clear(make_fits: Callable[..., Path], data_dir: Path, cache_dir: Path, cache_cli: Any) -> None:
    make_fits("a.fits", width=300, height=200)
    make_fits("sub/b.fits", width=120, height=90, seed=2)
    make_fits("sub/deeper/c.fits", width=64, height=64, seed=3)
    (data_dir / "sub" / "notes.txt").write_text("not an image")
    status, out, err = cache_cli("warm", str(data_dir))
    assert status == 0, err
    assert [line.split()[:3] for line in out.splitlines()] == [
        ["cached", "a.fits", "300x200"], ["cached", "sub/b.fits", "120x90"], ["cached", "sub/deeper/c.fits", "64x64"]]
    assert "3 of 3 image(s) cached" in err
    assert cached_names(cache_dir) == ["a.fits", "sub/b.fits", "sub/deeper/c.fits"]

    status, out, err = cache_cli("warm", "sub/b.fits")  # already cached: found again, nothing rebuilt
    assert status == 0 and out.split()[:3] == ["cached", "sub/b.fits", "120x90"]
    status, out, err = cache_cli("list")
    assert status == 0
    assert sorted(line.split()[-1] for line in out.splitlines()) == ["a.fits", "sub/b.fits", "sub/deeper/c.fits"]
    assert out.splitlines()[0].split()[-1] == "sub/b.fits"  # the most recently used first
    assert "3 image(s)" in err

    status, out, _ = cache_cli("clear")
    assert (status, out) == (0, "removed 3 cached image(s)\n")
    assert cached_names(cache_dir) == []


def test_shards_split_the_images(make_fits: Callable[..., Path], data_dir: Path, tmp_path: Path,
                                 cache_cli: Any) -> None:
    names = [f"img{i}.fits" for i in range(7)]
    for i, name in enumerate(names):
        make_fits(name, width=64, height=48, seed=i)
    expected = {1: ["img0.fits", "img3.fits", "img6.fits"], 2: ["img1.fits", "img4.fits"],
                3: ["img2.fits", "img5.fits"]}
    for index, share in expected.items():
        cache = tmp_path / f"node{index}"
        status, out, err = cache_cli("warm", str(data_dir), "--shard", f"{index}/3", cache=cache)
        assert status == 0, err
        assert cached_names(cache) == share
        assert f"shard {index}/3 of 7" in err


def test_names_relative_to_the_data_folder_or_the_current_one(make_fits: Callable[..., Path], data_dir: Path,
                                                              cache_dir: Path, cache_cli: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    make_fits("night1/a.fits", width=64, height=64)
    make_fits("night2/b.fits", width=64, height=64)
    monkeypatch.chdir(data_dir / "night2")
    status, _, err = cache_cli("warm", "night1", "b.fits")  # under the data folder; under the current folder
    assert status == 0, err
    assert cached_names(cache_dir) == ["night1/a.fits", "night2/b.fits"]


def test_problems_are_reported_and_the_rest_is_warmed(make_fits: Callable[..., Path], data_dir: Path,
                                                     cache_dir: Path, tmp_path: Path, cache_cli: Any) -> None:
    make_fits("good.fits", width=64, height=64)
    (data_dir / "notes.txt").write_text("hello")
    (data_dir / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    outside = tmp_path / "outside.fits"
    outside.write_bytes((data_dir / "good.fits").read_bytes())
    status, out, err = cache_cli("warm", "good.fits", "missing.fits", "notes.txt", str(outside), "broken.fits")
    assert status == 1
    assert out.split()[:2] == ["cached", "good.fits"]
    assert "skipped missing.fits: no such file or folder" in err
    assert "skipped notes.txt: not an image" in err
    assert f"skipped {outside}: outside the data folder" in err
    assert "failed  broken.fits: " in err
    assert cached_names(cache_dir) == ["good.fits"]


@pytest.mark.parametrize("shard", ["0/3", "4/3", "1/0", "x", "1/", "-1/2", "1/2/3"])
def test_bad_shard(cache_cli: Any, make_fits: Callable[..., Path], shard: str) -> None:
    make_fits("a.fits", width=64, height=64)
    status, out, err = cache_cli("warm", "a.fits", f"--shard={shard}")
    assert (status, out) == (2, "")
    assert "--shard" in err and "Traceback" not in err


def test_warm_needs_a_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "environ", env)
        status = main(["-c", os.devnull, "--cache-dir", str(tmp_path / "c"), "warm", "a.fits"])
    assert status == 2 and "data_dir" in capsys.readouterr().err


@pytest.mark.parametrize("name, quoted", [
    ("a.fits", "a.fits"),
    ("night 1/field&3.fits", "night%201%2Ffield%263.fits"),
    ("x(1)!*'~_-.fits", "x(1)!*'~_-.fits"),
    ("é+=.fits", "%C3%A9%2B%3D.fits"),
])
def test_via_quotes_like_the_web_client(name: str, quoted: str) -> None:
    # The values JavaScript's encodeURIComponent gives: a proxy hashing on the raw FIF routes both alike.
    assert urllib.parse.quote(name, safe=URI_COMPONENT_SAFE) == quoted


def test_warm_via_a_server_builds_there(make_fits: Callable[..., Path], data_dir: Path, tmp_path: Path, cache_dir: Path,
                                        live_server: Callable[..., Any], cache_cli: Any) -> None:
    make_fits("a.fits", width=300, height=200)
    make_fits("night 1/b&c.fits", width=100, height=80, seed=2)
    server = live_server()
    local = tmp_path / "local-cache"
    status, out, err = cache_cli("warm", str(data_dir), "--via", server.url, cache=local)
    assert status == 0, err
    assert [line.split("  ")[:3] for line in out.splitlines()] == [
        ["cached", "a.fits", "300x200"], ["cached", "night 1/b&c.fits", "100x80"]]
    assert cached_names(cache_dir) == ["a.fits", "night 1/b&c.fits"]  # the server's cache
    assert cached_names(local) == []

    status, _, err = cache_cli("warm", "a.fits", "--via", f"http://127.0.0.1:{free_port()}", cache=local)
    assert status == 1 and "failed  a.fits: no answer from" in err
    status, _, err = cache_cli("warm", "a.fits", "--via", "ftp://example.org", cache=local)
    assert status == 2 and "--via" in err
