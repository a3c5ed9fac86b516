"""Make the manual's screenshots (doc/_static/*.png): a real server on the demo sky, driven in Debian's Chromium.

Run: python3 doc/screenshots.py [--chromium /usr/bin/chromium]
Needs playwright (the test extras) and the chromium package; the demo sky is built in a temporary cache folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE / "_static"
VIEWPORT = {"width": 1280, "height": 760}
# A view of the demo sky with two galaxies, at one image pixel per screen pixel, in the asinh stretch.
VIEW = "x=1700&y=1260&zoom=1&STR=asinh"
CURSOR = (552, 324)  # the round galaxy, on screen: the readout shows its position and value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(cache: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    env.update({"TILESERVER_CACHE_DIR": str(cache), "XDG_CONFIG_HOME": str(cache / "config")})
    proc = subprocess.Popen([sys.executable, "-m", "tileserver", "--no-browser", "--port", str(port)],
                            cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("the server did not start")


def wait_for_tiles(page) -> None:
    page.wait_for_function(
        "document.querySelectorAll('img.leaflet-tile-loaded').length > 0 && "
        "document.querySelectorAll('img.leaflet-tile:not(.leaflet-tile-loaded)').length === 0",
        timeout=60000)
    page.wait_for_timeout(500)  # fades and the overview


def shoot(base: str, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless=new", "--no-sandbox",
                                                                     "--disable-gpu"])
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/?image=demo-sky.fits&{VIEW}")
        wait_for_tiles(page)
        page.mouse.move(*CURSOR)
        page.wait_for_timeout(800)  # the pixel value under the cursor comes from the server
        page.screenshot(path=STATIC / "viewer.png")
        page.keyboard.press("s")
        page.wait_for_timeout(300)
        page.locator(".ts-panel-settings").wait_for(state="visible")
        page.wait_for_timeout(500)
        # The panel and the image beside it, at a size where the panel reads well in the manual.
        width = 720
        page.screenshot(path=STATIC / "settings-panel.png",
                        clip={"x": VIEWPORT["width"] - width, "y": 0, "width": width, "height": VIEWPORT["height"]})
        browser.close()


# WebGL for Aladin Lite in headless Chromium without a GPU: ANGLE over SwiftShader (as tests/test_client_aladin.py).
WEBGL_ARGS = ["--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
              "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


def shoot_aladin(base: str, chromium: str) -> None:
    """The demo sky as a HiPS in Aladin Lite, at its place on the sky."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=WEBGL_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/aladin?image=demo-sky.fits")
        # (No wait_for_function: the page's Content-Security-Policy forbids the eval it needs.)
        if not page.evaluate("window.tileserverAladin.then(a => a !== null)"):
            raise RuntimeError(page.text_content("#status"))
        # Aladin Lite asks for deeper tiles once coarser ones are in, and fades each in: shoot once the picture
        # stops changing.
        shot, deadline = b"", time.monotonic() + 180
        while time.monotonic() < deadline:
            page.wait_for_load_state("networkidle", timeout=120000)
            page.wait_for_timeout(3000)
            previous, shot = shot, page.screenshot()
            if shot == previous:
                break
        (STATIC / "aladin-lite.png").write_bytes(shot)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tileserver-shots-") as tmp:
        proc = start_server(Path(tmp), port)
        try:
            shoot(f"http://127.0.0.1:{port}", args.chromium)
            shoot_aladin(f"http://127.0.0.1:{port}", args.chromium)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    print(f"wrote {STATIC / 'viewer.png'}, {STATIC / 'settings-panel.png'} and {STATIC / 'aladin-lite.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
