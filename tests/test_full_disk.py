"""A full cache disk, for real: a small tmpfs under a real server process (1 worker). An image that cannot fit is
answered 507, the episode is logged once, /healthz says degraded, the images already cached are still served, and
when room returns the server recovers by itself. Eviction makes room where it can; min_free_bytes keeps room."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from tileserver.store import space
from tileserver.store.diskcache import DiskCache

from support.images import sky
from support.servers import LiveServer, wait_for

DISK = 8 * 2**20

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (as in CI)")


@pytest.fixture
def small_disk(cache_dir: Path) -> Iterator[Path]:
    """cache_dir on its own 8 MiB tmpfs, unmounted after the test (and after its servers stopped)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(cache_dir)], check=True)
    try:
        yield cache_dir
    finally:
        subprocess.run(["umount", "-l", str(cache_dir)], check=False)


def gzipped(data_dir: Path, name: str, side: int, seed: int) -> None:
    """A gzipped FITS image: decompressed whole, so its pyramid is built before the first answer."""
    fits.PrimaryHDU(sky(side, side, seed)).writeto(data_dir / name)


def png(data_dir: Path, name: str, side: int, seed: int) -> None:
    """A grey PNG: shown from its pixels at once (a preview), its pyramid built in the background."""
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side)).astype(np.uint8)
    Image.fromarray(pixels).save(data_dir / name)


def fill(disk: Path, leave: int) -> Path:
    """Another program takes the disk's room but `leave` bytes."""
    filler = disk / "filler"
    with open(filler, "ab") as f:
        f.write(bytes(max(0, space.usage(disk).free - leave)))
    return filler


def info(server: LiveServer, name: str) -> httpx.Response:
    return httpx.get(server.url + "/api", params={"FIF": name, "INFO": ""}, timeout=60)


def tile(server: LiveServer, name: str) -> int:
    return httpx.get(server.url + "/api", params={"FIF": name, "JTL": "0,0"}, timeout=60).status_code


def cached(disk: Path) -> set[str]:
    return {e.manifest["image"]["name"] for e in DiskCache(disk, 100, 2**40).list()}


def test_a_full_disk_answers_507_logs_once_degrades_and_recovers(
        small_disk: Path, data_dir: Path, live_server: Callable[..., LiveServer]) -> None:
    for name, side, seed in (("a.fits.gz", 600, 1), ("b.fits.gz", 200, 2), ("c.fits.gz", 600, 3),
                             ("d.fits.gz", 850, 4)):
        gzipped(data_dir, name, side, seed)  # pyramids of 1.9, 0.16, 1.9 and 3.8 MB
    png(data_dir, "e.png", 900, 5)  # 4.3 MB
    server = live_server(env={"TILESERVER_MIN_FREE_BYTES": "0"})
    disk = httpx.get(server.url + "/status.json").json()["disk_cache"]
    assert disk["filesystem_bytes"] == DISK and disk["max_bytes"] == DISK // 2  # the default: half the filesystem
    assert info(server, "a.fits.gz").status_code == 200 and info(server, "b.fits.gz").status_code == 200

    # Room for c only once a (the least recently used) is evicted: evicted, and c built on the retry.
    filler = fill(small_disk, 512 * 1024)
    assert info(server, "c.fits.gz").status_code == 200
    assert cached(small_disk) == {"b.fits.gz", "c.fits.gz"}
    log = server.log.read_text()
    assert log.count("the disk is full") == 1 and "evicted 1 cache entry" in log
    assert "caching resumes" in log  # c's publication ended that episode

    # d cannot fit even with every other image evicted: 507, nothing evicted, the others still served.
    fill(small_disk, 512 * 1024)
    for _ in range(3):
        r = info(server, "d.fits.gz")
        assert r.status_code == 507
        assert r.json()["detail"][0]["msg"] == "the server's cache disk is full; try again later"
    assert tile(server, "b.fits.gz") == tile(server, "c.fits.gz") == 200
    # An image with random access is shown from its file meanwhile; its build fails too.
    assert info(server, "e.png").status_code == 200 and tile(server, "e.png") == 200
    wait_for(lambda: server.log.read_text().count("the disk is full") == 2 and not building(server),
             "the preview's build to fail")
    assert not info(server, "e.png").json()["built"]
    assert cached(small_disk) == {"b.fits.gz", "c.fits.gz"}
    log = server.log.read_text()
    assert log.count("the disk is full") == 2  # one error for this episode, not one per request
    assert "ERROR" in next(line for line in log.splitlines()[::-1] if "the disk is full" in line)
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert "507" in health.json()["problems"][0]
    metrics = dict(line.rsplit(" ", 1) for line in httpx.get(server.url + "/metrics").text.splitlines()
                   if line.startswith("tileserver_disk_cache_"))
    assert metrics["tileserver_disk_cache_writable"] == "0"
    assert 0 <= int(metrics["tileserver_disk_cache_free_bytes"]) < 2**20
    assert int(metrics["tileserver_disk_cache_filesystem_bytes"]) == DISK
    assert "Degraded: the cache disk is full" in httpx.get(server.url + "/status").text

    # Room again: healthy, d is built, and so is the preview, at its next request.
    filler.unlink()
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert server.log.read_text().count("caching resumes") == 2
    assert info(server, "d.fits.gz").status_code == 200 and tile(server, "d.fits.gz") == 200
    wait_for(lambda: info(server, "e.png").json()["built"], "the preview to be built once there is room", 60)
    assert cached(small_disk) == {"e.png"}  # d made way under the byte limit: 4 MiB, half the disk
    assert httpx.get(server.url + "/status.json").json()["disk_cache"]["writable"] is True


def building(server: LiveServer) -> bool:
    return bool(httpx.get(server.url + "/status.json").json()["builds"])


def test_min_free_bytes_evicts_to_keep_room(small_disk: Path) -> None:
    from support.images import fake_build

    cache = DiskCache(small_disk, 100, 2**40, min_free=2**20)
    for i in range(3):
        cache.get_or_build(f"k{i}", fake_build(size=600, seed=i))  # 1.9 MB each, with its levels
    assert len(cache.list()) == 3  # 5.7 MB of 8 MiB: room enough
    fill(small_disk, 512 * 1024)  # another program leaves half a MiB
    assert cache.evict() == ["k0"]  # the least recently used goes, and 1 MiB is free again
    assert space.usage(small_disk).free >= 2**20
    assert cache.evict() == []
