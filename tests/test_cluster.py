"""Cluster mode on real engines: `tileserver cluster up` starts redis-server, SeaweedFS, a Dask scheduler with two
workers, three nodes and nginx on loopback; the tests drive it through nginx and break its parts for real (kill -9,
restarts). One cluster for the whole module; tests that break something restore it, or come last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from proxies import write_image

from tileserver import config
from tileserver.cluster import services
from tileserver.errors import SettingError

pytestmark = pytest.mark.proxy

IMAGES = [f"field{i}.fits" for i in range(4)]


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TILESERVER_", "AWS_"))}
    return subprocess.run([sys.executable, "-m", "tileserver", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("cluster")
    for i, name in enumerate(IMAGES):
        write_image(folder / "data" / name, 300, 200, seed=i)
    state = folder / "state"
    result = run_cli("cluster", "up", "--data-dir", str(folder / "data"), "--state-dir", str(state),
                     "--nodes", "3", "--workers", "2")
    assert result.returncode == 0, result.stderr + "".join(
        p.read_text(errors="replace")[-2000:] for p in sorted((state / "logs").glob("*.log")))
    info = json.loads(result.stdout.strip().splitlines()[-1])
    info["state"] = state
    info["data"] = folder / "data"
    info["env"] = json.loads((state / "cluster.json").read_text())["env"]
    yield info
    result = run_cli("cluster", "down", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr


def pids(info: dict) -> list[int]:
    p = info["pids"]
    return [*p["nodes"], *p["workers"], p["redis"], p["store"], p["scheduler"], p["nginx"]]


def test_cluster_up_starts_every_engine(cluster: dict) -> None:
    assert set(cluster) >= {"url", "nodes", "redis", "store", "scheduler", "dashboard", "pids"}
    assert len(cluster["nodes"]) == 3 and len(cluster["pids"]["workers"]) == 2
    assert all(services.alive(pid) for pid in pids(cluster))
    response = httpx.get(cluster["url"] + "/api", params={"FIF": IMAGES[0], "JTL": "0,0"}, timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert httpx.get(cluster["dashboard"], timeout=10).status_code == 200


def test_cluster_down_stops_it_all(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_image(data / "one.fits", 100, 80, seed=9)
    state = tmp_path / "state"
    result = run_cli("cluster", "up", "--data-dir", str(data), "--state-dir", str(state), "--nodes", "1",
                     "--workers", "1")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert run_cli("cluster", "up", "--data-dir", str(data), "--state-dir", str(state)).returncode == 2
    result = run_cli("cluster", "down", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    assert not any(services.alive(pid) for pid in pids(info))
    again = run_cli("cluster", "down", "--state-dir", str(state))
    assert again.returncode == 2 and "no running cluster" in again.stderr


@pytest.mark.parametrize("name, value", [
    ("store_url", "http://bucket/x"), ("store_url", "s3:///prefix"), ("redis_url", "localhost:6379"),
    ("dask_scheduler", "127.0.0.1:8786"), ("dask_scheduler", "tcp://127.0.0.1:8786"),  # the last: no store_url
])
def test_bad_cluster_settings_stop_the_start(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingError, match=name):
        config.resolve({name: value, "cache_dir": str(tmp_path)}, {}, Path(os.devnull))


def test_cluster_up_refuses_a_missing_data_dir(tmp_path: Path) -> None:
    result = run_cli("cluster", "up", "--data-dir", str(tmp_path / "nope"), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2 and "not an existing directory" in result.stderr
