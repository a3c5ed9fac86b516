"""Cache entries left by an upgrade (another cache format) or broken (unreadable manifest), written on disk as
older versions wrote them: listed as stale, counted against the byte limit and evicted first, logged at start-up,
and removed by `tileserver cache clear`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tileserver.cli.cache import main
from tileserver.store import pyramid
from tileserver.store.diskcache import DiskCache

from support.images import fake_build
from support.servers import LiveServer

MiB = 2**20


@pytest.fixture
def cache_cli(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """`tileserver cache ...` on the test's cache folder: -> (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main(["-c", os.devnull, "--cache-dir", str(cache_dir), *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def old_entries(cache_dir: Path) -> dict[str, int]:
    """Three stale entries as an older version, a crash or a bad copy left them: key -> bytes."""
    made = {}
    for key, manifest, size in (
            ("0ld0format0entry00000001", json.dumps({"format": 2, "files": [{"z": 0, "name": "level0.f32",
                                                                          "bytes": MiB}]}).encode(), MiB),
            ("c0rrupt0manifest00000002", b"\x00\x17{not json", 2 * MiB),
            ("n0manifest0000000000003", None, MiB // 2)):
        folder = cache_dir / "entries" / key
        folder.mkdir(parents=True)
        (folder / "level0.f32").write_bytes(os.urandom(size))
        (folder / "last-use").touch()
        if manifest is not None:
            (folder / "manifest.json").write_bytes(manifest)
        made[key] = size + len(manifest or b"")
    return made


def test_stale_entries_are_listed_counted_and_evicted_first(cache_dir: Path, cache_cli: Callable) -> None:
    cache = DiskCache(cache_dir, 10, 4 * MiB, min_free=0)
    cache.get_or_build("current", fake_build(size=300))  # 0.5 MB, of this version
    made = old_entries(cache_dir)
    stale = {s.key: s for s in cache.stale()}
    assert {k: s.nbytes for k, s in stale.items()} == made
    assert stale["0ld0format0entry00000001"].reason == f"cache format 2, not {pyramid.FORMAT_VERSION}"
    assert stale["c0rrupt0manifest00000002"].reason == "unreadable manifest"
    assert stale["n0manifest0000000000003"].reason == "no manifest"

    status, out, err = cache_cli("list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("current ") and len(lines) == 4
    assert {line.split()[0] for line in lines if "STALE: " in line} == set(made)
    assert "1 image(s)" in err and "3 stale entries (3.5 MiB), evicted first" in err

    # 0.5 + 3.5 MB is within 4 MiB; 0.75 MiB is not: every stale entry goes before the current one, which was
    # used more recently or not.
    cache.max_bytes = 3 * MiB // 4
    assert sorted(cache.evict()) == sorted(made) and [e.key for e in cache.list()] == ["current"]
    assert cache.stale() == []


def test_start_up_logs_stale_data_and_clear_empties_the_cache(cache_dir: Path, cache_cli: Callable,
                                                              live_server: Callable[..., LiveServer]) -> None:
    cache = DiskCache(cache_dir, 10, 2**40)
    cache.get_or_build("current", fake_build(size=300))
    old_entries(cache_dir)
    (cache_dir / "tmp" / "trash.gone.1.2").mkdir()  # a removal cut short
    (cache_dir / "locks" / "0ld0format0entry00000001.lock").touch()
    server = live_server()
    log = server.log.read_text()
    assert "3 stale entries of 3.5 MiB (another cache format, or an unreadable manifest)" in log
    assert "`tileserver cache clear` removes them" in log
    server.stop()

    status, out, _ = cache_cli("clear")
    assert (status, out) == (0, "removed 1 cached image(s) and 3 stale entries (3.5 MiB)\n")
    assert os.listdir(cache_dir / "entries") == [] and os.listdir(cache_dir / "tmp") == []
    assert set(os.listdir(cache_dir / "locks")) <= {"evict.lock"}
    status, out, err = cache_cli("list")
    assert (status, out) == (0, "") and err.startswith("0 image(s), 0.0 MiB in ")
