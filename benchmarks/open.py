"""What a user gets when opening a never-seen image: a real server, timed from the first request.

For generated images (float32 FITS of 1 GiB and 4 GiB, a 16-bit TIFF, a RICE tile-compressed FITS), each on a fresh
cache folder so that the server has never seen it: the time to INFO, to the z=0 tile, to a full-resolution tile
(the centre one), until the build is final (INFO's cache tag loses its preview mark, or INFO answers at all when the
server builds before answering), the disk cache's bytes per pixel and the peak RSS of the server's process tree
(sampled every 10 ms), and the write floor: the time this machine takes to write as many bytes as the cache holds
to a new file (a build cannot be final sooner). VisiOmatic's recorded figures are printed beside them.

The source is read once before each run (as a user's freshly written or recently opened file would be), so the
figures are those of a source in the page cache; --cold evicts the file from the page cache first
(posix_fadvise DONTNEED, this file only), which then measures the disk. The disk's sequential read bandwidth is
measured with dd (O_DIRECT) and printed with the tables, since a cold open cannot beat it.

Run: python benchmarks/open.py [--dir DIR] [--only NAME ...] [--cold] [--workers N] [--keep]
Generated files are several GiB: they are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build import STRIP_ROWS, sky_rows, write_fits_float, write_tiff16
from serve import start_server, stop_server

from tileserver.cluster.services import free_port

VISIOMATIC = "VisiOmatic (recorded): 9.6-10.3 s to first view per GiB, 3.6 GB RSS per GiB, 9.33 B/px"
POLL = 0.02  # seconds between two INFO polls while waiting for the final build


def write_rice(path: Path, width: int, height: int, seed: int = 4) -> None:
    """A float32 image compressed in tiles of one row with RICE_1 (astropy's default tiling and quantization)."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    data = np.empty((height, width), np.float32)
    for y in range(0, height, STRIP_ROWS):
        data[y:y + STRIP_ROWS] = np.nan_to_num(sky_rows(rng, width, min(STRIP_ROWS, height - y)), nan=100.0)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, compression_type="RICE_1")]).writeto(path)


IMAGES: dict[str, tuple[str, Callable[[Path], None], int]] = {
    "float32 16384² (1 GiB)": ("open-f16k.fits", lambda p: write_fits_float(p, 16384, 16384), 16384),
    "float32 32768² (4 GiB)": ("open-f32k.fits", lambda p: write_fits_float(p, 32768, 32768), 32768),
    "TIFF 16-bit 16384²": ("open-t16k.tif", lambda p: write_tiff16(p, 16384, 16384), 16384),
    "RICE float32 8192²": ("open-rice8k.fits", lambda p: write_rice(p, 8192, 8192), 8192),
}


class TreeRss:
    """Peak summed RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, root: int) -> None:
        self.root, self.peak, self._stop = root, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    todo += map(int, Path(f"/proc/{pid}/task/{task}/children").read_text().split())
            except OSError:
                pass
        return pids

    def sample(self) -> int:
        total = 0
        for pid in self._tree():
            try:
                m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            except OSError:
                continue
            total += int(m.group(1)) * 1024 if m else 0
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def get(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=600) as response:
        return response.read(), dict(response.headers)


def warm(path: Path, cold: bool) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if cold:
            os.fsync(fd)  # freshly written pages must be clean before they can be dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        else:
            while os.read(fd, 16 << 20):
                pass
    finally:
        os.close(fd)


def cache_bytes(cache: Path) -> int:
    return sum(f.stat().st_size for f in (cache / "entries").rglob("*") if f.is_file())


def measure(data: Path, name: str, width: int, workers: int, cold: bool, scratch: Path) -> dict[str, float]:
    cache = scratch / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    port = free_port()
    proc = start_server(data, cache, port, workers, scratch / f"server-{name}.log")
    try:
        warm(data / name, cold)
        rss = TreeRss(proc.pid)
        api = f"http://127.0.0.1:{port}/api?FIF={name}"
        start = time.perf_counter()
        info = json.loads(get(api + "&INFO")[0])
        t_info = time.perf_counter() - start
        get(api + "&JTL=0,0")
        t_z0 = time.perf_counter() - start
        top = info["tile_levels"] - 1
        ts = info["tile_size"][0]
        cols = -(-info["full_size"][0] // ts)
        centre = (info["full_size"][1] // 2 // ts) * cols + info["full_size"][0] // 2 // ts
        get(api + f"&JTL={top},{centre}")
        t_full = time.perf_counter() - start
        while not info.get("final", True):
            time.sleep(POLL)
            info = json.loads(get(api + "&INFO")[0])
        t_final = time.perf_counter() - start
        time.sleep(0.2)
        peak = rss.stop()
        pixels = info["full_size"][0] * info["full_size"][1] * info["channels"]
        written = cache_bytes(cache)
        return {"info": t_info, "z0": t_z0, "full": t_full, "final": t_final,
                "bpp": written / pixels, "rss": peak / 2**20, "written": written}
    except BaseException:
        shutil.rmtree(cache, ignore_errors=True)
        raise
    finally:
        stop_server(proc)


def write_floor(folder: Path, nbytes: int) -> float:
    """Seconds to write nbytes to a new file in `folder` (buffered, no fsync, as a build writes): the least a build
    that writes as much can take on this machine. Where the host of a virtual machine takes back the memory it sees
    free, most of it is the kernel taking fresh pages for the page cache. Pages just freed are quick to take again:
    this runs while the run's cache entry still holds its pages, a few seconds after the server stopped."""
    time.sleep(5)
    path = folder / "write-floor.tmp"
    block = bytes(4 << 20)
    start = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(nbytes // len(block)):
            f.write(block)
        f.write(block[:nbytes % len(block)])
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def disk_bandwidth(path: Path) -> str:
    """Sequential read bandwidth of the disk under `path`, O_DIRECT (no page cache), as dd reports it."""
    out = subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=16M", "count=64", "iflag=direct"],
                         capture_output=True, text=True).stderr.strip().splitlines()
    return out[-1] if out else "dd failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/work") / "tileserver-open-bench"
                        if Path("/work").is_dir() else Path.home() / "tileserver-open-bench")
    parser.add_argument("--only", nargs="*", help="names (or parts of names) of the images to run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="evict each source from the page cache first")
    parser.add_argument("--keep", action="store_true", help="keep the generated images")
    args = parser.parse_args(argv)
    data = args.dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    chosen = {k: v for k, v in IMAGES.items() if not args.only or any(o in k or o in v[0] for o in args.only)}
    rows = []
    try:
        for label, (name, write, _) in chosen.items():
            if not (data / name).exists():
                print(f"generating {label} ...", file=sys.stderr, flush=True)
                write(data / name)
            result = measure(data, name, 0, args.workers, args.cold, args.dir)
            result["floor"] = write_floor(args.dir, result["written"])
            shutil.rmtree(args.dir / f"cache-{name}", ignore_errors=True)
            rows.append((label, result))
            print(f"{label}: {result}", file=sys.stderr, flush=True)
        bandwidth = disk_bandwidth(next(data / v[0] for v in chosen.values()))
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    print(f"\nopen of never-seen images, real server ({args.workers} worker(s)), source "
          f"{'evicted from' if args.cold else 'in'} the page cache, {os.cpu_count()} cores")
    print(f"{'image':<24} {'INFO s':>7} {'z=0 s':>7} {'full-res s':>10} {'final s':>8} {'cache B/px':>10} "
          f"{'peak RSS MB':>11} {'write floor s':>13}")
    for label, r in rows:
        print(f"{label:<24} {r['info']:>7.2f} {r['z0']:>7.2f} {r['full']:>10.2f} {r['final']:>8.2f} "
              f"{r['bpp']:>10.2f} {r['rss']:>11.0f} {r['floor']:>13.2f}")
    print("write floor: writing the cache's bytes to a new file on the same disk, buffered, before the cache is freed")
    print(VISIOMATIC)
    print(f"disk read bandwidth (dd, O_DIRECT, 1 GiB): {bandwidth}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
