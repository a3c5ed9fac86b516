"""The command line against real processes: quick look, the demo, clear start-up errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support.servers import LiveServer, free_port, stop_group, wait_for


def run(args: list[str], tmp_path: Path, env: dict[str, str] | None = None, timeout: float = 60):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_") and k not in
                ("DISPLAY", "WAYLAND_DISPLAY")}
    full_env.update({"TILESERVER_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "tileserver", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def test_real_server_serves_tiles(live_server, make_fits):
    make_fits("field/sky.fits", width=700, height=500)
    server = live_server()
    info = httpx.get(server.url + "/api", params={"FIF": "field/sky.fits", "INFO": ""}, timeout=30).json()
    assert info["full_size"] == [700, 500]
    tile = httpx.get(server.url + "/api", params={"FIF": "field/sky.fits", "JTL": "2,0", "V": info["cache_tag"]})
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    assert "immutable" in tile.headers["cache-control"] and tile.headers["etag"]
    again = httpx.get(server.url + "/api", params={"FIF": "field/sky.fits", "JTL": "2,0", "V": info["cache_tag"]},
                      headers={"If-None-Match": tile.headers["etag"]})
    assert again.status_code == 304


def test_quick_look_serves_the_given_file(tmp_path, make_fits):
    image = make_fits("look.fits", width=300, height=300)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    env.update({"TILESERVER_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    server = LiveServer([str(image)], env, tmp_path / "quick.log")
    server.port = port
    server.args[server.args.index("--port") + 1] = str(port)
    server.start()
    try:
        page = httpx.get(server.url + "/")
        assert '"look.fits"' in page.text  # the viewer opens on the given image
        assert httpx.get(server.url + "/api", params={"FIF": "look.fits", "JTL": "0,0"}).status_code == 200
    finally:
        server.stop()
    assert f"http://127.0.0.1:{port}/?image=look.fits" in (tmp_path / "quick.log").read_text()


def test_demo_is_generated_once_and_served(tmp_path):
    result = run(["--get", "/api?FIF=demo-sky.fits&INFO"], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"full_size":[4096,3072]' in result.stdout and "RA---TAN" in result.stdout
    demo = tmp_path / "cache" / "demo" / "demo-sky.fits"
    mtime = demo.stat().st_mtime_ns
    result = run(["--get", "/api?FIF=demo-sky.fits&VAL=100,100"], tmp_path, timeout=120)
    assert result.returncode == 0 and '"values"' in result.stdout
    assert demo.stat().st_mtime_ns == mtime


def test_port_in_use(tmp_path, make_fits):
    image = make_fits("a.fits", width=64, height=64)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run([str(image), "--no-browser", "--port", str(port)], tmp_path)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"hello, not an image", "not an image tileserver can read"),
])
def test_bad_quick_look_files(tmp_path, content, message):
    path = tmp_path / "x.fits"
    if content is not None:
        path.write_bytes(content)
    result = run([str(path), "--no-browser"], tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_display_prints_the_url_and_keeps_serving(tmp_path, make_fits):
    image = make_fits("a.fits", width=64, height=64)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_") and k not in
           ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update({"TILESERVER_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    proc = subprocess.Popen([sys.executable, "-m", "tileserver", str(image), "--port", str(port)], env=env,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stderr.readline()
        assert "no display to open a browser on" in line and f"http://127.0.0.1:{port}/?image=a.fits" in line
        info = wait_for(lambda: _get(f"http://127.0.0.1:{port}/api?FIF=a.fits&INFO"), "the server to answer")
        assert info.json()["full_size"] == [64, 64] and proc.poll() is None
    finally:
        stop_group(proc)
        proc.stderr.close()


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


def test_quick_look_with_an_extension_selector(tmp_path, make_fits):
    image = make_fits("ext.fits", width=64, height=64)
    result = run([f"{image}[0]", "--get", "/"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"ext.fits[0]"' in result.stdout


def test_serving_a_folder_opens_no_browser(live_server, make_fits):
    make_fits("a.fits", width=64, height=64)
    server = live_server()  # no DISPLAY in the tests: a quick look would refuse to start
    server.args.remove("--no-browser")
    server.stop()
    server.start()
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
