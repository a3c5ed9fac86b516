"""HiPS tiles made on demand: how long a tile takes the first time (reprojection from the pyramid, render, encode)
and from the memory cache, through a real server (one uvicorn worker) on a generated TAN-SIP FITS image.

Measures, per kind of answer: the median and worst latency of cold requests (never asked before) and warm ones
(the same URLs again), over the tiles that cover the image at its deepest order and at two coarser orders, plus the
Allsky preview, the MOC and the properties (the first one includes the pyramid build). Loads only 127.0.0.1.

Run: python benchmarks/hips.py [--size 4096] [--scale 0.25] [--tiles 24] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS
from astropy_healpix import lonlat_to_healpix

from tileserver.cluster.services import free_port

IMAGE = "field.fits"


def make_image(path: Path, size: int, scale: float) -> WCS:
    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 5.0, (size, size)).astype(np.float32)
    ys, xs = rng.integers(2, size - 2, (2, size * size // 4000))
    data[ys, xs] += rng.uniform(500, 20000, len(xs)).astype(np.float32)
    header = fits.Header({"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "CRVAL1": 210.8, "CRVAL2": 54.35,
                          "CRPIX1": size / 2 + 0.5, "CRPIX2": size / 2 + 0.5, "CD1_1": -scale / 3600, "CD1_2": 0.0,
                          "CD2_1": 0.0, "CD2_2": scale / 3600, "RADESYS": "ICRS", "A_ORDER": 2, "B_ORDER": 2,
                          "A_2_0": 2e-7, "B_0_2": -1e-7})
    fits.PrimaryHDU(data, header).writeto(path, overwrite=True)
    return WCS(header)


def fetch(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        answer.read()
    return (time.perf_counter() - start) * 1000


def tiles_over(wcs: WCS, size: int, order: int, limit: int) -> list[int]:
    """The tiles of `order` under a grid of points of the image, at most `limit`, in the order met."""
    grid = np.linspace(0, size - 1, 24)
    xs, ys = np.meshgrid(grid, grid)
    ra, dec = wcs.all_pix2world(xs.ravel(), ys.ravel(), 0)
    cells = lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << order, order="nested")
    return list(dict.fromkeys(int(c) for c in cells))[:limit]


def row(name: str, cold: list[float], warm: list[float]) -> str:
    def stat(values: list[float]) -> str:
        return f"{statistics.median(values):8.1f} {max(values):8.1f}" if values else f"{'-':>8} {'-':>8}"
    return f"{name:<28} {len(cold):>5} {stat(cold)} {stat(warm)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--scale", type=float, default=0.25, help="arcseconds per pixel")
    parser.add_argument("--tiles", type=int, default=24, help="tiles per order")
    parser.add_argument("--keep", type=Path, help="folder for the data and cache (default: a temporary one)")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="hips-bench-"))
    (root / "data").mkdir(parents=True, exist_ok=True)
    wcs = make_image(root / "data" / IMAGE, args.size, args.scale)
    port = free_port()
    env = {**os.environ, "TILESERVER_DATA_DIR": str(root / "data"), "TILESERVER_CACHE_DIR": str(root / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "tileserver", "--no-browser", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/hips/{IMAGE}"
    try:
        for _ in range(300):
            try:
                fetch(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        first = fetch(f"{base}/properties")
        with urllib.request.urlopen(f"{base}/properties") as answer:
            lines = answer.read().decode().splitlines()
            props = {k.strip(): v.strip() for k, v in (line.split("=", 1) for line in lines)}
        order = int(props["hips_order"])
        print(f"image {args.size}x{args.size} at {args.scale}\"/px, TAN-SIP; HiPS order {order}, 512-pixel tiles")
        print(f"first properties (pyramid build included): {first:.0f} ms\n")
        print(f"{'answer':<28} {'n':>5} {'cold p50':>8} {'max':>8} {'warm p50':>8} {'max':>8}   (ms)")
        for name, path in (("properties", "properties"), ("Moc.fits", "Moc.fits"),
                           ("Norder3/Allsky.jpg", "Norder3/Allsky.jpg")):
            cold = [fetch(f"{base}/{path}")]
            print(row(name, cold, [fetch(f"{base}/{path}") for _ in range(5)]))
        for k in sorted({order, max(0, order - 2), max(0, order - 4)}, reverse=True):
            for ext in ("jpg", "fits"):
                urls = [f"{base}/Norder{k}/Dir{n // 10000 * 10000}/Npix{n}.{ext}"
                        for n in tiles_over(wcs, args.size, k, args.tiles)]
                cold = [fetch(url) for url in urls]
                print(row(f"tile order {k} .{ext}", cold, [fetch(url) for url in urls]))
    finally:
        server.terminate()
        server.wait(10)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
