"""The shared disk cache in one process: publication, integrity checks, LRU eviction, locks and leftovers.
The same cache under several real processes is tested in test_workers.py."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tileserver.errors import CacheFull
from tileserver.store import diskcache, pyramid
from tileserver.store.diskcache import CheckedPyramid, DiskCache, tile_checksum
from tileserver.web import api

from support.images import fake_build
from support.servers import wait_for


@pytest.mark.parametrize("values, expected", [
    ([], 0),
    ([0.0, 0.0, 0.0], 0),
    ([1.0], 0x3F800000),
    ([1.0, 2.0], 0x400000003F800000),
    ([1.0, 2.0, 1.0], 0x400000003F800000 + 0x3F800000),
    ([-2.0, -2.0], 0xC0000000C0000000),
    ([float("nan")] * 4, (2 * 0x7FC000007FC00000) % 2**64),  # a constant tile does not cancel out
])
def test_tile_checksum_known_values(values, expected):
    assert int(tile_checksum(np.array(values, np.float32))) == expected


def test_build_publish_and_find_again_after_restart(tmp_path):
    cache = DiskCache(tmp_path, 10, 2**30)
    pyr = cache.open_or_build("k1", fake_build(), CheckedPyramid)
    first = pyr.tile(2, 0).copy()
    assert sorted(os.listdir(tmp_path / "tmp")) == []
    assert {p.name for p in (tmp_path / "entries" / "k1").iterdir()} == {
        "manifest.json", "last-use", "checksums.u64", "level0.f32", "level1.f32", "level2.f32"}
    again = DiskCache(tmp_path, 10, 2**30).open("k1", CheckedPyramid)  # a new process finds it
    assert again is not None and np.array_equal(again.tile(2, 0), first)
    assert again.pixel(5, 7)[0] == again.tile(2, 0)[0, 7, 5]


def corrupt_level(folder: Path, how: str, level: int = 2) -> None:
    path = folder / f"level{level}.f32"
    if how == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    elif how == "zero-fill":
        with open(path, "r+b") as f:
            f.write(bytes(path.stat().st_size))
    elif how == "zero-fill-part":
        with open(path, "r+b") as f:
            f.seek(4096)
            f.write(bytes(512))
    elif how == "delete":
        path.unlink()
    elif how == "zero-checksums":
        (folder / "checksums.u64").write_bytes(bytes((folder / "checksums.u64").stat().st_size))
    elif how == "zero-manifest":
        (folder / "manifest.json").write_bytes(bytes(100))
    elif how == "delete-manifest":
        (folder / "manifest.json").unlink()


DAMAGE = ["truncate", "zero-fill", "zero-fill-part", "delete", "zero-checksums", "zero-manifest", "delete-manifest"]


@pytest.mark.parametrize("how", DAMAGE)
def test_damage_at_rest_is_detected_and_rebuilt(tmp_path, how):
    cache = DiskCache(tmp_path, 10, 2**30)
    clean = cache.open_or_build("k", fake_build(), CheckedPyramid)
    reference = [clean.tile(2, i).copy() for i in range(9)]
    corrupt_level(tmp_path / "entries" / "k", how)
    cache = DiskCache(tmp_path, 10, 2**30)  # as after a restart
    pyr = cache.open("k", CheckedPyramid)
    if pyr is not None:  # damage the sizes do not show is found at the first read of a damaged tile
        with pytest.raises(pyramid.CorruptEntry):
            for i in range(9):
                pyr.tile(2, i)
        cache.discard(pyr.entry)
        assert cache.open("k", CheckedPyramid) is None
    rebuilt = cache.open_or_build("k", fake_build(), CheckedPyramid)
    assert all(np.array_equal(rebuilt.tile(2, i), reference[i]) for i in range(9))
    assert os.listdir(tmp_path / "tmp") == []


def test_open_entry_survives_eviction_and_removal(tmp_path):
    cache = DiskCache(tmp_path, 1, 2**30)
    pyr = cache.open_or_build("a", fake_build(seed=1), CheckedPyramid)
    expected = pyr.tile(2, 4).copy()
    cache.open_or_build("b", fake_build(seed=2), CheckedPyramid)  # evicts a
    assert not (tmp_path / "entries" / "a").exists() and not pyr.published()
    assert np.array_equal(pyr.tile(2, 4), expected)  # unlinked files stay readable while open
    shutil.rmtree(tmp_path)  # even the whole cache folder
    assert np.array_equal(pyr.tile(2, 4), expected)
    again = DiskCache(tmp_path, 1, 2**30).open_or_build("a", fake_build(seed=1), CheckedPyramid)
    assert np.array_equal(again.tile(2, 4), expected)


def touch_at(cache: DiskCache, key: str, when: float) -> None:
    os.utime(cache.entries / key / diskcache.LAST_USE, (when, when))


def test_lru_by_count_and_by_bytes(tmp_path):
    cache = DiskCache(tmp_path, 3, 2**30)
    for n, key in enumerate("abc"):
        cache.open_or_build(key, fake_build(seed=n), CheckedPyramid)
        touch_at(cache, key, 1000 + n)
    touch_at(cache, "a", 2000)  # a was used last: b is now the oldest
    cache.open_or_build("d", fake_build(seed=4), CheckedPyramid)
    assert sorted(e.key for e in cache.list()) == ["a", "c", "d"]
    one = cache.list()[0].nbytes
    cache.max_bytes = 2 * one
    assert cache.evict(keep="c") == ["a"]  # c is the oldest, but kept: a goes instead
    assert sorted(e.key for e in cache.list()) == ["c", "d"]
    assert sum(e.nbytes for e in cache.list()) <= cache.max_bytes


def test_contains_is_not_a_use(tmp_path):
    """Polling whether an image is built (/progress, the status page) keeps no entry alive in the LRU."""
    cache = DiskCache(tmp_path, 10, 2**30)
    cache.open_or_build("a", fake_build(), CheckedPyramid)
    touch_at(cache, "a", 1000)
    fresh = DiskCache(tmp_path, 10, 2**30)  # another process: its own record of recent touches
    assert fresh.contains("a") and not fresh.contains("b")
    assert fresh.last_use(fresh.list()[0]) == 1000
    fresh.get("a")  # a real use moves it
    assert fresh.last_use(fresh.list()[0]) > 1000
    corrupt_level(tmp_path / "entries" / "a", "zero-manifest")
    assert not fresh.contains("a")


def test_evict_skips_an_entry_being_opened_or_built(tmp_path):
    cache = DiskCache(tmp_path, 2, 2**30)
    cache.open_or_build("a", fake_build(seed=1), CheckedPyramid)
    cache.open_or_build("b", fake_build(seed=2), CheckedPyramid)
    touch_at(cache, "a", 1000)
    touch_at(cache, "b", 2000)
    cache.max_images = 1
    # Another process holds a's lock (opening it): eviction must pass over it and take the next candidate.
    fd = os.open(cache.locks / "a.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        assert cache.evict() == ["b"]
        assert [e.key for e in cache.list()] == ["a"]
    finally:
        os.close(fd)


def test_failed_build_leaves_nothing_and_no_lock(tmp_path):
    cache = DiskCache(tmp_path, 10, 2**30)

    def broken(folder: Path) -> dict:
        (folder / "level0.f32").write_bytes(b"half")
        raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError):
        cache.open_or_build("k", broken, CheckedPyramid)

    def full(folder: Path) -> dict:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CacheFull):
        cache.open_or_build("k", full, CheckedPyramid)
    assert os.listdir(tmp_path / "tmp") == [] and cache.list() == []
    assert not cache.building("k")
    assert cache.open_or_build("k", fake_build(), CheckedPyramid).tile(0, 0).shape == (1, 75, 75)


def test_clean_tmp_removes_only_what_dead_processes_left(tmp_path):
    cache = DiskCache(tmp_path, 10, 2**30)
    for name in ("dead.123.build", "trash.old.123.456", "live.77.build"):
        (cache.tmp / name).mkdir()
        (cache.tmp / name / "level0.f32").write_bytes(b"x")
    fd = os.open(cache.locks / "live.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a live builder of "live"
        assert cache.building("live") and not cache.building("dead")
        cache.clean_tmp()
        assert os.listdir(cache.tmp) == ["live.77.build"]
    finally:
        os.close(fd)
    cache.clean_tmp()
    assert os.listdir(cache.tmp) == []


def test_lock_follows_a_replaced_lock_file(tmp_path):
    """A waiter that opened the lock file before eviction unlinked it must not count the old file's lock as its
    own while a newcomer holds the lock of the new file."""
    cache = DiskCache(tmp_path, 10, 2**30)
    held: list[str] = []
    waiter = threading.Thread(target=lambda: _hold(cache, held))
    with cache._lock("k.lock"):
        waiter.start()
        while not _waiting_on(cache.locks / "k.lock"):
            time.sleep(0.01)
        os.unlink(cache.locks / "k.lock")
        successor = os.open(cache.locks / "k.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(successor, fcntl.LOCK_EX)  # a newcomer locks the new file
    time.sleep(0.3)  # the waiter now has the old file's lock: it must notice and wait for the new one
    assert held == []
    os.close(successor)
    waiter.join(10)
    assert held == ["taken"]


def _hold(cache: DiskCache, held: list[str]) -> None:
    with cache._lock("k.lock"):
        held.append("taken")


def _waiting_on(path: Path) -> bool:
    """Whether some process blocks in flock on path (from /proc/locks: a waiter shows as '->')."""
    inode = os.stat(path).st_ino
    return any("->" in line and f":{inode} " in line for line in Path("/proc/locks").read_text().splitlines())


def test_clear(tmp_path):
    cache = DiskCache(tmp_path, 10, 2**30)
    for key in "ab":
        cache.open_or_build(key, fake_build(), CheckedPyramid)
    (cache.tmp / "trash.x.1.2").mkdir()
    assert cache.clear() == 2
    assert cache.list() == [] and os.listdir(cache.tmp) == []


# -- through the API (in-process) ------------------------------------------------------------------------------


def tiles(client, n: int, extra: str = "", z: int = 2) -> list[bytes]:
    out = []
    for i in range(n):
        r = client.get(f"/api?FIF=sky.fits&JTL={z},{i}{extra}")
        assert r.status_code == 200, r.text
        out.append(r.content)
    return out


@pytest.mark.parametrize("how", DAMAGE)
def test_api_rebuilds_an_entry_damaged_while_serving(client_for, make_fits, cache_dir, how, monkeypatch):
    monkeypatch.setattr(api, "KEY_TTL", 0.0)  # re-check the entry at every request
    make_fits("sky.fits", width=600, height=500)
    first = client_for()
    wait_for(lambda: first.get("/api?FIF=sky.fits&INFO").json()["final"], "the build")
    reference = tiles(first, 2, "&GAM=1", z=1)  # level 1: the finest one in the cache (the full resolution is the file)
    client = client_for()
    tiles(client, 2, z=1)  # opens the entry and fills the memory cache with other renderings
    folder = next((cache_dir / "entries").iterdir())
    corrupt_level(folder, how, level=1)
    tiles(client, 2, "&GAM=1", z=1)  # not in memory: read from the damaged entry, answered from a preview, rebuilt
    wait_for(lambda: client.get("/api?FIF=sky.fits&INFO").json()["final"], "the rebuild")
    assert tiles(client, 2, "&GAM=1", z=1) == reference


def test_api_recovers_from_a_removed_cache_folder(client_for, make_fits, cache_dir, monkeypatch):
    monkeypatch.setattr(api, "KEY_TTL", 0.0)
    make_fits("sky.fits", width=600, height=500)
    client = client_for()
    reference = tiles(client, 6)
    wait_for(lambda: client.get("/progress", params={"FIF": "sky.fits"}).json()["state"] == "ready", "the build")
    shutil.rmtree(cache_dir)
    assert tiles(client, 6) == reference
    assert tiles(client, 6, "&CNT=2") == tiles(client_for(), 6, "&CNT=2")
    # Rebuilt (in the background), so it survives a restart.
    wait_for(lambda: len(list((cache_dir / "entries").iterdir())) == 1, "the rebuild")
