"""The disk cache is private to the server's user: folders 0700 and files 0600, whatever the umask it was started
with, and entries left by an older version are made private at start-up."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx


def modes(root: Path) -> dict[str, int]:
    out = {}
    for folder, _, files in os.walk(root):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            if not os.path.islink(path):
                out[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return out


def test_cache_folders_0700_files_0600_whatever_the_umask(live_server, make_fits, cache_dir):
    make_fits("sky.fits", width=700, height=500)
    legacy = cache_dir / "entries" / "written-by-an-older-version"
    legacy.mkdir(parents=True)
    (legacy / "level0.bin").write_bytes(b"\0" * 64)
    os.chmod(cache_dir, 0o755)
    os.chmod(legacy, 0o755)
    os.chmod(legacy / "level0.bin", 0o644)
    previous = os.umask(0o002)  # a permissive umask, inherited by the server
    try:
        server = live_server("--workers", "2")
    finally:
        os.umask(previous)
    for z in range(3):
        tile = httpx.get(server.url + "/api", params={"FIF": "sky.fits", "JTL": f"{z},0"}, timeout=60)
        assert tile.status_code == 200
    found = modes(cache_dir)
    assert any(name.endswith(".json") for name in found) and len(found) > 5, found
    for name, mode in found.items():
        assert mode == (0o700 if os.path.isdir(cache_dir / name) else 0o600), (name, oct(mode))
    assert "made" in server.log.read_text() and "private" in server.log.read_text()
