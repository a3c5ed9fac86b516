"""`tileserver cluster up|down`: a whole cluster on one machine, on loopback, for trying and testing.

`up` starts redis-server, the object store (SeaweedFS), a Dask scheduler with its workers, the tileserver nodes and
nginx in front, writes `<state>/cluster.json` (addresses, pids, the store's generated credentials; readable by its
owner only) and returns with all of it running. `down` stops what that file names, by process id, and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import SettingError
from . import services

STATE_FILE = "cluster.json"
STOP_TIMEOUT = 15.0


@dataclass
class Cluster:
    """What `cluster up` started: printed as one JSON line (without `env`) and kept in the state folder."""

    url: str
    nodes: list[str]
    redis: str
    store: str
    scheduler: str
    dashboard: str
    pids: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)  # what a client needs: store endpoint and credentials
    ports: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("env", "ports")}


def load(state: Path) -> Cluster:
    try:
        return Cluster(**json.loads((state / STATE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        raise SettingError(f"{state} holds no running cluster (no readable {STATE_FILE})") from None


def save(state: Path, cluster: Cluster) -> None:
    atomic.write(state / STATE_FILE, json.dumps(asdict(cluster), indent=1), mode=0o600)


def node_env(cluster_env: dict[str, str], redis: str, store: str, scheduler: str) -> dict[str, str]:
    """The environment of nodes and workers: the caller's, less its own tileserver settings, plus the cluster's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TILESERVER_", "AWS_"))}
    env.update(cluster_env, TILESERVER_STORE_URL=store, TILESERVER_REDIS_URL=redis,
               TILESERVER_DASK_SCHEDULER=scheduler)
    return env


def up(data_dir: str, state: Path, nodes: int = 3, workers: int = 2, port: int = 0) -> Cluster:
    """Start everything; on any failure, stop what was started and raise SettingError."""
    data = Path(data_dir).expanduser().resolve()
    if not data.is_dir():
        raise SettingError(f"--data-dir {data_dir!r} is not an existing directory")
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (state / STATE_FILE).exists() and any(services.alive(p) for p in all_pids(load(state))):
        raise SettingError(f"a cluster is already running from {state}; stop it with 'tileserver cluster down'")
    port = port or services.free_port()
    if services.listening(port):
        raise SettingError(f"port {port} on 127.0.0.1 is already in use; choose another one with --port")
    ports: dict[str, Any] = {"redis": services.free_port(), "scheduler": services.free_port(),
                             "dashboard": services.free_port(), "nginx": port,
                             "store": {name: services.free_port_pair() for name in (
                                 "master", "volume", "filer", "s3", "admin", "webdav", "iceberg", "lance")},
                             "nodes": [services.free_port() for _ in range(nodes)]}
    key, secret = "tileserver" + secrets.token_hex(4), secrets.token_urlsafe(24)
    redis_password = secrets.token_hex(16)
    cluster_env = services.store_env(ports["store"]["s3"], key, secret)
    pids: dict[str, Any] = {"nodes": [], "workers": []}
    cluster = Cluster(url=f"http://127.0.0.1:{port}", nodes=[f"http://127.0.0.1:{p}" for p in ports["nodes"]],
                      redis=f"redis://:{redis_password}@127.0.0.1:{ports['redis']}/0", store=f"s3://{services.BUCKET}/pyramids",
                      scheduler=f"tcp://127.0.0.1:{ports['scheduler']}",
                      dashboard=f"http://127.0.0.1:{ports['dashboard']}/status", pids=pids, env=cluster_env,
                      ports=ports)
    env = node_env(cluster_env, cluster.redis, cluster.store, cluster.scheduler)
    try:
        pids["redis"] = services.start_redis(state, ports["redis"], redis_password)
        save(state, cluster)  # from here on `down` can stop whatever did start
        pids["store"] = services.start_store(state, ports["store"], key, secret)
        save(state, cluster)
        pids["scheduler"] = services.start_scheduler(state, ports["scheduler"], ports["dashboard"], env)
        save(state, cluster)
        for i in range(workers):
            pids["workers"].append(services.start_worker(state, i, cluster.scheduler, env))
        save(state, cluster)
        services.wait_for_workers(state, cluster.scheduler, workers, pids["workers"])
        for i, node_port in enumerate(ports["nodes"]):
            pids["nodes"].append(services.start_node(state, i, node_port, str(data), env))
            save(state, cluster)
        pids["nginx"] = services.start_nginx(state, port, ports["nodes"])
        save(state, cluster)
    except BaseException:
        stop(cluster)
        raise
    return cluster


def all_pids(cluster: Cluster) -> list[int]:
    p = cluster.pids
    singles = [p.get(name) for name in ("nginx", "scheduler", "store", "redis")]
    return [*p.get("nodes", []), *p.get("workers", []), *(pid for pid in singles if pid)]


def stop(cluster: Cluster) -> list[int]:
    """SIGTERM each process group we started (nodes first, the engines last), SIGKILL what is left after a while,
    and return once they are gone. Returns the pids that were still running."""
    running = [pid for pid in all_pids(cluster) if services.alive(pid)]
    for pid in running:
        _signal(pid, signal.SIGTERM)
    _wait_gone(running, STOP_TIMEOUT)
    stubborn = [pid for pid in running if services.alive(pid)]
    if stubborn:
        names = {pid: name for name, pids in cluster.pids.items()
                 for pid in (pids if isinstance(pids, list) else [pids])}
        print(f"not stopped {STOP_TIMEOUT:.0f} s after SIGTERM, killed: "
              + ", ".join(f"{names.get(pid, '?')} ({pid})" for pid in stubborn), file=sys.stderr)
        for pid in stubborn:
            _signal(pid, signal.SIGKILL)
        _wait_gone(stubborn, 10.0)
    return running


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(services.alive(pid) for pid in pids):
        time.sleep(0.1)


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # each service leads its own session: its children (nginx workers) go with it
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def down(state: Path) -> int:
    cluster = load(state)
    stopped = stop(cluster)
    (state / STATE_FILE).unlink(missing_ok=True)
    return len(stopped)
