"""Start the real engines of a cluster on loopback, one process each, detached from the caller.

Every process runs in a session of its own (so `cluster down` stops it with its children by its id), with its log in
`<state>/logs/<name>.log`. Starting returns once the service answers: a port that accepts connections, the S3 API
answering with its bucket, the scheduler with its workers, a node with its health check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SettingError

BUCKET = "tileserver"
START_TIMEOUT = 60.0  # seconds a service is given to answer (SeaweedFS takes a few on a busy machine)
RUN_AS = "www-data"  # nginx's workers drop to this user when started as root

# The services this process started: held so that they are reaped when they exit (no zombies while we run), and
# never garbage-collected while running (which Python reports as a leak).
_children: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_pair() -> int:
    """A free port whose +10000 is free too: SeaweedFS puts each service's gRPC port there unless told."""
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536 and listening(port + 10000) is False:
            return port
    raise SettingError("no free pair of loopback ports for the object store")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def program(name: str) -> str:
    """A program from PATH (or /usr/sbin for Debian's daemons); a clear message when it is not installed."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not path:
        raise SettingError(f"{name} is not installed (scripts/setup-tests.sh installs what cluster mode needs)")
    return path


def spawn(state: Path, name: str, command: list[str], env: dict[str, str] | None = None) -> int:
    """Start one detached process; returns its pid (also its process group id)."""
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=state, start_new_session=True)
    _children[proc.pid] = proc
    return proc.pid


def wait_until(ready: Callable[[], bool], what: str, state: Path, pid: int, log: str,
               timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise SettingError(f"{what} exited at start-up; see {state / 'logs' / log}.log")
        with contextlib.suppress(Exception):  # any failure of a probe means "not yet"
            if ready():
                return
        time.sleep(0.2)
    raise SettingError(f"{what} did not answer within {timeout:.0f} s; see {state / 'logs' / log}.log")


def stop_group(proc: subprocess.Popen[Any] | None, timeout: float = 15.0) -> None:
    """Stop a child started with start_new_session=True, and everything it started: SIGTERM, then SIGKILL after
    `timeout` seconds. (The benchmarks' and the tests' servers.)"""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie does not count: it has exited, only its parent has not reaped it yet)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start_redis(state: Path, port: int, password: str) -> int:
    folder = state / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    # Nothing of ours in Redis outlives a restart on purpose: progress and registrations are renewed by their owners.
    # A password, because other accounts of the machine reach loopback too; given in a file only its owner reads.
    conf = folder / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"requirepass {password}\n")
    pid = spawn(state, "redis", [program("redis-server"), str(conf), "--bind", "127.0.0.1", "--port", str(port),
                                 "--save", "", "--appendonly", "no", "--dir", str(folder), "--protected-mode", "yes"])
    wait_until(lambda: listening(port), "redis-server", state, pid, "redis")
    return pid


def store_env(port: int, key: str, secret: str) -> dict[str, str]:
    """The usual AWS variables that point every client (nodes, workers, boto3, s3fs) at the store."""
    return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1"}


def start_store(state: Path, ports: dict[str, int], key: str, secret: str) -> int:
    """SeaweedFS in one process (`weed mini`: master, volume, filer and S3 gateway), every port on loopback."""
    folder = state / "store"
    folder.mkdir(parents=True, exist_ok=True)
    flags = {"master.port": ports["master"], "volume.port": ports["volume"], "filer.port": ports["filer"],
             "s3.port": ports["s3"], "admin.port": ports["admin"], "webdav.port": ports["webdav"],
             "s3.port.iceberg": ports["iceberg"], "s3.port.lance": ports["lance"]}
    command = [program("weed"), "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-admin.ui=false", f"-bucket={BUCKET}", *(f"-{k}={v}" for k, v in flags.items())]
    # weed mini makes the credentials in its environment its administrator's: requests must be signed with them.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    pid = spawn(state, "store", command, env)
    client = s3_client(store_env(ports["s3"], key, secret))
    wait_until(lambda: client.head_bucket(Bucket=BUCKET) is not None, "the object store (SeaweedFS)", state, pid,
               "store")
    return pid


def s3_client(env: dict[str, str]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"],
                        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}))


def dask_env(base: dict[str, str]) -> dict[str, str]:
    # A build whose worker dies is retried on another worker once; a second death marks it failed, not looping.
    return {**base, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}


def start_scheduler(state: Path, port: int, dashboard: int, env: dict[str, str]) -> int:
    command = [program("dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
               "--dashboard-address", f"127.0.0.1:{dashboard}"]
    pid = spawn(state, "scheduler", command, dask_env(env))
    wait_until(lambda: listening(port) and listening(dashboard), "the Dask scheduler", state, pid, "scheduler")
    return pid


def start_worker(state: Path, index: int, scheduler: str, env: dict[str, str]) -> int:
    """One worker process, one build at a time, no nanny: the pid we hold is the process that does the work."""
    scratch = state / "workers" / f"worker{index}"
    scratch.mkdir(parents=True, exist_ok=True)
    command = [program("dask"), "worker", scheduler, "--name", f"worker{index}", "--nthreads", "1", "--no-nanny",
               "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(scratch)]
    return spawn(state, f"worker{index}", command, dask_env({**env, "TMPDIR": str(scratch)}))


def wait_for_workers(state: Path, scheduler: str, count: int, pids: list[int]) -> None:
    from distributed import Client

    with Client(scheduler, timeout=START_TIMEOUT) as client:
        deadline = time.monotonic() + START_TIMEOUT
        while len(client.scheduler_info(n_workers=-1)["workers"]) < count:
            dead = [pid for pid in pids if not alive(pid)]
            if dead or time.monotonic() > deadline:
                raise SettingError(f"Dask workers did not all start; see {state / 'logs'}/worker*.log")
            time.sleep(0.2)


def start_node(state: Path, index: int, port: int, data_dir: str, env: dict[str, str]) -> int:
    cache = state / "nodes" / f"node{index}" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tileserver", "--data-dir", data_dir, "--host", "127.0.0.1",
               "--port", str(port), "--cache-dir", str(cache), "--no-browser"]
    pid = spawn(state, f"node{index}", command, env)
    wait_until(lambda: _healthy(port), f"tileserver node {index}", state, pid, f"node{index}")
    return pid


def _healthy(port: int) -> bool:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
        return bool(response.status == 200)


def nginx_command(prefix: Path, http: str) -> list[str]:
    """Write `prefix`/nginx.conf for an nginx in the foreground whose pid, logs and temporary files are all in
    `prefix` (its workers drop to www-data when started as root), with `http` in its http block; return the command
    that starts it. The one nginx configuration generator: cluster mode's, and the tests' around the shipped files."""
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(prefix / "tmp", RUN_AS, RUN_AS)
    template = (Path(__file__).parent / "nginx.conf").read_text(encoding="utf-8")
    text = template.format(user=f"user {RUN_AS};" if os.geteuid() == 0 else "", prefix=prefix, http=http)
    (prefix / "nginx.conf").write_text(text, encoding="utf-8")
    return [program("nginx"), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]


def start_nginx(state: Path, port: int, nodes: list[int]) -> int:
    """nginx in front: `hash $arg_FIF consistent` sends an image to the same node (its warm local tier), for
    locality only: any node can serve any image, from the store."""
    prefix = state / "nginx"
    template = (Path(__file__).parent / "nginx-nodes.conf").read_text(encoding="utf-8")
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in nodes)
    pid = spawn(state, "nginx", nginx_command(prefix, template.format(port=port, servers=servers)))
    wait_until(lambda: listening(port), "nginx", state, pid, "nginx")
    return pid
