"""Load, soak, chaos and full-disk runs against a real server (gunicorn workers) on 127.0.0.1, each bounded in time;
each prints a table and exits 1 when its criterion fails. Runs by hand, not in the tests.

  python benchmarks/load.py load      256 connections for 60 s: zero errors
  python benchmarks/load.py soak      10 minutes over more images than the disk cache holds: worker RSS growth
                                      under 10 %, constant file descriptors, no shared-memory leftovers
  python benchmarks/load.py chaos     kill -9 of a random worker every 20 s under load (builds included): errors
                                      only for requests in flight at a kill; every image whole afterwards
  python benchmarks/load.py diskfull  the cache on a small tmpfs that fills mid-build: a clean 507 (or 503), no
                                      torn entry, the other images still served (root: it mounts the tmpfs)

Options: --duration S, --connections N, --workers N, --keep DIR (keep the images and the server log).
The client keeps its connections alive; a request that fails on a reused connection before any byte of the answer
is retried once on a new one, as browsers do. An "error" is any other failure or unexpected status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tileserver.cluster.services import free_port

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 30.0  # seconds one request may take before it counts as an error


# -- images and server --------------------------------------------------------------------------------------------

def write_sky(path: Path, size: int, seed: int) -> None:
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    data = rng.normal(1000.0, 10.0, (size, size)).astype(np.float32)
    xs, ys = rng.integers(2, size - 2, (2, size * size // 400))
    data[ys, xs] += rng.pareto(1.3, xs.size).astype(np.float32) * 300
    fits.PrimaryHDU(data).writeto(path, overwrite=True)


@dataclass
class Server:
    data_dir: Path
    cache_dir: Path
    log: Path
    workers: int
    options: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
        env["XDG_CONFIG_HOME"] = str(self.log.parent / "config")  # no user config file
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        args = [sys.executable, "-m", "tileserver", "--no-browser", "--port", str(self.port), "--workers",
                str(self.workers), "--data-dir", str(self.data_dir), "--cache-dir", str(self.cache_dir), *self.options]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=1).read()
                if len(self.worker_pids()) == self.workers:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        from tileserver.cluster.services import stop_group

        stop_group(self.proc, 40)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children] if self.workers > 1 else [self.proc.pid]

    def rss_mb(self) -> float:
        """Resident memory of the workers, MiB."""
        return sum(_proc_rss(pid) for pid in self.worker_pids()) / 2**20

    def open_fds(self) -> tuple[int, int]:
        """File descriptors the workers hold: (pyramid files of the disk cache, everything else). Evicted pyramids
        stay open, deleted, until the worker's LRU of open images lets them go: a bounded churn, not a leak."""
        cache = other = 0
        for pid in self.worker_pids():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith(str(self.cache_dir)):
                    cache += 1
                else:
                    other += 1
        return cache, other


def _proc_rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def shm_entries() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


@contextmanager
def workspace(keep: str | None) -> Iterator[Path]:
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="tileserver-load-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        yield base
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


def tile_paths(name: str, size: int, tile: int = 256) -> list[str]:
    """Every tile of every level of a size x size image."""
    levels, longest = 1, size
    while longest > tile:
        longest, levels = -(-longest // 2), levels + 1
    out = []
    for z in range(levels):
        side = max(1, size >> (levels - 1 - z))
        n = -(-side // tile)
        out += [f"/api?FIF={name}&JTL={z},{i}" for i in range(n * n)]
    return out


# -- client -------------------------------------------------------------------------------------------------------

class Connection:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.retries = 0

    async def get(self, path: str) -> int:
        for attempt in (1, 2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            answered = False
            try:
                self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                line = await self.reader.readline()
                if not line:
                    raise ConnectionResetError("the server closed the connection")
                answered = True
                status = int(line.split()[1])
                length, close = 0, False
                while (header := await self.reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        close = True
                await self.reader.readexactly(length)
                if close:
                    self.close()
                return status
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                self.close()
                if fresh or answered or attempt == 2:
                    raise
                self.retries += 1
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Tally:
    ok: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[tuple[float, str]] = field(default_factory=list)  # (time, what)
    latencies: list[float] = field(default_factory=list)
    in_flight: int = 0
    retried: int = 0  # requests whose reused connection closed before any answer, sent again on a new one

    def error_count(self) -> int:
        return len(self.errors)


async def drive(port: int, connections: int, duration: float, pick: Callable[[random.Random], str],
                expected: frozenset[int] = frozenset({200}), tally: Tally | None = None,
                during: Callable[[Tally], asyncio.Future | None] | None = None) -> Tally:
    """`connections` clients each asking pick() in turn until `duration` seconds have passed."""
    tally = tally or Tally()
    deadline = time.monotonic() + duration

    async def client(n: int) -> None:
        rng = random.Random(n)
        conn = Connection(port)
        while time.monotonic() < deadline:
            path = pick(rng)
            start = time.monotonic()
            tally.in_flight += 1
            try:
                status = await asyncio.wait_for(conn.get(path), TIMEOUT)
            except asyncio.TimeoutError:
                conn.close()
                tally.errors.append((start, f"timeout {path}"))
                continue
            except Exception as e:
                tally.errors.append((time.monotonic(), f"{type(e).__name__} {path}"))
                await asyncio.sleep(0.05)
                continue
            finally:
                tally.in_flight -= 1
                tally.retried += conn.retries
                conn.retries = 0
            tally.statuses[status] += 1
            if status in expected:
                tally.ok += 1
                tally.latencies.append(time.monotonic() - start)
            else:
                tally.errors.append((start, f"HTTP {status} {path}"))
        conn.close()

    side = during(tally) if during else None
    await asyncio.gather(*(client(n) for n in range(connections)))
    if side is not None:
        side.cancel()
    return tally


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    print(f"\n{title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def verdict(checks: dict[str, bool]) -> int:
    for name, good in checks.items():
        print(f"  [{'pass' if good else 'FAIL'}] {name}")
    return 0 if all(checks.values()) else 1


# -- scenarios ------------------------------------------------------------------------------------------------------

def run_load(args: argparse.Namespace, base: Path) -> int:
    data, size = base / "data", 2048
    data.mkdir(exist_ok=True)
    names = [f"sky{i}.fits" for i in range(3)]
    for i, name in enumerate(names):
        write_sky(data / name, size, i)
    server = Server(data, base / "cache", base / "server.log", args.workers).start()
    try:
        for name in names:  # builds first: this run measures serving
            urllib.request.urlopen(server.url(f"/api?FIF={name}&INFO"), timeout=120).read()
        paths = [p for name in names for p in tile_paths(name, size)]

        def pick(rng: random.Random) -> str:
            r = rng.random()
            if r < 0.10:  # cold: a contrast no one asked before defeats the tile caches
                return f"{rng.choice(paths)}&CNT={rng.uniform(0.5, 2):.6f}"
            if r < 0.12:
                return f"/api?FIF={rng.choice(names)}&VAL={rng.randint(1, size)},{rng.randint(1, size)}"
            if r < 0.13:
                return f"/api?FIF={rng.choice(names)}&INFO"
            return rng.choice(paths)

        start = time.monotonic()
        tally = asyncio.run(drive(server.port, args.connections, args.duration, pick))
        elapsed = time.monotonic() - start
        alive = server.proc.poll() is None
    finally:
        server.stop()
    print_table(f"load: {args.connections} connections, {args.duration:g} s, {args.workers} workers", [
        ("requests answered", tally.ok), ("requests/s", f"{tally.ok / elapsed:.0f}"),
        ("p50 / p99 latency", f"{1e3 * percentile(tally.latencies, 50):.1f} / "
                              f"{1e3 * percentile(tally.latencies, 99):.1f} ms"),
        ("statuses", dict(tally.statuses)), ("errors", tally.error_count()),
        ("requests retried on a new connection", tally.retried),
        ("first errors", [e for _, e in tally.errors[:5]])])
    return verdict({"zero errors": tally.error_count() == 0, "server alive": alive})


def run_soak(args: argparse.Namespace, base: Path) -> int:
    data, size, count, cached, tile_cache = base / "data", 1024, 24, 8, 32 * 2**20
    data.mkdir(exist_ok=True)
    names = [f"img{i:02d}.fits" for i in range(count)]
    for i, name in enumerate(names):
        write_sky(data / name, size, 100 + i)
    shm_before = shm_entries()
    # A small tile memory cache fills within the warm-up: growth after it is not a bounded cache filling up.
    server = Server(data, base / "cache", base / "server.log", args.workers,
                    ["--max-cache-image-count", str(cached), "--max-cache-tile-bytes", str(tile_cache)]).start()
    samples: list[tuple[float, float, tuple[int, int]]] = []  # (time, RSS MiB, fds) under load
    warmup = min(120.0, args.duration / 5)
    t0 = time.monotonic()
    try:
        paths = {name: tile_paths(name, size) for name in names}

        def pick(rng: random.Random) -> str:
            name = rng.choice(names)  # 24 images through a cache of 8: a rebuild every few requests
            return rng.choice(paths[name]) + (f"&CNT={rng.uniform(0.5, 2):.4f}" if rng.random() < 0.3 else "")

        def sampler(tally: Tally) -> asyncio.Future:
            async def sample() -> None:
                while True:
                    samples.append((time.monotonic() - t0, server.rss_mb(), server.open_fds()))
                    await asyncio.sleep(10)
            return asyncio.ensure_future(sample())

        busy = frozenset({200, 503})
        tally = asyncio.run(drive(server.port, args.connections, warmup, pick, busy, during=sampler))
        rss_start, fds_start = idle_figures(server)
        asyncio.run(drive(server.port, args.connections, args.duration - warmup, pick, busy, tally, sampler))
        rss_end, fds_end = idle_figures(server)
        alive = server.proc.poll() is None
        entries = len(list((base / "cache" / "entries").iterdir()))
    finally:
        server.stop()
    leftovers = shm_entries() - shm_before
    tmp_left = list((base / "cache" / "tmp").iterdir()) if (base / "cache" / "tmp").exists() else []
    growth = (rss_end - rss_start) / rss_start
    fd_bound = args.workers * 64 * 3  # max_open_files (default 64) pyramids of 3 level files each, per worker
    print_table(f"soak: {args.duration:g} s ({warmup:g} s of warm-up), {count} images of {size}^2 through a disk "
                f"cache of {cached}, tile memory cache {tile_cache // 2**20} MiB per worker, {args.connections} "
                f"connections, {args.workers} workers", [
        ("requests answered", tally.ok), ("busy (503)", tally.statuses[503]), ("errors", tally.error_count()),
        ("requests retried on a new connection", tally.retried),
        ("pyramid builds", _count_builds(base / "server.log")), ("entries at the end", entries),
        ("worker RSS, idle after warm-up / at the end", f"{rss_start:.0f} / {rss_end:.0f} MiB"),
        ("RSS growth", f"{100 * growth:+.1f} %"),
        ("worker RSS under load, min / max", f"{min(r for _, r, _ in samples):.0f} / "
                                             f"{max(r for _, r, _ in samples):.0f} MiB"),
        ("worker fds on cache files, idle after warm-up / at the end", f"{fds_start[0]} / {fds_end[0]}"),
        ("worker fds on cache files under load, max (bound)", f"{max(f[0] for _, _, f in samples)} "
                                                             f"({fd_bound})"),
        ("worker fds on anything else, idle after warm-up / at the end", f"{fds_start[1]} / {fds_end[1]}"),
        ("new /dev/shm entries", sorted(leftovers)), ("cache tmp leftovers", len(tmp_left)),
        ("first errors", [e for _, e in tally.errors[:5]])])
    return verdict({"RSS growth under 10 %": growth < 0.10, "constant file descriptors": fds_end[1] <= fds_start[1] + 2,
                    "cache files held within max_open_files": max(f[0] for _, _, f in samples + [(0, 0, fds_end)])
                    <= fd_bound,
                    "no shared-memory leftovers": not leftovers, "no cache tmp leftovers": not tmp_left,
                    "zero errors": tally.error_count() == 0, "server alive": alive})


def idle_figures(server: Server) -> tuple[float, tuple[int, int]]:
    """Worker RSS (MiB) and open file descriptors once the clients are gone: the medians of three samples."""
    time.sleep(3)  # the server closes the connections the client left
    figures = []
    for _ in range(3):
        figures.append((server.rss_mb(), *server.open_fds()))
        time.sleep(1)
    return (statistics.median(f[0] for f in figures),
            (int(statistics.median(f[1] for f in figures)), int(statistics.median(f[2] for f in figures))))


def _count_builds(log: Path) -> int | str:
    text = log.read_text(errors="replace")
    return text.count("built ") or "?"


def run_chaos(args: argparse.Namespace, base: Path) -> int:
    data, size = base / "data", 2048
    data.mkdir(exist_ok=True)
    names = [f"sky{i}.fits" for i in range(3)]
    for i, name in enumerate(names):
        write_sky(data / name, size, i)
    fresh = [f"new{i:03d}.fits" for i in range(int(args.duration // 4) + 4)]  # built during the run
    for i, name in enumerate(fresh):
        write_sky(data / name, 1024, 500 + i)
    shm_before = shm_entries()
    server = Server(data, base / "cache", base / "server.log", args.workers).start()
    kills: list[tuple[float, int, int]] = []  # (time, pid, client connections the worker held)
    try:
        for name in names:
            urllib.request.urlopen(server.url(f"/api?FIF={name}&INFO"), timeout=120).read()
        paths = [p for name in names for p in tile_paths(name, size)]
        start = time.monotonic()

        def pick(rng: random.Random) -> str:
            if rng.random() < 0.01:  # now and then an image no one has seen: a build, which a kill may interrupt
                index = min(len(fresh) - 1, int((time.monotonic() - start) / 4))
                return f"/api?FIF={fresh[rng.randint(0, index)]}&JTL=0,0"
            return rng.choice(paths) + (f"&CNT={rng.uniform(0.5, 2):.5f}" if rng.random() < 0.1 else "")

        def killer(tally: Tally) -> asyncio.Future:
            async def kill() -> None:
                rng = random.Random(42)
                while True:
                    await asyncio.sleep(args.kill_every)
                    pids = server.worker_pids()
                    if pids:
                        pid = rng.choice(pids)
                        held = established_connections(pid)
                        os.kill(pid, signal.SIGKILL)
                        kills.append((time.monotonic(), pid, held))
            return asyncio.ensure_future(kill())

        tally = asyncio.run(drive(server.port, args.connections, args.duration, pick,
                                  expected=frozenset({200, 503}), during=killer))
        time.sleep(3)
        # Afterwards every image is whole: each of its tiles answers.
        broken = [p for name in names + fresh[:5] for p in tile_paths(name, size if name in names else 1024)
                  if _status(server.url(p)) != 200]
        alive = server.proc.poll() is None and len(server.worker_pids()) == args.workers
    finally:
        server.stop()
    leftovers = shm_entries() - shm_before
    # Each error must fall just after a kill, and there may be no more than the dead worker had connections.
    window = 5.0
    per_kill = Counter()
    stray = []
    for t, what in tally.errors:
        owner = next((k for k, (kt, _, _) in enumerate(kills) if kt - 0.5 <= t <= kt + window), None)
        if owner is None:
            stray.append(what)
        else:
            per_kill[owner] += 1
    over = [k for k, n in per_kill.items() if n > kills[k][2]]
    torn = _torn_entries(base / "cache")
    print_table(f"chaos: {args.duration:g} s, kill -9 of a worker every {args.kill_every:g} s, "
                f"{args.connections} connections, {args.workers} workers", [
        ("kills", len(kills)), ("requests answered", tally.ok), ("busy (503)", tally.statuses[503]),
        ("requests retried on a new connection", tally.retried),
        ("errors", tally.error_count()), ("errors per kill", [per_kill[k] for k in range(len(kills))]),
        ("connections the killed worker held", [n for _, _, n in kills]),
        ("errors away from any kill", len(stray)),
        ("tiles broken afterwards", len(broken)), ("torn cache entries", torn),
        ("new /dev/shm entries", sorted(leftovers)), ("first errors", [e for _, e in tally.errors[:5]])])
    return verdict({"errors only for requests in flight at a kill": not stray and not over,
                    "every image whole afterwards": not broken, "no torn cache entry": not torn,
                    "workers replaced": alive, "no shared-memory leftovers": not leftovers})


def established_connections(pid: int) -> int:
    """TCP connections a process holds open (its sockets in the ESTABLISHED state)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        count += sum(1 for line in lines if line.split()[3] == "01" and line.split()[9] in inodes)
    return count


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def _torn_entries(cache: Path) -> list[str]:
    """Published entries whose files are not what their manifest says."""
    torn = []
    for entry in (cache / "entries").iterdir() if (cache / "entries").exists() else ():
        try:
            manifest = json.loads((entry / "manifest.json").read_text())
            if any((entry / f["name"]).stat().st_size != f["bytes"] for f in manifest["files"]):
                torn.append(entry.name)
        except (OSError, ValueError, KeyError):
            torn.append(entry.name)
    return torn


def run_diskfull(args: argparse.Namespace, base: Path) -> int:
    if os.geteuid() != 0:
        raise SystemExit("diskfull mounts a tmpfs: run it as root")
    data, cache = base / "data", base / "cache"
    data.mkdir(exist_ok=True)
    cache.mkdir(exist_ok=True)
    small = [f"small{i}.fits" for i in range(3)]
    for i, name in enumerate(small):
        write_sky(data / name, 512, i)  # ~1.4 MB of pyramid each
    write_sky(data / "big.fits", 3072, 9)  # ~50 MB of pyramid: more than the tmpfs holds
    write_sky(data / "later.fits", 512, 10)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.tmpfs_mb}m", "tmpfs", str(cache)], check=True)
    server = Server(data, cache, base / "server.log", args.workers)
    try:
        server.start()
        before = {name: _status(server.url(f"/api?FIF={name}&JTL=0,0")) for name in small}
        t0 = time.monotonic()
        big = _status(server.url("/api?FIF=big.fits&JTL=0,0"))
        big_seconds = time.monotonic() - t0
        again = _status(server.url("/api?FIF=big.fits&INFO"))
        after = {name: _status(server.url(f"/api?FIF={name}&JTL=1,0&CNT=1.5")) for name in small}
        later = _status(server.url("/api?FIF=later.fits&JTL=0,0"))  # space is back after the failed build
        retry_after = _header(server.url("/api?FIF=big.fits&INFO"), "Retry-After")
        entries = sorted(p.name for p in (cache / "entries").iterdir())
        tmp_left = sorted(p.name for p in (cache / "tmp").iterdir())
        torn = _torn_entries(cache)
        usage = shutil.disk_usage(cache)
        alive = server.proc.poll() is None and len(server.worker_pids()) == args.workers
    finally:
        server.stop()
        subprocess.run(["umount", str(cache)], check=False)
    print_table(f"diskfull: cache on a {args.tmpfs_mb} MB tmpfs, {args.workers} workers", [
        ("small images before", before), ("big image (first ask)", f"{big} after {big_seconds:.1f} s"),
        ("big image (asked again)", again), ("Retry-After", retry_after), ("small images after", after),
        ("a new small image after", later), ("published entries", len(entries)), ("torn entries", torn),
        ("tmp leftovers", tmp_left), ("tmpfs used at the end", f"{(usage.used) / 2**20:.1f} MiB")])
    return verdict({"clean 507/503 for the image that does not fit": big in (503, 507) and again in (503, 507),
                    "Retry-After given": bool(retry_after), "other images still served": set(after.values()) == {200},
                    "new images still built": later == 200, "no torn entry": not torn, "no tmp leftovers": not tmp_left,
                    "workers alive": alive})


def _header(url: str, name: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.headers.get(name)
    except urllib.error.HTTPError as e:
        return e.headers.get(name)


SCENARIOS = {"load": (run_load, 60.0, 256), "soak": (run_soak, 600.0, 32), "chaos": (run_chaos, 120.0, 64),
             "diskfull": (run_diskfull, 0.0, 0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--duration", type=float, help="seconds of load (default: the scenario's)")
    parser.add_argument("--connections", type=int, help="client connections (default: the scenario's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=20.0, help="chaos: seconds between two kills")
    parser.add_argument("--tmpfs-mb", type=int, default=24, help="diskfull: size of the cache's tmpfs")
    parser.add_argument("--keep", help="folder for the images, cache and server log (kept afterwards)")
    args = parser.parse_args(argv)
    run, duration, connections = SCENARIOS[args.scenario]
    args.duration = args.duration or duration
    args.connections = args.connections or connections
    with workspace(args.keep) as base:
        return run(args, base)


if __name__ == "__main__":
    sys.exit(main())
