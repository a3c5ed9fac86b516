"""FIF confinement: a corpus of hostile paths never opens or serves a file outside the data folder.

An audit hook records every file the process opens while the corpus is served in-process; each must lie in the
data folder, the cache folder or the Python installation. Answers are 403 for paths refused by their spelling and
one identical 404 for whatever the file system decides (missing, leading out, not a regular file, unreadable).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits

from tileserver import datapath
from tileserver.errors import Forbidden, ImageNotFound
from tileserver.web import api

from support import ROOT
from support.servers import free_port, server_env, wait_for

NOT_FOUND = {"detail": [{"loc": ["query", "FIF"], "msg": "no such image", "type": "not_found"}]}

# Raw (already percent-encoded) FIF values and the status each must get. OUT is the absolute outside folder.
SPELLED_OUT = [  # 403, refused before any file is looked at
    "../outside/secret.fits", "..", "../", "..%2Foutside%2Fsecret.fits", "%2e%2e/outside/secret.fits",
    "%2E%2E%2Foutside%2Fsecret.fits", ".%2e/outside/secret.fits", "%2e./outside/secret.fits",
    "sub/../../outside/secret.fits", "sub/%2e%2e/%2e%2e/outside/secret.fits", "./../outside/secret.fits",
    "ok.fits/../../outside/secret.fits", "link_in.fits/../../outside/secret.fits", "dir_out/../ok.fits",
    "ok.fits[../../outside/secret.fits]", "/etc/passwd", "%2Fetc%2Fpasswd", "//etc/passwd", "/OUT/secret.fits",
    "%2FOUT%2Fsecret.fits", "~/.bashrc", "~root/.ssh/id_rsa", "%7Eroot", "..%5Coutside%5Csecret.fits",
    "sub%5C..%5C..%5Coutside%5Csecret.fits", "%5C%5Cserver%5Cshare%5Csecret.fits",
    "%5C%5C%3F%5CC%3A%5CWindows%5Cwin.ini", "C%3A%5CWindows%5Cwin.ini", "//server/share/secret.fits",
    "..%5C..%5Cetc%5Cpasswd", "%2e%2e%5c", "ok.fits%00", "ok.fits%00.png", "%00../outside/secret.fits",
    "ok.fits%0a", "ok%0d%0a.fits", "%1b%5b31m.fits", "ok.fits%7f", "%c2%85ok.fits", "a" * 1100, "ab/" * 400,
    "x" * 300 + ".fits", "sub/" + "y" * 256,
]
MISSING = [  # 404 "no such image": the file system decides, and says nothing about why
    "nowhere.fits", "sub/nowhere.fits", "link_out.fits", "abs_out.fits", "dir_out/secret.fits", "dir_out",
    "sub/deep_out.fits", "dev_link.fits", "proc_link", "etc_link", "loop_a", "self_loop", "dangling.fits",
    "fifo.fits", "dir.fits", "sub", "sub/", ".", "./", "%252e%252e%252foutside%252fsecret.fits",
    "%25252e%25252e%25252foutside", "..%252f..%252fetc%252fpasswd", "%c0%ae%c0%ae/outside/secret.fits",
    "%e0%80%ae%e0%80%ae/outside/secret.fits", "%c0%af%c0%afetc%c0%afpasswd",
    "%ef%bc%8e%ef%bc%8e/outside/secret.fits", "%e2%80%a5/outside/secret.fits",
    "..%e2%88%95outside%e2%88%95secret.fits", "%u002e%u002e/outside/secret.fits", "....//....//outside/secret.fits",
    "file:///etc/passwd", "C:/Windows/win.ini", "%ed%a0%80.fits", "cafe%cc%81.fits", "%e2%80%aeok.fits",
]
SERVED = ["ok.fits", "sub/inner.fits", "link_in.fits", "./ok.fits", "sub//inner.fits", "ok.fits[0]", "%6fk.fits"]


def write_fits(path: Path, seed: int, obj: str) -> None:
    data = np.random.default_rng(seed).normal(100, 5, (64, 64)).astype(np.float32)
    hdu = fits.PrimaryHDU(data)
    hdu.header["OBJECT"] = obj
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)


@pytest.fixture
def hostile(tmp_path: Path, data_dir: Path) -> dict[str, Any]:
    """A data folder full of traps, next to an outside folder holding a perfectly valid secret image."""
    outside = tmp_path / "outside"
    write_fits(outside / "secret.fits", 9, "SECRET")
    write_fits(data_dir / "ok.fits", 1, "OK")
    write_fits(data_dir / "sub" / "inner.fits", 2, "INNER")
    write_fits(data_dir / "café.fits", 3, "CAFE")
    links = {
        "link_in.fits": "ok.fits", "link_out.fits": "../outside/secret.fits",
        "abs_out.fits": str(outside / "secret.fits"),
        "dir_out": "../outside", "sub/deep_out.fits": "../../outside/secret.fits", "dev_link.fits": "/dev/zero",
        "proc_link": "/proc/self/environ", "etc_link": "/etc/passwd", "loop_a": "loop_b", "loop_b": "loop_a",
        "self_loop": "self_loop", "dangling.fits": "nowhere.fits",
    }
    for name, target in links.items():
        (data_dir / name).symlink_to(target)
    os.mkfifo(data_dir / "fifo.fits")
    (data_dir / "dir.fits").mkdir()
    missing = list(MISSING)
    try:  # a device node inside the data folder needs CAP_MKNOD (root in CI); elsewhere only the symlink case runs
        os.mknod(data_dir / "dev.fits", stat.S_IFCHR | 0o666, os.makedev(1, 5))
        missing.append("dev.fits")
    except PermissionError:
        pass
    return {"outside": outside, "missing": missing}


class OpenAudit:
    """Every path opened by this process while active, resolved at the moment it is opened (so that a
    /proc/self/fd/N path names the file actually open). The hook cannot be removed: it idles when inactive."""

    active: list[str] | None = None
    installed = False

    @classmethod
    def hook(cls, event: str, args: tuple[Any, ...]) -> None:
        record = cls.active
        if record is None or event not in ("open", "os.open") or not args:
            return
        path = args[0]
        if isinstance(path, (str, bytes, os.PathLike)):
            cls.active = None  # realpath may open nothing, but never recurse
            try:
                record.append(os.path.realpath(os.fsdecode(path)))
            finally:
                cls.active = record

    def __enter__(self) -> list[str]:
        if not OpenAudit.installed:
            sys.addaudithook(OpenAudit.hook)
            OpenAudit.installed = True
        self.opened: list[str] = []
        OpenAudit.active = self.opened
        return self.opened

    def __exit__(self, *exc: Any) -> None:
        OpenAudit.active = None


def allowed_roots(*folders: Path) -> tuple[str, ...]:
    """The folders a server may open files in: its data and cache, and the Python installation (lazy imports)."""
    installed = sysconfig.get_paths()
    paths = {str(f) for f in folders} | {installed[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {p for p in sys.path if p and os.path.isdir(p) and p != "/"} | {sys.prefix, sys.base_prefix}
    return tuple(os.path.realpath(p).rstrip("/") + "/" for p in paths)


# The status page reads the server's own memory figures; /proc/self/environ and the like stay forbidden.
OWN_PROCESS_INFO = {f"/proc/{os.getpid()}/{name}" for name in ("stat", "statm", "status", "io", "smaps_rollup")}


def outside_opens(opened: list[str], roots: tuple[str, ...]) -> list[str]:
    return sorted({p for p in opened if not (p + "/").startswith(roots) and p not in OWN_PROCESS_INFO})


def get(client: Any, path: str, fif: str, extra: str = "&INFO") -> Any:
    return client.get(f"{path}?FIF={fif}{extra}")


def assert_no_leak(text: str, *secrets: str) -> None:
    for secret in ("SECRET", "Traceback", "/proc", "/etc/", "/dev/", *secrets):
        assert secret not in text, (secret, text[:300])


def test_hostile_corpus_is_refused_and_opens_nothing_outside(client_for, data_dir, cache_dir, tmp_path, hostile):
    client = client_for(tile_size=64)
    out = str(hostile["outside"]).lstrip("/")
    corpus = [(fif.replace("OUT", out), 403) for fif in SPELLED_OUT] + [(fif, 404) for fif in hostile["missing"]]
    assert len(corpus) >= 60
    roots = allowed_roots(data_dir, cache_dir)
    failures = []
    with OpenAudit() as opened:
        for fif in SERVED:  # the legitimate neighbours are served (and their files opened)
            r = get(client, "/api", fif)
            if r.status_code != 200:
                failures.append((fif, r.status_code, 200))
        for fif, status in corpus:
            for path, extra in (("/api", "&INFO"), ("/api", "&JTL=0,0"), ("/api", "&VAL=1,1"), ("/progress", "")):
                r = get(client, path, fif, extra)
                if r.status_code != status:
                    failures.append((f"{path}?FIF={fif[:60]}{extra}", r.status_code, status))
                    continue
                assert_no_leak(r.text, str(tmp_path))
                if status == 404:
                    assert r.json() == NOT_FOUND, (fif, r.text)  # one message whatever the reason
    assert not failures, failures
    assert not outside_opens(opened, roots), outside_opens(opened, roots)
    assert any(p.startswith(str(data_dir)) for p in opened)  # the audit did see the legitimate opens
    assert not any(p.startswith(str(hostile["outside"])) for p in opened)
    # The served images are built in the background: their folders leave tmp/ as they are published (a folder
    # left by a failed build would stay, and time this out).
    wait_for(lambda: not list((cache_dir / "tmp").iterdir()), "the builds to be published")
    with OpenAudit() as probe, open(data_dir / "link_out.fits", "rb") as f:  # the audit would see a slip
        with open(f"/proc/self/fd/{f.fileno()}", "rb"):
            pass
    assert outside_opens(probe, roots) == [str(hostile["outside"] / "secret.fits")]


def test_folder_listing_stays_inside(client_for, data_dir, tmp_path, hostile):
    client = client_for()
    out = str(hostile["outside"]).lstrip("/")
    listed = client.get("/list", params={"path": ""}).json()
    names = {e["name"] for e in listed["entries"]}
    assert {"sub", "ok.fits", "link_in.fits"} <= names
    assert not names & {"dir_out", "link_out.fits", "abs_out.fits", "dev_link.fits", "etc_link", "fifo.fits"}
    for raw in [fif.replace("OUT", out) for fif in SPELLED_OUT] + hostile["missing"]:
        r = client.get(f"/list?path={raw}")
        assert r.status_code in (200, 403, 404), (raw, r.status_code)
        assert_no_leak(r.text, str(tmp_path))
        if r.status_code == 200:  # only a folder inside, spelled in some harmless way
            assert r.json()["path"] in ("", "sub", "dir.fits"), raw


def test_websocket_subscribe_is_confined(client_for, hostile):
    client = client_for()
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"
        for image in ("../outside/secret.fits", "link_out.fits", "dir_out/secret.fits", "fifo.fits", "/etc/passwd"):
            ws.send_json({"type": "subscribe", "image": image})
            message = ws.receive_json()
            assert message["type"] == "error" and message["kind"] in ("forbidden", "not_found"), message
            assert_no_leak(message["message"])  # the image named is the client's own words, echoed


def test_file_swapped_for_a_symlink_between_requests(client_for, data_dir, cache_dir, hostile, monkeypatch):
    monkeypatch.setattr(api, "KEY_TTL", 0.0)  # re-resolve the path on every request, as after the TTL
    client = client_for(tile_size=64)
    write_fits(data_dir / "swap.fits", 4, "SWAP")
    write_fits(data_dir / "folder" / "swap.fits", 5, "SWAP2")
    first = client.get("/api", params={"FIF": "swap.fits", "INFO": ""})
    assert first.status_code == 200 and first.json()["object_name"] == "SWAP"
    assert client.get("/api", params={"FIF": "folder/swap.fits", "JTL": "0,0"}).status_code == 200
    with OpenAudit() as opened:
        (data_dir / "swap.fits").unlink()
        (data_dir / "swap.fits").symlink_to(hostile["outside"] / "secret.fits")
        shutil.rmtree(data_dir / "folder")
        (data_dir / "folder").symlink_to(hostile["outside"])
        (hostile["outside"] / "swap.fits").symlink_to("secret.fits")
        for fif in ("swap.fits", "folder/swap.fits", "folder/secret.fits"):
            for extra in ("INFO", "JTL=0,0", "VAL=1,1"):
                r = get(client, "/api", fif, "&" + extra)
                assert r.status_code == 404 and r.json() == NOT_FOUND, (fif, extra, r.text)
    assert not any(p.startswith(str(hostile["outside"])) for p in opened), opened


def test_pinned_open_defeats_a_swap_after_resolve(data_dir, hostile):
    """The race inside one request: resolve() approved the path, then it changed before the reader opened it."""
    write_fits(data_dir / "a" / "b.fits", 6, "B")
    real = datapath.resolve(data_dir, "a/b.fits")
    with datapath.pinned(data_dir, real) as path:
        assert os.path.realpath(path) == str(real) and fits.getheader(path)["OBJECT"] == "B"
    secret = hostile["outside"] / "secret.fits"
    for swap in ("file", "folder", "fifo"):
        shutil.rmtree(data_dir / "a")
        if swap == "file":
            (data_dir / "a").mkdir()
            (data_dir / "a" / "b.fits").symlink_to(secret)
        elif swap == "folder":
            (data_dir / "a").symlink_to(secret.parent)
            (secret.parent / "b.fits").unlink(missing_ok=True)
            (secret.parent / "b.fits").symlink_to(secret)
        else:
            (data_dir / "a").mkdir()
            os.mkfifo(data_dir / "a" / "b.fits")  # must not block waiting for a writer
        with pytest.raises(ImageNotFound), datapath.pinned(data_dir, real):
            pass
        if swap == "folder":
            (data_dir / "a").unlink()
            (data_dir / "a").mkdir()


@pytest.mark.parametrize("relative,error", [
    ("../x", Forbidden), ("a/../../x", Forbidden), ("/x", Forbidden), ("a\\b", Forbidden), ("a\x00b", Forbidden),
    ("a\ud800b", Forbidden), ("a\nb", Forbidden), ("a" * 1025, Forbidden), ("b" * 256, Forbidden),
    ("missing", ImageNotFound), ("out", ImageNotFound), ("", ImageNotFound),
])
def test_resolve_table(data_dir, tmp_path, relative, error):
    (data_dir / "out").symlink_to(tmp_path)
    with pytest.raises(error):
        datapath.resolve(data_dir, relative)


def test_unreadable_file_answers_like_a_missing_one(tmp_path):
    """Root reads any file whatever its mode: as root (CI), the server runs without the capabilities that let it
    (setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so mode 000 really stops it, as it would a user."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_fits(data / "readable.fits", 7, "READABLE")
    write_fits(data / "locked.fits", 8, "LOCKED")
    write_fits(data / "locked" / "inner.fits", 9, "INNER")
    (data / "locked.fits").chmod(0)
    (data / "locked").chmod(0)
    port = free_port()
    env = server_env(data, cache, tmp_path / "config")
    command = [sys.executable, "-m", "tileserver", "--no-browser", "--port", str(port)]
    if os.geteuid() == 0:
        command = [shutil.which("setpriv") or "setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        assert httpx.get(url + "/api", params={"FIF": "readable.fits", "INFO": ""}).status_code == 200
        for fif in ("locked.fits", "locked/inner.fits", "missing.fits"):
            r = httpx.get(url + "/api", params={"FIF": fif, "INFO": ""})
            assert r.status_code == 404 and r.json() == NOT_FOUND, (fif, r.text)
        r = httpx.get(url + "/list", params={"path": "locked"})
        assert r.status_code == 404 and str(tmp_path) not in r.text
    finally:
        proc.terminate()
        proc.wait(15)
