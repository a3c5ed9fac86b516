"""Cluster mode on real engines: `tileserver cluster up` starts redis-server, SeaweedFS, a Dask scheduler with two
workers, three nodes and nginx on loopback; the tests drive it through nginx and the nodes, and break its parts for
real (kill -9, restarts, a full disk). One cluster for the module: a test that breaks a part restores it, and the
test that kills a node comes last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tileserver import config
from tileserver.cluster import launcher, services
from tileserver.cluster.bus import RedisBus
from tileserver.errors import SettingError
from tileserver.store.diskcache import DiskCache

from support.images import write_image
from support.servers import free_port, wait_for

pytestmark = pytest.mark.proxy

IMAGES = [f"field{i}.fits" for i in range(4)]


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TILESERVER_", "AWS_"))}
    return subprocess.run([sys.executable, "-m", "tileserver", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


class Cluster:
    def __init__(self, info: dict[str, Any], state: Path, data: Path) -> None:
        self.info, self.state, self.data = info, state, data
        self.url = info["url"]
        self.nodes = info["nodes"]
        self.saved = launcher.load(state)
        self.bus = RedisBus(info["redis"])

    def store(self) -> Any:
        return services.s3_client(self.saved.env)

    def objects(self) -> dict[str, str]:
        listing = self.store().list_objects_v2(Bucket=services.BUCKET)
        return {o["Key"]: o["ETag"] for o in listing.get("Contents", [])}

    def key_of(self, name: str, node: str | None = None) -> str:
        """The image's cache key, once its pyramid is built: an image opens at once, shown from its source while
        the cluster builds its reduced levels, and its cache tag says so (a -preview suffix) until they are."""
        def final() -> str | None:
            info = httpx.get((node or self.nodes[1]) + "/api", params={"FIF": name, "INFO": ""}, timeout=120).json()
            return info["cache_tag"] if info["final"] else None

        return wait_for(final, f"{name} built", timeout=240)

    def replace_pid(self, name: str, old: int | None, new: int) -> None:
        """Keep cluster.json naming what runs, so that `cluster down` stops a restarted service too."""
        saved = launcher.load(self.state)
        if isinstance(saved.pids[name], list):
            saved.pids[name] = [p for p in saved.pids[name] if p != old] + [new]
        else:
            saved.pids[name] = new
        launcher.save(self.state, saved)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    for i, name in enumerate(IMAGES):
        write_image(folder / "data" / name, 300, 200, seed=i)
    state = folder / "state"
    result = run_cli("cluster", "up", "--data-dir", str(folder / "data"), "--state-dir", str(state),
                     "--nodes", "3", "--workers", "2")
    assert result.returncode == 0, result.stderr + "".join(
        p.read_text(errors="replace")[-2000:] for p in sorted((state / "logs").glob("*.log")))
    yield Cluster(json.loads(result.stdout.strip().splitlines()[-1]), state, folder / "data")
    # `cluster down` stops everything that runs, restarted services included, and only once.
    running = launcher.all_pids(launcher.load(state))
    result = run_cli("cluster", "down", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    assert not any(services.alive(pid) for pid in running), result.stderr
    again = run_cli("cluster", "down", "--state-dir", str(state))
    assert again.returncode == 2 and "no running cluster" in again.stderr


def pids(info: dict[str, Any]) -> list[int]:
    p = info["pids"]
    return [*p["nodes"], *p["workers"], p["redis"], p["store"], p["scheduler"], p["nginx"]]


def tile(base: str, name: str, z: int, i: int, **extra: str) -> httpx.Response:
    return httpx.get(base + "/api", params={"FIF": name, "JTL": f"{z},{i}", **extra}, timeout=120)


def status(node: str) -> dict[str, Any]:
    return httpx.get(node + "/status.json", timeout=30).json()["cluster"]


def test_cluster_up_starts_every_engine(cluster: Cluster) -> None:
    info = cluster.info
    assert set(info) == {"url", "nodes", "redis", "store", "scheduler", "dashboard", "pids"}
    assert len(info["nodes"]) == 3 and len(info["pids"]["workers"]) == 2
    assert all(services.alive(pid) for pid in pids(info))
    response = tile(cluster.url, IMAGES[0], 0, 0)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert httpx.get(info["dashboard"], timeout=10).status_code == 200
    import redis

    with pytest.raises(redis.AuthenticationError):  # other accounts of the machine reach loopback too
        redis.Redis(port=urllib.parse.urlsplit(info["redis"]).port, socket_timeout=5).ping()
    second = run_cli("cluster", "up", "--data-dir", str(cluster.data), "--state-dir", str(cluster.state))
    assert second.returncode == 2 and "already running" in second.stderr


def test_one_build_cluster_wide_then_served_from_the_store(cluster: Cluster) -> None:
    name = IMAGES[1]
    results: list[int] = []
    threads = [threading.Thread(target=lambda n=n: results.append(
        httpx.get(n + "/api", params={"FIF": name, "INFO": ""}, timeout=120).status_code)) for n in cluster.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    key = cluster.key_of(name)
    assert cluster.bus.counter("published:" + key) == 1
    assert f"pyramids/{key}/manifest.json" in cluster.objects()
    # Each node's disk cache is a read-through tier: one GET for a tile the first time, none after.
    # Level 0 is in the store; level 1, full resolution, is read from the source.
    node = cluster.nodes[2]
    cluster.key_of(name, node)
    before = status(node)["fetched_tiles"]
    first = tile(node, name, 0, 0)
    assert first.status_code == 200 and status(node)["fetched_tiles"] == before + 1
    again = tile(node, name, 0, 0, CNT="1.5")  # another rendering: not from the memory cache of encoded tiles
    assert again.status_code == 200 and status(node)["fetched_tiles"] == before + 1


def test_status_shows_the_cluster(cluster: Cluster) -> None:
    c = status(cluster.nodes[0])
    assert c["store"]["ok"] and c["redis"]["ok"] and c["scheduler"]["ok"]
    assert len(c["scheduler"]["workers"]) == 2
    assert {n["node"].rsplit(":", 1)[1] for n in c["nodes"]} == {u.rsplit(":", 1)[1] for u in cluster.nodes}
    page = httpx.get(cluster.nodes[0] + "/status", timeout=30).text
    assert "Dask dashboard" in page and cluster.info["dashboard"] in page


def watch(url: str, name: str, messages: list[dict[str, Any]], done: threading.Event) -> None:
    ws_url = url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "subscribe", "image": name}))
        while not done.is_set():
            message = json.loads(ws.recv(timeout=180))
            messages.append(message)
            if message["type"] == "error" or (message["type"] == "ready" and message["info"]["final"]):
                done.set()


def test_a_worker_killed_mid_build_is_replaced_once(cluster: Cluster) -> None:
    from distributed import Client

    name = "big.fits"
    write_image(cluster.data / name, 4096, 4096, seed=7)
    messages: list[dict[str, Any]] = []
    done = threading.Event()
    watcher = threading.Thread(target=watch, args=(cluster.url, name, messages, done))
    watcher.start()
    with Client(cluster.info["scheduler"], timeout=30) as client:
        def building() -> tuple[str, int] | None:
            for address, keys in client.processing().items():
                if any(str(k).startswith("build-") for k in keys):  # as early as possible: mid-build on any machine
                    return address, client.run(os.getpid, workers=[address])[address]
            return None

        _, pid = wait_for(building, "a worker building the image", timeout=120)
        os.kill(pid, signal.SIGKILL)
        watcher.join(240)
        assert done.is_set() and messages[-1]["type"] == "ready", messages[-3:]
        # (Progress through Redis to the websocket: test_redis_restarted_nodes_reconnect.)
        key = messages[-1]["info"]["cache_tag"]
        assert cluster.bus.counter("published:" + key) == 1
        # Back to two workers for the tests that follow.
        new = services.start_worker(cluster.state, 9, cluster.info["scheduler"], launcher.node_env(
            cluster.saved.env, cluster.info["redis"], cluster.info["store"], cluster.info["scheduler"]))
        cluster.replace_pid("workers", pid, new)
        wait_for(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 2, "the new worker", timeout=60)
    assert tile(cluster.url, name, 0, 0).status_code == 200


def test_redis_restarted_nodes_reconnect(cluster: Cluster) -> None:
    url = urllib.parse.urlsplit(cluster.info["redis"])
    old = launcher.load(cluster.state).pids["redis"]
    os.killpg(old, signal.SIGKILL)
    wait_for(lambda: not services.alive(old), "redis-server to die")
    assert not status(cluster.nodes[1])["redis"]["ok"]
    assert tile(cluster.url, IMAGES[0], 1, 0).status_code == 200  # serving never needed Redis
    assert url.port and url.password
    new = services.start_redis(cluster.state, url.port, url.password)
    cluster.replace_pid("redis", old, new)
    name = "after-restart.fits"
    write_image(cluster.data / name, 8192, 8192, seed=11)  # a build long enough (seconds) to report its progress
    messages: list[dict[str, Any]] = []
    done = threading.Event()
    watch(cluster.url, name, messages, done)
    assert messages[-1]["type"] == "ready"
    assert any(m["type"] == "progress" for m in messages), [(m["type"], m.get("fraction")) for m in messages]
    assert status(cluster.nodes[1])["redis"]["ok"]


def test_store_unreachable_503_while_the_tier_serves(cluster: Cluster) -> None:
    node = cluster.nodes[1]
    name = "outage.fits"  # levels 0 and 1 in the store, level 2 (full resolution) read from the source
    write_image(cluster.data / name, 1024, 1024, seed=13)
    cluster.key_of(name, node)
    assert tile(node, name, 1, 0).status_code == 200  # now in node 1's tier
    saved = launcher.load(cluster.state)
    os.killpg(saved.pids["store"], signal.SIGKILL)
    wait_for(lambda: not services.alive(saved.pids["store"]), "the store to die")
    try:
        assert tile(node, name, 1, 0, CNT="2").status_code == 200  # from the local tier
        assert tile(node, name, 2, 5).status_code == 200  # from the source
        response = tile(node, name, 1, 1)  # neither in the tier nor in the source
        assert response.status_code == 503 and response.headers["retry-after"]
        assert "store" in response.json()["detail"][0]["msg"]
        # A new image opens at once from its source; its build waits for the store.
        info = httpx.get(node + "/api", params={"FIF": IMAGES[3], "INFO": ""}, timeout=120)
        assert info.status_code == 200 and info.json()["cache_tag"].endswith("-preview")
        assert not status(node)["store"]["ok"]
    finally:
        key, secret = saved.env["AWS_ACCESS_KEY_ID"], saved.env["AWS_SECRET_ACCESS_KEY"]
        new = services.start_store(cluster.state, saved.ports["store"], key, secret)
        cluster.replace_pid("store", saved.pids["store"], new)
    # The restarted store may need a moment before it answers (each 503 meanwhile says when to retry).
    wait_for(lambda: tile(node, name, 1, 1).status_code == 200, "the tile once the store is back", timeout=60)
    cluster.key_of(IMAGES[3], node)  # built once the store is back: the node tries again
    assert tile(node, IMAGES[3], 0, 0).status_code == 200


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (as in CI)")
def test_a_full_disk_shrinks_the_tier(cluster: Cluster) -> None:
    names = [f"wide{i}.fits" for i in range(2)]
    for i, name in enumerate(names):
        # Full resolution is read from the source; the tier holds the reduced levels: level 2 (800 x 800, the 16
        # tiles read below) is 2.6 MB of float32, so the 4 MB disk holds one image's, not two.
        write_image(cluster.data / name, 1600, 1600, seed=20 + i)
    cache = cluster.state / "nodes" / "node9" / "cache"
    cache.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(cache)], check=True)
    env = launcher.node_env(cluster.saved.env, cluster.info["redis"], cluster.info["store"],
                            cluster.info["scheduler"])
    port = free_port()
    pid = services.start_node(cluster.state, 9, port, str(cluster.data), env)
    node = f"http://127.0.0.1:{port}"
    objects = cluster.objects()
    try:
        for name in names:
            cluster.key_of(name)
            cluster.key_of(name, node)  # both nodes serve the built levels, not previews
            for i in range(16):
                here, there = tile(node, name, 2, i), tile(cluster.nodes[1], name, 2, i)
                assert here.status_code == there.status_code == 200
                assert here.content == there.content  # nothing torn
        held = {e.manifest["image"]["name"] for e in DiskCache(cache, 100, 2**40).list()}
        assert held == {names[1]}  # the older image left the tier to make room
    finally:
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not services.alive(pid), "the node to stop")
        subprocess.run(["umount", "-l", str(cache)], check=False)
    assert cluster.objects() == {**objects, **{k: v for k, v in cluster.objects().items() if k not in objects}}
    assert all(cluster.objects()[k] == v for k, v in objects.items())  # the store untouched


def test_cache_warm_on_the_workers_is_resumable(cluster: Cluster, tmp_path: Path) -> None:
    names = [f"warm/w{i}.fits" for i in range(3)]
    for i, name in enumerate(names):
        write_image(cluster.data / name, 400 + 100 * i, 300, seed=30 + i)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TILESERVER_", "AWS_"))}
    env.update(launcher.node_env(cluster.saved.env, cluster.info["redis"], cluster.info["store"],
                                 cluster.info["scheduler"]), TILESERVER_DATA_DIR=str(cluster.data),
               TILESERVER_CACHE_DIR=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path))
    command = [sys.executable, "-m", "tileserver", "cache", "warm", "warm"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("warm [") == 4 and "3 of 3 image(s) in the store" in first.stderr
    keys = [cluster.key_of(name) for name in names]
    objects = cluster.objects()
    assert all(f"pyramids/{key}/manifest.json" in objects for key in keys)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    # Nothing left to do: the bar starts full.
    assert again.returncode == 0 and again.stderr.count("warm [") == 1 and "3/3 images" in again.stderr
    assert cluster.objects() == objects


def test_cache_warm_of_a_bucket_prefix(cluster: Cluster, tmp_path: Path) -> None:
    s3 = cluster.store()
    for i in range(2):
        write_image(tmp_path / f"b{i}.fits", 300 + 50 * i, 200, seed=70 + i)
        body = (tmp_path / f"b{i}.fits").read_bytes()
        s3.put_object(Bucket=services.BUCKET, Key=f"warm-s3/deep/b{i}.fits", Body=body)
    s3.put_object(Bucket=services.BUCKET, Key="warm-s3/deep/.hidden.fits", Body=(tmp_path / "b0.fits").read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TILESERVER_", "AWS_"))}
    env.update(launcher.node_env(cluster.saved.env, cluster.info["redis"], cluster.info["store"],
                                 cluster.info["scheduler"]), TILESERVER_DATA_DIR=f"s3://{services.BUCKET}/warm-s3",
               TILESERVER_CACHE_DIR=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path))
    manifests = {k for k in cluster.objects() if k.endswith("/manifest.json")}
    command = [sys.executable, "-m", "tileserver", "cache", "warm", "deep", "../outside"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 1 and "2 of 2 image(s) in the store" in first.stderr, first.stderr
    assert "skipped ../outside: outside the data prefix" in first.stderr
    assert len({k for k in cluster.objects() if k.endswith("/manifest.json")} - manifests) == 2
    again = subprocess.run(command[:-1], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and again.stderr.count("warm [") == 1 and "2/2 images" in again.stderr


def test_without_a_scheduler_nodes_build_under_a_lease(cluster: Cluster) -> None:
    env = {**launcher.node_env(cluster.saved.env, cluster.info["redis"], cluster.info["store"], ""),
           "TILESERVER_CLUSTER_MAX_BUILDS": "1"}
    ports = [free_port(), free_port()]
    started = [services.start_node(cluster.state, 20 + i, port, str(cluster.data), env) for i, port in enumerate(ports)]
    nodes = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        name = "leased.fits"
        write_image(cluster.data / name, 1500, 1500, seed=40)
        codes: list[int] = []
        threads = [threading.Thread(target=lambda n=n: codes.append(
            httpx.get(n + "/api", params={"FIF": name, "INFO": ""}, timeout=120).status_code)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200, 200]  # at once, from the source, while one of the nodes builds
        key = cluster.key_of(name, nodes[0])
        cluster.key_of(name, nodes[1])
        assert sum(status(n)["built_here"] for n in nodes) == 1  # the other node waited for the publication
        assert cluster.bus.counter("published:" + key) == 1
        assert tile(nodes[0], name, 0, 0).content == tile(nodes[1], name, 0, 0).content
        # Builds share cluster_max_builds = 1 slot through Redis: while another holder has it, a new image stays a
        # preview, its build waiting for the slot; once the slot is free, the build goes on.
        assert cluster.bus.slot("builds", "test-holder", 1, 60)
        try:
            other = "slotted.fits"
            write_image(cluster.data / other, 600, 400, seed=41)
            info = httpx.get(nodes[1] + "/api", params={"FIF": other, "INFO": ""}, timeout=60).json()
            assert info["final"] is False
            wait_for(lambda: status(nodes[1])["build_slots"]["waiting_here"] == 1, "the build to wait for a slot")
            assert status(nodes[0])["build_slots"] == {"limit": 1, "waiting_here": 0, "taken": 1}
            assert httpx.get(nodes[1] + "/api", params={"FIF": other, "INFO": ""}, timeout=60).json()["final"] is False
        finally:
            cluster.bus.free_slot("builds", "test-holder")
        cluster.key_of(other, nodes[1])
        assert status(nodes[1])["build_slots"]["waiting_here"] == 0
    finally:
        for pid in started:
            os.killpg(pid, signal.SIGKILL)


def test_sources_in_the_object_store(cluster: Cluster) -> None:
    """data_dir = s3://bucket/prefix: the node serves the objects under the prefix as a folder's files, with the
    same pixels, listing and refusals as the same files on disk."""
    import numpy as np
    from PIL import Image

    s3, disk = cluster.store(), cluster.data / "mirror"
    write_image(disk / "sky.fits", 700, 500, seed=50)
    disk.joinpath("sub").mkdir()
    Image.fromarray((np.arange(300 * 200 * 3) % 251).astype(np.uint8).reshape(200, 300, 3)).save(disk / "sub/pic.png")
    write_image(disk / "outside.fits", 64, 64, seed=51)
    for key, path in [("sources/sky.fits", "sky.fits"), ("sources/sub/pic.png", "sub/pic.png"),
                      ("sources/.hidden.fits", "outside.fits"), ("outside.fits", "outside.fits"),
                      ("sources-other/x.fits", "outside.fits")]:
        s3.put_object(Bucket=services.BUCKET, Key=key, Body=(disk / path).read_bytes())
    env = launcher.node_env(cluster.saved.env, cluster.info["redis"], cluster.info["store"], cluster.info["scheduler"])
    port = free_port()
    pid = services.start_node(cluster.state, 30, port, f"s3://{services.BUCKET}/sources", env)
    node, local = f"http://127.0.0.1:{port}", cluster.nodes[1]
    try:
        for name in ("sky.fits", "sub/pic.png"):
            remote = httpx.get(node + "/api", params={"FIF": name, "INFO": ""}, timeout=120).json()
            assert remote["final"]  # built first: the pyramid holds the full level, the source is not read again
            cluster.key_of("mirror/" + name)
            mine = httpx.get(local + "/api", params={"FIF": "mirror/" + name, "INFO": ""}, timeout=120).json()
            for field in ("full_size", "tile_levels", "channels", "cuts", "histograms", "header"):
                assert remote[field] == mine[field], field
            for z, i in [(0, 0), (remote["tile_levels"] - 1, 1)]:
                assert tile(node, name, z, i).content == tile(local, "mirror/" + name, z, i).content
        listing = httpx.get(node + "/list", params={"path": ""}, timeout=30).json()
        assert [(e["name"], e["type"]) for e in listing["entries"]] == [("sub", "folder"), ("sky.fits", "image")]
        assert listing["entries"][1]["cached"] is True  # in the node's tier: the listing names the version HEAD does
        sub = httpx.get(node + "/list", params={"path": "sub"}, timeout=30).json()
        assert sub["parent"] == "" and [e["path"] for e in sub["entries"]] == ["sub/pic.png"]
        # The prefix confines as the folder does: same answers, no path or bucket in any message.
        for fif in ("../outside.fits", "/outside.fits", "../sources-other/x.fits", "missing.fits", "sub",
                    ".hidden.fits", "sub/../../outside.fits"):
            remote_answer = httpx.get(node + "/api", params={"FIF": fif, "INFO": ""}, timeout=30)
            disk_answer = httpx.get(local + "/api", params={"FIF": fif, "INFO": ""}, timeout=30)
            assert remote_answer.status_code == disk_answer.status_code in (403, 404), fif
            assert remote_answer.text == disk_answer.text, fif
            assert "sources" not in remote_answer.text and services.BUCKET not in remote_answer.text
        for path in ("nothere", "..", "sky.fits"):
            assert httpx.get(node + "/list", params={"path": path}, timeout=30).status_code in (403, 404)
        # A rewritten object is a new version: a new identity, built again.
        first = httpx.get(node + "/api", params={"FIF": "sky.fits", "INFO": ""}, timeout=30).json()["cache_tag"]
        s3.put_object(Bucket=services.BUCKET, Key="sources/sky.fits", Body=(disk / "outside.fits").read_bytes())

        def new_version() -> dict[str, Any] | None:
            info = httpx.get(node + "/api", params={"FIF": "sky.fits", "INFO": ""}, timeout=120).json()
            return info if info["cache_tag"] != first else None

        assert wait_for(new_version, "the new version")["full_size"] == [64, 64]
    finally:
        os.killpg(pid, signal.SIGKILL)


def test_s3_sources_in_one_process_and_their_limits(cluster: Cluster, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No cluster settings, data_dir = s3://...: the process fetches and builds the source itself, full level
    stored; an object over the limits is refused before it is fetched, and no fetched file is left behind."""
    import io

    import numpy as np
    from PIL import Image

    from tileserver import iip
    from tileserver.engine import Engine
    from tileserver.errors import TooLarge

    for name, value in cluster.saved.env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    write_image(tmp_path / "small.fits", 300, 200, seed=60)
    write_image(tmp_path / "big.fits", 1500, 1500, seed=61)  # 9 MB: over max_source_bytes
    noise = io.BytesIO()  # 1.5 MB of PNG: over max_request_bytes, decoded in memory
    Image.fromarray(np.random.default_rng(62).integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(noise, "PNG")
    s3 = cluster.store()
    for key, body in [("alone/small.fits", (tmp_path / "small.fits").read_bytes()),
                      ("alone/big.fits", (tmp_path / "big.fits").read_bytes()), ("alone/noise.png", noise.getvalue())]:
        s3.put_object(Bucket=services.BUCKET, Key=key, Body=body)
    settings = config.resolve({"data_dir": f"s3://{services.BUCKET}/alone", "cache_dir": str(tmp_path / "cache"),
                               "max_request_bytes": 2**20, "max_source_bytes": 8 * 2**20}, {}, Path(os.devnull))
    engine = Engine(settings)
    try:
        image = engine.open(iip.parse([("FIF", "small.fits"), ("INFO", "")]), final=True)
        assert image.final and engine.info(image)["full_size"] == [300, 200]
        assert image.manifest["full_resolution"] == "stored"  # not read from the source after the build
        for name, limit in [("big.fits", "8 MB"), ("noise.png", "1 MB")]:
            with pytest.raises(TooLarge) as refused:
                engine.open(iip.parse([("FIF", name), ("INFO", "")]), final=True)
            assert limit in refused.value.message and "alone" not in refused.value.message
        assert not any((tmp_path / "cache" / "sources").iterdir())
    finally:
        engine.close()


def test_kill_a_node_clients_go_on_without_rebuild(cluster: Cluster) -> None:
    for name in IMAGES:
        assert tile(cluster.url, name, 1, 0).status_code == 200
    keys = [cluster.key_of(name, node) for name in IMAGES for node in cluster.nodes][::len(cluster.nodes)]
    published = [cluster.bus.counter("published:" + key) for key in keys]
    objects = cluster.objects()
    victim = cluster.info["pids"]["nodes"][0]
    os.killpg(victim, signal.SIGKILL)
    wait_for(lambda: not services.alive(victim), "the node to die")
    for name in IMAGES:
        for i in range(2):
            assert tile(cluster.url, name, 1, i, CNT="3").status_code == 200
    # No rebuild: nothing published again, the store as it was.
    assert [cluster.bus.counter("published:" + key) for key in keys] == published
    assert cluster.objects() == objects


@pytest.mark.parametrize(("name", "value"), [
    ("store_url", "http://bucket/x"), ("store_url", "s3:///prefix"), ("redis_url", "localhost:6379"),
    ("dask_scheduler", "127.0.0.1:8786"), ("dask_scheduler", "tcp://127.0.0.1:8786"),  # the last: no store_url
    ("data_dir", "s3:///prefix"), ("data_dir", "s3:/bucket"),
])
def test_bad_cluster_settings_stop_the_start(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingError, match=name):
        config.resolve({name: value, "cache_dir": str(tmp_path)}, {}, Path(os.devnull))


def test_cluster_up_refuses_a_missing_data_dir(tmp_path: Path) -> None:
    result = run_cli("cluster", "up", "--data-dir", str(tmp_path / "nope"), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2 and "not an existing directory" in result.stderr


def test_kubernetes_manifests_wire_the_cluster(tmp_path: Path) -> None:
    import yaml

    folder = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes" / "cluster"
    docs = {f.stem: list(yaml.safe_load_all(f.read_text())) for f in folder.glob("*.yaml")}
    assert set(docs) == {"nodes", "dask", "redis", "store"}
    [node] = [d for d in docs["nodes"] if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in node["spec"]["template"]["spec"]["containers"][0]["env"]}
    for name in ("store_url", "dask_scheduler", "redis_url", "data_dir"):
        assert env[config.SETTINGS_BY_NAME[name].env]
    config.resolve({n: env[config.SETTINGS_BY_NAME[n].env] for n in ("store_url", "dask_scheduler", "redis_url")}
                   | {"cache_dir": str(tmp_path)}, {}, Path(os.devnull))
    [ingress] = [d for d in docs["nodes"] if d["kind"] == "Ingress"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$arg_FIF"
    [scheduler] = [d for d in docs["dask"] if d["kind"] == "Deployment" and "scheduler" in d["metadata"]["name"]]
    scheduler_env = scheduler["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "value": "1"} in scheduler_env
    services_named = {d["metadata"]["name"] for f in docs.values() for d in f if d["kind"] == "Service"}
    assert {"tileserver-dask-scheduler", "tileserver-redis", "tileserver-store", "tileserver-node"} <= services_named
