"""Pyramid build cost: time, peak memory and cache size for generated images.

Each image is opened and built in a fresh child process, so that its peak RSS (resource.getrusage) is the build's
alone, imports included. Images are generated once into --dir and reused; the source file is in the page cache
(it is read once before the runs), so the figures are for a warm source on this machine's disk. Build time is the
median over --runs (and the best run), wall clock from open to the last tile written, statistics included;
CPU is the process's user + system time; cache bytes per pixel count every channel's pixels.

Run: python benchmarks/build.py [--dir DIR] [--only NAME ...] [--runs N] [--tile-size N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STRIP_ROWS = 512  # rows generated at a time, so that generating a 1 GiB image needs little memory


def sky_rows(rng: np.random.Generator, width: int, rows: int) -> np.ndarray:
    """Noise around 100 with a few bright "stars" (3 x 3 boxes) and, now and then, a NaN pixel."""
    data = rng.standard_normal((rows, width), np.float32)
    data *= 5.0
    data += 100.0
    n = max(1, width * rows // 5000)
    ys, xs = rng.integers(1, rows - 1, n), rng.integers(1, width - 1, n)
    flux = rng.pareto(1.5, n).astype(np.float32) * 200.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            data[ys + dy, xs + dx] += flux
    data[rng.integers(0, rows, n // 10), rng.integers(0, width, n // 10)] = np.nan
    return data


def fits_header(cards: list[tuple[str, object]]) -> bytes:
    from astropy.io import fits

    return fits.Header(cards).tostring().encode("ascii")


def pad(f, size: int) -> None:
    f.write(b"\0" * (-size % 2880))


def write_fits_float(path: Path, width: int, height: int, nchannels: int = 1, seed: int = 1) -> None:
    """A float32 FITS image (a cube when nchannels > 1), written strip by strip."""
    rng = np.random.default_rng(seed)
    cards = [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 3 if nchannels > 1 else 2),
             ("NAXIS1", width), ("NAXIS2", height)]
    if nchannels > 1:
        cards.append(("NAXIS3", nchannels))
    with open(path, "wb") as f:
        f.write(fits_header(cards))
        for _ in range(nchannels):
            for y in range(0, height, STRIP_ROWS):
                f.write(sky_rows(rng, width, min(STRIP_ROWS, height - y)).astype(">f4").tobytes())
        pad(f, 4 * width * height * nchannels)


def write_mosaic(path: Path, chip_width: int = 2048, chip_height: int = 4096, overscan: int = 32,
                 gap: int = 40, seed: int = 2) -> None:
    """A 2 x 2 mosaic of 16-bit unsigned chips (BZERO 32768) with overscan columns, gaps, the right-hand chips
    read out flipped in x, as many cameras do."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(fits_header([("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 0), ("EXTEND", True)]))
        for n in range(4):
            col, row = n % 2, n // 2
            x0, y0 = 1 + col * (chip_width + gap), 1 + row * (chip_height + gap)
            x1, y1 = x0 + chip_width - 1, y0 + chip_height - 1
            detsec = f"[{x1}:{x0},{y0}:{y1}]" if col else f"[{x0}:{x1},{y0}:{y1}]"
            width = chip_width + overscan
            f.write(fits_header([
                ("XTENSION", "IMAGE"), ("BITPIX", 16), ("NAXIS", 2), ("NAXIS1", width), ("NAXIS2", chip_height),
                ("PCOUNT", 0), ("GCOUNT", 1), ("BZERO", 32768), ("EXTNAME", f"CCD{n + 1}"),
                ("DATASEC", f"[1:{chip_width},1:{chip_height}]"), ("DETSEC", detsec),
            ]))
            for y in range(0, chip_height, STRIP_ROWS):
                rows = sky_rows(rng, width, min(STRIP_ROWS, chip_height - y)) * 20.0
                np.nan_to_num(rows, copy=False)
                f.write((np.clip(rows, 0, 65535).astype(np.int32) - 32768).astype(">i2").tobytes())
            pad(f, 2 * width * chip_height)


def write_tiff16(path: Path, width: int, height: int, seed: int = 3) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    data = np.empty((height, width), np.uint16)
    for y in range(0, height, STRIP_ROWS):
        rows = np.nan_to_num(sky_rows(rng, width, min(STRIP_ROWS, height - y)) * 20.0)
        data[y:y + rows.shape[0]] = np.clip(rows, 0, 65535)
    Image.fromarray(data).save(path)


IMAGES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "float32 4096²": ("f4096.fits", lambda p: write_fits_float(p, 4096, 4096)),
    "float32 8192²": ("f8192.fits", lambda p: write_fits_float(p, 8192, 8192)),
    "float32 16384²": ("f16384.fits", lambda p: write_fits_float(p, 16384, 16384)),
    "cube 3 x 4096²": ("cube.fits", lambda p: write_fits_float(p, 4096, 4096, nchannels=3)),
    "mosaic 4 x 2048x4096 u16": ("mosaic.fits", write_mosaic),
    "TIFF 16-bit 16384²": ("tiff16.tif", lambda p: write_tiff16(p, 16384, 16384)),
}


def child(path: Path, tile_size: int, threads: int) -> None:
    """Open and build one image into a temporary folder; print the figures as JSON."""
    from tileserver.images import fits, open_image, raster  # noqa: F401  (imported once per server, not per build)
    from tileserver.store import pyramid

    folder = Path(tempfile.mkdtemp(prefix="tileserver-bench-"))
    try:
        start, cpu = time.perf_counter(), time.process_time()
        source = open_image(path, None, 2**40)
        try:
            pyramid.build(source, folder, tile_size, threads)
        finally:
            source.close()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        nbytes = sum(f.stat().st_size for f in folder.iterdir())
        print(json.dumps({
            "seconds": seconds,
            "cpu": cpu,
            "peak_rss": peak_rss(),
            "cache_bytes": nbytes,
            "pixels": source.pixels,
            "channels": source.nchannels,
        }))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def peak_rss() -> int:
    """This process's own peak RSS in bytes: VmHWM, which exec resets (ru_maxrss keeps the high-water mark of the
    forked copy of the parent, which had generated a 512 MB image)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def warm(path: Path) -> None:
    """Read the file once, so that every run finds it in the page cache."""
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def measure(path: Path, tile_size: int, threads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--tile-size", str(tile_size),
                          "--threads", str(threads)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "tileserver-bench",
                        help="where the generated images are kept between runs")
    parser.add_argument("--only", nargs="*", help="names (or parts of names) of the images to run")
    parser.add_argument("--runs", type=int, default=3, help="builds per image; the median time is shown")
    parser.add_argument("--tile-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.tile_size, args.threads)
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    names = [n for n in IMAGES if not args.only or any(part in n for part in args.only)]
    print(f"tile size {args.tile_size}, {args.threads} threads, {os.cpu_count()} cores, median of {args.runs} runs")
    print(f"{'image':<26} {'Mpixels':>8} {'build s':>8} {'best s':>7} {'CPU s':>6} {'Mpix/s':>7} "
          f"{'peak RSS MB':>12} {'cache B/pixel':>14}")
    for name in names:
        filename, generate = IMAGES[name]
        path = args.dir / filename
        if not path.exists():
            generate(path)
        warm(path)
        runs = [measure(path, args.tile_size, args.threads) for _ in range(args.runs)]
        seconds = statistics.median(r["seconds"] for r in runs)
        best = min(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rss = max(r["peak_rss"] for r in runs)
        # Pixels of every channel: a 3-channel cube has three times the data of one channel.
        pixels = runs[0]["pixels"] * runs[0]["channels"]
        print(f"{name:<26} {pixels / 1e6:8.1f} {seconds:8.2f} {best:7.2f} {cpu:6.2f} {pixels / 1e6 / seconds:7.0f} "
              f"{rss / 1e6:12.0f} {runs[0]['cache_bytes'] / pixels:14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
