"""Every operator command the README and the manual show is run by a test: here, in a sandbox (the documented
folders replaced by the test's, servers on a free port), or by the test named for it. A command added to the
docs without either fails the first test."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from support.images import sky
from support.servers import LiveServer, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "doc").glob("*.rst"))]

RUN_HERE = "run here"
# Documented command (comments dropped, continuation lines joined) -> RUN_HERE, or the test that runs it.
COMMANDS: dict[str, str] = {
    "tileserver": "test_cli.py::test_demo_is_generated_once_and_served",
    "tileserver image.fits": "test_cli.py::test_quick_look_serves_the_given_file",
    "tileserver night1/field3.fits": "test_cli.py::test_quick_look_serves_the_given_file",
    "tileserver 'mosaic.fits[SCI]'": RUN_HERE,
    "tileserver 'cube.fits[2]'": "test_cli.py::test_quick_look_with_an_extension_selector",
    "tileserver --no-browser image.tiff": RUN_HERE,
    "tileserver --data-dir /data/images --host 0.0.0.0 --workers 4": RUN_HERE,
    "tileserver --data-dir /data --workers 4": RUN_HERE,
    "TILESERVER_WORKERS=4 tileserver --data-dir /data/images": RUN_HERE,
    "tileserver --no-browser --data-dir /data/images --cache-dir /var/cache/tileserver --host 127.0.0.1 "
    "--port 8009 --root-path /vis --workers 4": RUN_HERE,
    "tileserver -S": RUN_HERE,
    "tileserver -s --port 8011": RUN_HERE,
    "tileserver -c site.conf": RUN_HERE,
    "tileserver -s": "test_config.py::test_save_and_show_round_trip",
    "tileserver --help": RUN_HERE,
    "tileserver --data-dir /data --get '/api?FIF=image.fits&INFO'": RUN_HERE,
    "tileserver --data-dir /data/images --get '/api?FIF=night1/field3.fits&INFO'": RUN_HERE,
    "tileserver --data-dir /data/images --get '/api?FIF=night1/field3.fits&JTL=0,0' > tile.jpg": RUN_HERE,
    "tileserver cache list": "test_cachecli.py::test_warm_list_clear",
    "tileserver cache clear": "test_stale_cache.py::test_start_up_logs_stale_data_and_clear_empties_the_cache",
    "tileserver cache": "test_cachecli.py::test_warm_list_clear",
    "tileserver cache warm": "test_cachecli.py::test_warm_list_clear",
    "tileserver cache warm /data/images/night1": "test_cachecli.py::test_names_relative_to_the_data_folder_or_the_"
                                                 "current_one",
    "tileserver cache warm /data/images --shard 3/8": "test_cachecli.py::test_shards_split_the_images",
    "tileserver cache warm /data/images --shard 1/3": "test_cachecli.py::test_shards_split_the_images",
    "tileserver cache warm FOLDER": "test_cluster.py::test_cache_warm_on_the_workers_is_resumable",
    "tileserver cache warm surveys/2026": "test_cluster.py::test_cache_warm_of_a_bucket_prefix",
    "tileserver cache warm|list|clear": "test_cachecli.py::test_warm_list_clear",
    "tileserver cluster up --data-dir ~/images --nodes 3 --workers 2 --port 8080 --state-dir /tmp/tc":
        "test_cluster.py::test_cluster_up_starts_every_engine",
    "tileserver cluster down --state-dir /tmp/tc": "test_cluster.py::test_cluster_up_starts_every_engine",
    "kill -USR2 $MASTER": "test_upgrade.py::test_usr2_upgrade_under_load_drops_nothing",
    "kill -TERM $MASTER": "test_upgrade.py::test_usr2_upgrade_under_load_drops_nothing",
    "kill -9": "test_workers.py::test_killed_worker_is_replaced_and_sigterm_drains",
    "kill -HUP": "test_reload.py::test_hup_reloads_the_rules_and_a_bad_file_keeps_the_last_good_ones",
    "systemctl reload": "test_deploy_checks.py::test_unit_keeps_the_cache_private_and_reloads_with_hup",
    "systemctl reload tileserver": "test_deploy_checks.py::test_unit_keeps_the_cache_private_and_reloads_with_hup",
}


def documented() -> set[str]:
    """The operator commands of the docs: console lines starting `$ tileserver` (or with TILESERVER_ settings),
    `$ kill ...`, and inline `tileserver ...`, ``kill -SIGNAL`` and ``systemctl reload ...`` spans."""
    found: set[str] = set()
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^\s*\$ ((?:TILESERVER_\w+=\S+ )*(?:tileserver|kill)\b(?:[^\n]*\\\n)*[^\n]*)", text,
                                 re.M):
            command = re.sub(r"\\\n\s*", "", match.group(1))
            found.add(" ".join(shlex.split(command, comments=True)))
        for match in re.finditer(r"`{1,2}((?:tileserver|kill -\w+|systemctl reload)\b[^`]*)`{1,2}", text):
            span = match.group(1).strip()
            if span.startswith("tileserver") and not re.match(r"tileserver( |$)", span):
                continue  # a file or module name (tileserver.conf, tileserver/...), not a command
            found.add(span)
    return {_quoted(c) for c in found}


def _quoted(command: str) -> str:
    """The spelling of COMMANDS: arguments with shell characters quoted as the docs quote them."""
    if command.startswith(("kill", "systemctl")) or "|" in command.split()[-1]:
        return command
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return command
    redirect = words.index(">") if ">" in words else len(words)
    quoted = [w if re.fullmatch(r"[\w@%+=:,./~-]+", w) else shlex.quote(w) for w in words[:redirect]]
    quoted += words[redirect:]
    return " ".join(quoted)


def test_every_documented_command_is_run_by_a_test() -> None:
    docs = documented()
    assert docs - set(COMMANDS) == set(), "documented commands no test runs: add them to COMMANDS"
    assert set(COMMANDS) - docs == set(), "commands no longer documented: remove them from COMMANDS"
    for test in set(COMMANDS.values()) - {RUN_HERE}:
        module, name = test.split("::")
        assert f"def {name}(" in (ROOT / "tests" / module).read_text(encoding="utf-8"), test


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """The documented data folder, with the documented images."""
    data = tmp_path / "data"
    (data / "night1").mkdir(parents=True)
    fits.PrimaryHDU(sky(300, 200, 1)).writeto(data / "night1" / "field3.fits")
    fits.PrimaryHDU(sky(120, 90, 2)).writeto(data / "image.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sky(200, 150, 3), name="SCI")]).writeto(data / "mosaic.fits")
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (80, 100)).astype(np.uint8)).save(data / "image.tiff")
    return data


def _env(tmp_path: Path, assignments: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_") and k not in
           ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update({"TILESERVER_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                **assignments})
    return env


def _words(command: str, data: Path, tmp_path: Path) -> tuple[dict[str, str], list[str], str | None]:
    """(environment assignments, argv after `tileserver` with the sandbox's folders, file stdout goes to)."""
    words = shlex.split(command)
    assignments = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    output = None
    if ">" in words:
        output = words[words.index(">") + 1]
        words = words[:words.index(">")]
    swaps = {"/data/images": str(data), "/data": str(data), "/var/cache/tileserver": str(tmp_path / "cache")}
    return assignments, [swaps.get(w, w) for w in words[1:]], output


SERVING = [c for c, how in COMMANDS.items() if how == RUN_HERE and c.startswith(("tileserver", "TILESERVER_"))
           and not any(flag in c for flag in (" -S", " -s ", " --help", " --get"))]
ONE_SHOT = [c for c, how in COMMANDS.items() if how == RUN_HERE and c not in SERVING]


@pytest.mark.parametrize("command", SERVING)
def test_documented_server_command_serves(command: str, sandbox: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assignments, args, _ = _words(command, sandbox, tmp_path)
    (sandbox / "site.conf").write_text(f"[paths]\ndata_dir = {sandbox}\n")
    monkeypatch.chdir(sandbox)  # quick looks and -c name their file relative to the current folder
    port = free_port()
    args = [a for a in args if a not in ("--port", "8009")] + ["--port", str(port)]
    if "--no-browser" not in args:
        args.append("--no-browser")  # the tests have no display
    server = LiveServer([], _env(tmp_path, assignments), tmp_path / "server.log")
    server.args = [sys.executable, "-m", "tileserver", *args]
    server.port = port
    server.root_path = "/vis" if "/vis" in args else ""
    try:
        server.start(timeout=90)
        quick_look = next((a for a in args if a.endswith((".fits", ".tiff", "]"))), None)
        if quick_look:  # the viewer opens on the file given
            assert f'"{Path(quick_look).name}"' in httpx.get(server.url + "/").text
        else:
            r = httpx.get(server.url + "/api", params={"FIF": "night1/field3.fits", "INFO": ""}, timeout=60)
            assert r.status_code == 200 and r.json()["full_size"] == [300, 200]
        workers = int(args[args.index("--workers") + 1]) if "--workers" in args else \
            int(assignments.get("TILESERVER_WORKERS", 1))
        wait_for(lambda: len(httpx.get(server.url + "/status.json").json()["workers"]) == workers,
                 f"{workers} workers to report")
    finally:
        server.stop()


@pytest.mark.parametrize("command", ONE_SHOT)
def test_documented_command_runs(command: str, sandbox: Path, tmp_path: Path) -> None:
    assignments, args, output = _words(command, sandbox, tmp_path)
    result = subprocess.run([sys.executable, "-m", "tileserver", *args], capture_output=True, env=_env(
        tmp_path, assignments), cwd=sandbox, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout
    if output == "tile.jpg":
        assert out[:3] == b"\xff\xd8\xff"  # a JPEG
    elif "INFO" in command:
        assert b'"full_size":' in out
    elif "--help" in args:
        assert b"--max-cache-bytes" in out and b"--min-free-bytes" in out
    elif "-S" in args:
        assert b"[cache]" in out and b"min_free_bytes = " in out
    elif "-s" in args:
        saved = (tmp_path / "cfg" / "tileserver" / "tileserver.conf").read_text()
        assert "port = 8011" in saved
