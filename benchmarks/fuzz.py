"""Long fuzzing run by hand against a real server (gunicorn, several workers): mutated FITS, TIFF, PNG, VOTable and
ds9 files, random API queries and websocket messages, for as long as asked. Prints a table: cases run, answers by
status class, 5xx found, worker deaths, peak RSS.

    python3 benchmarks/fuzz.py --minutes 10 --workers 2

The mutations are those of tests/test_fuzz_inputs.py (which runs a bounded number of them in CI).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx

from tileserver.cluster.services import free_port

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from support.fuzz import mutate, seed_files  # noqa: E402 - importable only once tests/ is on the path

TOKENS = ["", "0", "1", "-1", "0,0", "1,0", "2,3", "1,1:40,30", "1,1:5,5", "3,3", "1:0,100", "1:1,0,0", "1e400",
          "nan", "eq", "st", "log", "jet", "png", "webp", "fits", "9" * 12, "1,2;3,4;5,6", "../x", "%00", "1024",
          "2", "7"]
NAMES = ["JTL", "RGN", "BIN", "VAL", "PFL", "CHAN", "MINMAX", "MIX", "CTW", "CNT", "BRT", "GAM", "CMP", "INV",
         "QLT", "CVT", "STR", "SAT", "INFO", "obj"]


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


class Watcher(threading.Thread):
    """Samples the workers' pids and RSS every 0.5 s: a pid that disappears while the server runs is a death."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master, self.seen, self.peak_worker, self.peak_total = master, set(), 0, 0
        self.running = True

    def run(self) -> None:
        while self.running:
            workers = children(self.master)
            self.seen |= workers
            sizes = [rss_kb(p) for p in workers]
            self.peak_worker = max(self.peak_worker, *sizes, 0)
            self.peak_total = max(self.peak_total, sum(sizes) + rss_kb(self.master))
            time.sleep(0.5)


def api_query(rng: random.Random, fif: str) -> str:
    items = [("FIF", fif)] + [(rng.choice(NAMES), rng.choice(TOKENS)) for _ in range(rng.randint(1, 4))]
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items)


def other_routes(rng: random.Random, name: str) -> list[str]:
    """The image's other entry points: IIIF, HiPS, the measuring tools, SAMP, with random values among real ones."""
    t = lambda: quote(rng.choice(TOKENS), safe="")  # noqa: E731 - a token, percent-encoded
    return [f"/iiif/3/{name}/info.json", f"/iiif/3/{name}/{rng.choice(IIIF_REGIONS)}/{rng.choice(IIIF_SIZES)}/"
            f"{rng.choice(['0', '90', '!45', '360', t()])}/{rng.choice(['default', 'gray', 'bitonal'])}."
            f"{rng.choice(['jpg', 'png', 'webp'])}",
            f"/hips/{name}/properties", f"/hips/{name}/Moc.fits",
            f"/hips/{name}/Norder3/Allsky.{rng.choice(['jpg', 'fits'])}",
            f"/hips/{name}/Norder{rng.randrange(12)}/Dir0/Npix{rng.randrange(3000)}.{rng.choice(['jpg', 'fits'])}",
            f"/analysis/header?FIF={name}", f"/analysis/stats?FIF={name}&shape={rng.choice(SHAPES)}",
            f"/analysis/contours?FIF={name}&levels={rng.choice(['0', '100', '1,2,3', t()])}",
            f"/analysis/pixels?FIF={name}&x={t()}&y={t()}", f"/analysis/pixels?FIF={name}&x=3&y=3&r=10",
            f"/analysis/colorbar?FIF={name}&{rng.choice(NAMES)}={t()}",
            f"/samp/image?url=file:///{name}", f"/samp/votable?path={name}", f"/aladin?image={name}"]


IIIF_REGIONS = ["full", "square", "0,0,10,10", "pct:0,0,50,50", "5,5,99999,3", "pct:99.9,99.9,0.1,0.1"]
IIIF_SIZES = ["max", "^max", "10,", ",10", "!10,10", "^!500,500", "pct:50", "^pct:300", "^999999999,1", "!0,0"]
SHAPES = ["box:1,1,10,10", "circle:5,5,3", "ellipse:5,5,4,2,30", "polygon:1,1,9,1,5,8", "box:1,1,99999,99999",
          "circle:nan,1,1", "polygon:1,1"]


WS_IMAGES = ["m1.fits", "./m1.fits", "m1.fits[0]", "m2.tif", "../x", "/etc/passwd", ".h.fits", "m3.png[1]", ""]


def ws_message(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        return json.dumps({"type": rng.choice(["subscribe", "unsubscribe", "ping", "pong", "x"]),
                           "image": rng.choice([*WS_IMAGES, 1, None, [], {"a": 1}])})
    if kind < 0.8:
        return rng.choice(["[" * 3000 + "]" * 3000, '{"a":' * 1500 + "1" + "}" * 1500, "null", "1e999", "{", ""])
    return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(40)))


class SocketFuzzer(threading.Thread):
    """Websocket clients sending random messages; counts messages sent and server errors (a server_error reply, or
    a close with 1011)."""

    def __init__(self, url: str, seed: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.url, self.rng, self.deadline = url, random.Random(seed), deadline
        self.cases, self.failures = 0, []

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        while time.monotonic() < self.deadline:
            try:
                with connect(self.url, open_timeout=30, close_timeout=5) as ws:
                    json.loads(ws.recv(timeout=30))  # hello
                    for _ in range(self.rng.randint(1, 8)):
                        ws.send(ws_message(self.rng))
                        self.cases += 1
                    ws.send('{"type": "ping"}')
                    while True:
                        reply = json.loads(ws.recv(timeout=30))
                        if reply.get("kind") == "server_error":
                            self.failures.append(f"ws: {reply}")
                        if reply.get("type") == "pong":
                            break
            except ConnectionClosed as e:
                if e.rcvd is not None and e.rcvd.code == 1011:
                    self.failures.append(f"ws: closed 1011 {e.rcvd.reason}")
            except (OSError, TimeoutError) as e:
                self.failures.append(f"ws: {type(e).__name__}")
            time.sleep(0.05)


def run(minutes: float, workers: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="tileserver-fuzz-"))
    data, cache, extra = root / "data", root / "cache", root / "extra"
    failures = root / "failures"
    for folder in (data, cache, extra):
        folder.mkdir()
    seeds = seed_files()
    port = free_port()
    log = open(root / "server.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    proc = subprocess.Popen([sys.executable, "-m", "tileserver", "--no-browser", "--port", str(port), "--data-dir",
                             str(data), "--cache-dir", str(cache), "--extra-dir", str(extra), "--workers",
                             str(workers), "--tile-size", "64", "--max-cache-image-count", "40",
                             "--max-request-bytes", str(256 * 2**20), "--ws-max-messages-per-second", "1000"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    statuses: Counter[str] = Counter()
    fives: list[str] = []
    cases = 0
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(300):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            watcher = Watcher(proc.pid)
            watcher.start()
            time.sleep(1.0)
            initial = set(watcher.seen)
            deadline = time.monotonic() + 60 * minutes
            sockets = SocketFuzzer(f"ws://127.0.0.1:{port}/ws", seed, deadline)
            sockets.start()
            while time.monotonic() < deadline:
                ext = rng.choice(["fits", "tif", "png", "vot", "reg"])
                mutant = mutate(seeds[ext], rng)
                requests: list[tuple[str, str, bytes | None]] = []
                if ext in ("vot", "reg"):
                    route = "/extra/votable" if ext == "vot" else "/extra/regions"
                    name = f"m{rng.randrange(40)}.{ext}"
                    (extra / name).write_bytes(mutant)
                    requests += [("POST", route, mutant), ("GET", f"{route}?path={name}", None)]
                else:
                    name = f"m{rng.randrange(40)}.{ext}"
                    (data / name).write_bytes(mutant)
                    requests += [("GET", f"/api?{api_query(rng, name)}", None),
                                 ("GET", f"/api?FIF={name}&INFO", None), ("GET", f"/api?FIF={name}&JTL=0,0", None),
                                 ("GET", rng.choice(other_routes(rng, name)), None)]
                for method, url, body in requests:
                    try:
                        r = client.request(method, url, content=body)
                        status = r.status_code
                    except httpx.HTTPError as e:
                        status, r = 599, None
                        fives.append(f"{method} {url}: {type(e).__name__}")
                    cases += 1
                    statuses[f"{status // 100}xx"] += 1
                    if status >= 500 and r is not None and status != 503:
                        fives.append(f"{method} {url}: {status} {r.text[:120]}")
                    if status >= 500 and status != 503:  # kept, to replay it: failures/{case}-{name}
                        failures.mkdir(exist_ok=True)
                        (failures / f"{cases}-{name}").write_bytes(mutant)
            sockets.join(60)
            cases += sockets.cases
            fives += sockets.failures
            watcher.running = False
            deaths = len(watcher.seen - initial) if watcher.seen else 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
    return {"cases": cases, "statuses": dict(statuses), "5xx": fives, "deaths": deaths,
            "peak_worker_mb": watcher.peak_worker / 1024, "peak_total_mb": watcher.peak_total / 1024,
            "log": str(root / "server.log")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.minutes, args.workers, args.seed)
    print(f"| {'minutes':>7} | {'workers':>7} | {'cases':>7} | {'2xx':>6} | {'4xx':>6} | {'5xx':>4}"
          f" | {'worker deaths':>13} | {'peak RSS / worker':>17} | {'peak RSS total':>14} |")
    s = result["statuses"]
    print(f"| {args.minutes:>7g} | {args.workers:>7} | {result['cases']:>7} | {s.get('2xx', 0):>6}"
          f" | {s.get('4xx', 0):>6} | {len(result['5xx']):>4} | {result['deaths']:>13}"
          f" | {result['peak_worker_mb']:>14.0f} MB"
          f" | {result['peak_total_mb']:>11.0f} MB |")
    for line in result["5xx"][:20]:
        print("5xx:", line)
    print("server log:", result["log"])
    return 0 if not result["5xx"] and not result["deaths"] else 1


if __name__ == "__main__":
    sys.exit(main())
