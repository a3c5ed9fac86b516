"""Cluster mode on this machine, through `tileserver cluster up` (real redis-server, SeaweedFS, Dask, nodes, nginx).

  python benchmarks/cluster.py [--images 20] [--size 3664] [--duration 20] [--connections 32] [--keep DIR]

Prints one table:
  - warming N images (20 x 3664^2 float32 = 1 GiB by default) with `tileserver cache warm` on 1 and on 2 Dask
    workers, each time into an empty store;
  - the first tile of an image held only in the store (the node fetches the manifest, the checksums and one ranged
    GET) versus the same tile once in the node's local tier (another rendering, so not from the memory cache), the
    median over the images;
  - tiles/s with wrk through nginx in front of 3 nodes, versus the embedded default (one `tileserver` process with
    its default settings) on the same images, both warm.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tileserver.cluster.services import free_port

ROOT = Path(__file__).resolve().parents[1]
TILE = 256


def write_sky(path: Path, size: int, seed: int) -> None:
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    data = rng.normal(1000.0, 10.0, (size, size)).astype(np.float32)
    fits.PrimaryHDU(data).writeto(path, overwrite=True)


def env_without_settings() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TILESERVER_", "AWS_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def tileserver(*args: str, env: dict[str, str] | None = None, timeout: float = 3600) -> str:
    result = subprocess.run([sys.executable, "-m", "tileserver", *args], capture_output=True, text=True,
                            env=env or env_without_settings(), timeout=timeout, check=False)
    if result.returncode != 0:
        raise SystemExit(f"tileserver {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


@contextmanager
def cluster(data: Path, state: Path, workers: int, nodes: int = 3) -> Iterator[dict]:
    info = json.loads(tileserver("cluster", "up", "--data-dir", str(data), "--state-dir", str(state),
                                 "--nodes", str(nodes), "--workers", str(workers)))
    info["env"] = json.loads((state / "cluster.json").read_text())["env"]
    try:
        yield info
    finally:
        tileserver("cluster", "down", "--state-dir", str(state))
        shutil.rmtree(state, ignore_errors=True)


def cluster_env(info: dict, data: Path, cache: Path) -> dict[str, str]:
    env = env_without_settings()
    env.update(info["env"], TILESERVER_STORE_URL=info["store"], TILESERVER_REDIS_URL=info["redis"],
               TILESERVER_DASK_SCHEDULER=info["scheduler"], TILESERVER_DATA_DIR=str(data),
               TILESERVER_CACHE_DIR=str(cache))
    return env


def warm_seconds(info: dict, data: Path, base: Path) -> float:
    start = time.monotonic()
    tileserver("cache", "warm", str(data), env=cluster_env(info, data, base / "warm-cache"))
    return time.monotonic() - start


def get(url: str) -> float:
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=300) as response:
        response.read()
    return time.monotonic() - start


def first_tiles(node: str, names: list[str], z: int) -> tuple[float, float]:
    """Median seconds of a tile's first request on a node that never saw the image, and of the same tile again
    from its local tier (another contrast, so the memory cache of encoded tiles does not answer)."""
    store, tier = [], []
    for name in names:
        store.append(get(f"{node}/api?FIF={name}&JTL={z},0"))
        tier.append(get(f"{node}/api?FIF={name}&JTL={z},0&CNT=1.5"))
    return statistics.median(store), statistics.median(tier)


def tile_paths(names: list[str], size: int) -> list[str]:
    paths = []
    for name in names:
        for z, level in ((2, size >> 2), (3, size >> 1)):  # levels with a few dozen tiles each, as a viewer zooms
            n = -(-level // TILE)
            paths += [f"/api?FIF={name}&JTL={z},{i}" for i in range(n * n)]
    return paths


def wrk(url: str, paths: list[str], base: Path, duration: int, connections: int) -> float:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    script = base / "paths.lua"
    listing = ",".join(json.dumps(p) for p in paths)
    script.write_text(f"local paths = {{{listing}}}\nlocal i = 0\n"
                      "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n")
    for path in paths:  # warm: every tile rendered once, so both sides are measured serving, not building
        get(url + path)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec:"))
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return float(line.split()[1])


def start_embedded(data: Path, cache: Path, base: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = env_without_settings()
    env.update(TILESERVER_DATA_DIR=str(data), TILESERVER_CACHE_DIR=str(cache), XDG_CONFIG_HOME=str(base))
    log = open(base / "embedded.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "tileserver", "--no-browser", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            get(url + "/healthz")
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the embedded server did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", type=int, default=3664, help="image side in pixels (3664: 51 MiB of float32)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args(argv)
    base = Path(args.keep or tempfile.mkdtemp(prefix="tileserver-cluster-bench-"))
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = [f"sky{i:02d}.fits" for i in range(args.images)]
    for i, name in enumerate(names):
        if not (data / name).exists():
            write_sky(data / name, args.size, i)
    total = sum((data / n).stat().st_size for n in names)
    rows: list[tuple[str, str]] = []
    try:
        with cluster(data, base / "state1", workers=1) as info:
            rows.append((f"warm {args.images} images ({total / 2**30:.2f} GiB), 1 worker",
                         f"{warm_seconds(info, data, base):.1f} s"))
        with cluster(data, base / "state2", workers=2) as info:
            rows.append((f"warm {args.images} images ({total / 2**30:.2f} GiB), 2 workers",
                         f"{warm_seconds(info, data, base):.1f} s"))
            z = 3 if args.size > 2 * TILE else 1
            store, tier = first_tiles(info["nodes"][0], names[:10], z)
            rows.append(("first tile, image only in the store (median of 10)", f"{1000 * store:.1f} ms"))
            rows.append(("first tile, image in the node's local tier (median of 10)", f"{1000 * tier:.1f} ms"))
            few = names[:4]
            paths = tile_paths(few, args.size)
            rate = wrk(info["url"], paths, base, args.duration, args.connections)
            rows.append((f"tiles/s through nginx, 3 nodes ({len(paths)} tiles, {args.connections} conn.)",
                         f"{rate:.0f}"))
        proc, url = start_embedded(data, base / "embedded-cache", base)
        try:
            rate = wrk(url, tile_paths(names[:4], args.size), base, args.duration, args.connections)
        finally:
            proc.terminate()
            proc.wait(30)
        rows.append((f"tiles/s, embedded default (1 process, {args.connections} conn.)", f"{rate:.0f}"))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    print(f"\n{os.cpu_count()} CPU(s); images {args.images} x {args.size}^2 float32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
