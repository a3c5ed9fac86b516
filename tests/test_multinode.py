"""Three tileserver nodes behind one nginx hashing on the image (nginx/upstream-multinode.conf), on loopback.

Each node has its own cache folder; the data folder is shared (as over NFS). Each image must be built on exactly
one node; when a node stops, its images are built and served by the others, with no client error beyond a request
that was in flight, and the other images stay where they are.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tileserver.cli.cache import main as cache_main
from tileserver.store.diskcache import DiskCache

from support import proxies
from support.images import write_image
from support.servers import LiveServer, start_backend, wait_for

pytestmark = pytest.mark.proxy

IMAGES = [f"field{i}.fits" for i in range(9)]


def cached_names(folder: Path) -> set[str]:
    return {e.manifest["image"]["name"] for e in DiskCache(folder, 100, 2**40).list()}


def placement(folders: list[Path]) -> dict[str, list[int]]:
    """image -> the nodes whose cache holds it."""
    held = [cached_names(folder) for folder in folders]
    return {name: [i for i, names in enumerate(held) if name in names] for name in IMAGES}


@dataclass
class Cluster:
    nodes: list[LiveServer]
    caches: list[Path]
    nginx: proxies.Proxy
    data: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three nodes and their nginx, for the module: the test that stops a node comes last."""
    folder = tmp_path_factory.mktemp("cluster")
    for i, name in enumerate(IMAGES):
        write_image(folder / "data" / name, 200, 150, seed=i)
    folders = [folder / f"node{i}-cache" for i in range(3)]
    nodes = [start_backend(folder / "data", cache, "--root-path", "/vis", "--tile-size", "128")
             for cache in folders]
    nginx = proxies.start_nginx([node.port for node in nodes], multinode=True)
    yield Cluster(nodes, folders, nginx, folder / "data")
    nginx.stop()
    for node in nodes:
        node.stop()


def get(client: httpx.Client, nginx: proxies.Proxy, name: str, **params: str) -> httpx.Response:
    return client.get(nginx.url + "/vis/api", params={"FIF": name, **params}, timeout=60)


def test_a_websocket_naming_its_image_reaches_the_node_that_holds_it(cluster: Cluster) -> None:
    # The hash sees only the URL: a websocket opened as /vis/ws?FIF=image lands on that image's node, so
    # subscribing to the image there reports its build and never builds a second copy elsewhere.
    nodes, folders, nginx = cluster.nodes, cluster.caches, cluster.nginx
    name = IMAGES[4]
    with httpx.Client() as client:
        assert get(client, nginx, name, INFO="").status_code == 200
    # INFO answers at once (the image is shown from its source); its entry is built just after, on that node.
    [node] = wait_for(lambda: placement(folders).get(name), f"{name} built on its node")
    before = placement(folders)
    url = nginx.url.replace("http://", "ws://") + "/vis/ws?" + urllib.parse.urlencode({"FIF": name})
    with connect(url, open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "hello" and hello["worker"] == nodes[node].proc.pid
        ws.send(json.dumps({"type": "subscribe", "image": name}))
        while (message := json.loads(ws.recv(timeout=30)))["type"] != "ready":
            assert message["type"] in ("progress", "ping"), message
    assert placement(folders) == before


def test_warming_through_the_proxy_builds_each_image_on_its_node(cluster: Cluster, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folders, nginx = cluster.caches, cluster.nginx
    status = cache_main(["-c", os.devnull, "--data-dir", str(cluster.data), "--cache-dir", str(tmp_path / "cli"),
                         "warm", str(cluster.data), "--via", nginx.url + "/vis"])
    assert status == 0, capsys.readouterr().err
    warmed = placement(folders)
    assert all(len(where) == 1 for where in warmed.values()), warmed
    assert cached_names(tmp_path / "cli") == set()
    with httpx.Client() as client:  # the viewers' requests land where the images were warmed: no new build
        for name in IMAGES:
            assert get(client, nginx, name, INFO="").status_code == 200
            assert get(client, nginx, name, JTL="1,2").status_code == 200
    assert placement(folders) == warmed


def test_each_image_lives_on_one_node_and_moves_when_it_stops(cluster: Cluster, tmp_path: Path) -> None:
    nodes, folders, nginx = cluster.nodes, cluster.caches, cluster.nginx
    with httpx.Client() as client:
        for name in IMAGES:
            assert get(client, nginx, name, INFO="").status_code == 200
            assert get(client, nginx, name, JTL="1,0").status_code == 200
        before = placement(folders)
        assert all(len(where) == 1 for where in before.values()), before
        for name in IMAGES:  # the same images again: the same nodes, nothing rebuilt
            assert get(client, nginx, name, JTL="1,3").status_code == 200
        assert placement(folders) == before

    victim = max(range(3), key=lambda i: sum(where == [i] for where in before.values()))
    moved = sorted(name for name, where in before.items() if where == [victim])
    assert moved  # 9 images on 3 nodes: the busiest node has some

    # Viewers keep asking for tiles (new ones: not from nginx's cache) while the node stops.
    statuses: list[tuple[str, int]] = []
    stop = threading.Event()

    def viewers() -> None:
        with httpx.Client() as client:
            n = 0
            while not stop.is_set():
                name = IMAGES[n % len(IMAGES)]
                try:
                    status = get(client, nginx, name, JTL=f"1,{n % 4}", QLT=str(20 + n % 80)).status_code
                except httpx.HTTPError:
                    status = 0
                statuses.append((name, status))
                n += 1

    thread = threading.Thread(target=viewers, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(statuses) >= 2 * len(IMAGES), "the viewers to start")
        nodes[victim].stop()
        mark = len(statuses)
        wait_for(lambda: len(statuses) >= mark + 3 * len(IMAGES), "three rounds after the stop", timeout=120)
    finally:
        stop.set()
        thread.join(60)
    errors = [s for s in statuses if s[1] != 200]
    assert len(errors) <= 1, errors  # at most the request in flight at the stop
    served_after = {name for name, status in statuses[mark + 1:] if status == 200}
    assert set(moved) <= served_after

    survivors = [i for i in range(3) if i != victim]
    after = placement([folders[i] if i in survivors else tmp_path / "stopped" for i in range(3)])
    for name in IMAGES:
        if name in moved:
            assert len(after[name]) == 1 and after[name][0] in survivors, (name, after[name])
        else:
            assert after[name] == before[name], (name, before[name], after[name])
