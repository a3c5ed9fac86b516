"""Tiles per second and latency of a real server (gunicorn, 2 workers) under wrk, on a generated 8192² float32 FITS.

Measures: warm tiles/s (every tile of the full-resolution level, after a warm-up pass fills each worker's memory
cache), cold tiles/s (a random contrast per request defeats the tile caches), p50/p99 latency at 32 and 256
connections, and the bare render + encode time per tile in a tight loop (the ceiling). Loads only 127.0.0.1.

Run: python benchmarks/serve.py [--size 8192] [--duration 10] [--workers 2] [--threads 1] [--keep DIR]
                                [--cuts PRESET] [--extra QUERY]
Needs wrk (Debian package `wrk`). Tiles are rendered under the image's default display (zscale, gamma 1) unless
--cuts names another preset of its INFO and --extra adds parameters: the first round's default display, for a
comparison of like with like, is --cuts auto --extra '&GAM=2.2' (tiles of ~20 KB instead of ~33).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IMAGE = "sky8k.fits"

# wrk walks the listed paths in turn (each thread from its own offset); COLD adds a random contrast per request.
LUA = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local cold = %(cold)s
local counter = 0
function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end
local i = 0
function init(args)
  i = offset or 0
  math.randomseed(os.time() + i)
end
function request()
  i = i %% #paths + 1
  local path = paths[i]
  if cold then path = path .. string.format("&CNT=%%.5f", 0.5 + math.random()) end
  return wrk.format("GET", path)
end
"""


def make_sky(path: Path, size: int, seed: int = 7) -> None:
    """Noise around a background (Student-t: the heavy tails of faint sources and hot pixels), a smooth gradient
    and many stars: tiles of real-looking content, ~19 KB at quality 90 under the default cuts."""
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    data = np.empty((size, size), np.float32)
    strip = 512
    yy = np.arange(size, dtype=np.float32)
    for y0 in range(0, size, strip):
        rows = data[y0:y0 + strip]
        rows[...] = 1000.0 + 10.0 * rng.standard_t(4, rows.shape)
        rows += (30.0 * np.sin(yy[y0:y0 + strip, None] / 900.0) * np.cos(yy[None, :] / 700.0)).astype(np.float32)
    # Stars: Gaussian profiles of random flux (Pareto), stamped in 9x9 boxes.
    n = size * size // 200
    xs, ys = rng.integers(4, size - 4, n), rng.integers(4, size - 4, n)
    flux = (200.0 * (1 + rng.pareto(1.3, n))).astype(np.float32)
    k = np.arange(-4, 5, dtype=np.float32)
    psf = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 1.5**2)).astype(np.float32)
    for dy in range(9):
        for dx in range(9):
            np.add.at(data, (ys + dy - 4, xs + dx - 4), flux * psf[dy, dx])
    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0,
                          "CRPIX1": size / 2, "CRPIX2": size / 2, "CD1_1": -5.5e-5, "CD2_2": 5.5e-5})
    fits.PrimaryHDU(data, header).writeto(path, overwrite=True)


def get(url: str, timeout: float = 300) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def start_server(data_dir: Path, cache_dir: Path, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    env["XDG_CONFIG_HOME"] = str(cache_dir.parent / "config")  # no user config file
    (cache_dir.parent / "config").mkdir(parents=True, exist_ok=True)  # (astropy warns of a missing one)
    args = [sys.executable, "-m", "tileserver", "--no-browser", "--data-dir", str(data_dir), "--cache-dir",
            str(cache_dir), "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(args, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()}")
        try:
            get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"the server did not start:\n{log.read_text()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    from tileserver.cluster.services import stop_group

    stop_group(proc, 30)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def server_cpu(master: int) -> float:
    """CPU seconds used so far by the server's processes (the master and its workers): under a noisy machine,
    CPU time per tile is a steadier figure than tiles per second."""
    pids = [master, *map(int, Path(f"/proc/{master}/task/{master}/children").read_text().split())]
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, lua: Path, connections: int, duration: float, threads: int, master: int) -> dict[str, float]:
    cpu = server_cpu(master)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration:g}s", "--latency",
         "--timeout", "10s", "-s", str(lua), url],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    ).stdout
    cpu = server_cpu(master) - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "cpu_ms": 1e3 * cpu / requests,
              "wrk_ms": 1e3 * wrk_cpu / requests}
    for pct in ("50", "99"):
        result[f"p{pct}"] = _ms(re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    result["transfer"] = transfer.group(1) + transfer.group(2) if transfer else "?"
    return result


def bare_render(data_dir: Path, cache_dir: Path, paths: list[str], seconds: float = 3.0) -> tuple[float, float]:
    """Median per-tile time of read + render + encode in one thread, and the mean JPEG size."""
    from tileserver import config, iip
    from tileserver.engine import Engine
    from tileserver.images import direct

    direct.watch_leases()  # as in a server: full-resolution tiles copied from a map of the source under a lease
    settings = config.resolve({"data_dir": str(data_dir), "cache_dir": str(cache_dir)}, environ={},
                              config_file=Path(os.devnull))
    engine = Engine(settings)
    queries = [iip.parse(list(_items(p))) for p in paths]
    image = engine.open(queries[0])
    times, sizes = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for query in queries[:256]:
            start = time.perf_counter_ns()
            data = engine.tile(image, query)
            times.append(time.perf_counter_ns() - start)
            sizes.append(len(data))
    return statistics.median(times) / 1e6, statistics.mean(sizes)


def _items(path: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl, urlsplit

    return parse_qsl(urlsplit(path).query, keep_blank_values=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="image side in pixels")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--keep", metavar="DIR", help="keep the image and cache in DIR (reused by the next run)")
    parser.add_argument("--cuts", metavar="PRESET", help="a cut preset of the image's INFO (auto, zscale, 99.5%%...)")
    parser.add_argument("--extra", metavar="QUERY", default="", help="display parameters added to every tile URL")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tileserver-bench-"))
    data_dir, cache_dir = root / "data", root / "cache"
    data_dir.mkdir(parents=True, exist_ok=True)
    image = data_dir / IMAGE
    if not image.exists():
        print(f"writing a {args.size}² float32 FITS...", file=sys.stderr)
        make_sky(image, args.size)
    from tileserver.cluster.services import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data_dir, cache_dir, port, args.workers, root / "server.log")
    try:
        start = time.monotonic()
        info = json.loads(get(f"{base}/api?FIF={IMAGE}&INFO"))
        build = time.monotonic() - start
        z = info["tile_levels"] - 1
        w, h = info["full_size"]
        ts = info["tile_size"][0]
        ntiles = -(-w // ts) * -(-h // ts)
        display = args.extra
        if args.cuts:
            lo, hi = info["cuts"][0][args.cuts]
            display = f"&MINMAX=1:{lo:.9g},{hi:.9g}{display}"
        paths = [f"/api?FIF={IMAGE}&JTL={z},{i}&V={info['cache_tag']}{display}" for i in range(ntiles)]
        path_file = root / "paths.txt"
        path_file.write_text("\n".join(paths) + "\n")
        scripts = {}
        for name, cold in (("warm", "false"), ("cold", "true")):
            scripts[name] = root / f"{name}.lua"
            scripts[name].write_text(LUA % {"paths": path_file, "cold": cold})
        # Warm-up: every tile through every worker (several passes, since the kernel spreads the connections).
        wrk(base, scripts["warm"], 32, max(3.0, args.duration / 2), args.threads, proc.pid)
        rows = []
        for name in ("warm", "cold"):
            for connections in (32, 256):
                r = wrk(base, scripts[name], connections, args.duration, args.threads, proc.pid)
                rows.append((name, connections, r))
        ms, size = bare_render(data_dir, cache_dir, paths)
    finally:
        stop_server(proc)
    print(f"\nimage {w}x{h} float32, {ntiles} tiles at level {z}, build (first INFO) {build:.1f} s, "
          f"{args.workers} workers, wrk -t{args.threads}, {args.duration:g} s per run, {os.cpu_count()} cores, "
          f"display: {'cuts ' + args.cuts if args.cuts else 'default'}{' ' + args.extra if args.extra else ''}")
    # CPU time per tile is steadier than tiles/s on a shared machine: cores / (server + wrk CPU per tile) is the
    # rate this machine sustains when nothing else runs.
    print(f"{'load':6} {'conns':>5} {'tiles/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'transfer/s':>11} "
          f"{'server CPU ms/tile':>19} {'wrk CPU ms/tile':>16} {'CPU-bound tiles/s':>18}")
    for name, connections, r in rows:
        bound = os.cpu_count() / (r["cpu_ms"] + r["wrk_ms"]) * 1e3
        print(f"{name:6} {connections:>5} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7} "
              f"{r['transfer']:>11} {r['cpu_ms']:>19.3f} {r['wrk_ms']:>16.3f} {bound:>18.0f}")
    print(f"bare read + render + encode: {ms:.3f} ms per tile ({1000 / ms:.0f} tiles/s per core), "
          f"mean JPEG {size / 1024:.1f} KB")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
