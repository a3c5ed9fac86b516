"""The shipped nginx and Apache configurations, for real, in front of `tileserver --workers 2 --root-path /vis`.

Each proxy is started once for the module (see support/proxies.py); every test runs through both.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tileserver.web.monitor import PUBLISH_INTERVAL

from support import proxies, save_artifact
from support.images import write_image
from support.servers import LiveServer, start_backend

pytestmark = pytest.mark.proxy

WIDTH, HEIGHT, TILE = 600, 400, 128  # 4 levels; the full resolution (z=3) is 5 x 4 tiles


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("proxied")
    write_image(folder / "data" / "a.fits", WIDTH, HEIGHT, seed=3)
    write_image(folder / "data" / "night 1" / "b.fits", 200, 100, seed=4)
    server = start_backend(folder / "data", folder / "cache", "--tile-size", str(TILE), "--workers", "2",
                           "--root-path", "/vis")
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["nginx", "apache"])
def proxy(request: pytest.FixtureRequest, backend: LiveServer) -> Iterator[proxies.Proxy]:
    if request.param == "nginx":
        started = proxies.start_nginx([backend.port], tls=True)
    else:
        started = proxies.start_apache(backend.port, tls=True)
    yield started
    started.stop()


def cache_status(proxy: proxies.Proxy, response: httpx.Response) -> str:
    """HIT, MISS, ...: nginx's $upstream_cache_status, or the first word of Apache's X-Cache."""
    header = "x-cache-status" if proxy.name == "nginx" else "x-cache"
    return response.headers.get(header, "").split(" ")[0]


def api(proxy: proxies.Proxy, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    return httpx.get(proxy.url + "/vis/api", params={"FIF": "a.fits", **params}, headers=headers, timeout=60)


def tiles_rendered(backend: LiveServer) -> int:
    """Tiles the backend served, once every worker has published its counters."""
    time.sleep(2 * PUBLISH_INTERVAL)
    return httpx.get(backend.url + "/status.json").json()["totals"]["tiles"]


def test_viewer_page_and_its_files_resolve_under_vis(proxy: proxies.Proxy) -> None:
    redirect = httpx.get(proxy.url + "/vis")
    assert redirect.status_code == 301 and redirect.headers["location"].endswith("/vis/")
    page = httpx.get(proxy.url + "/vis/", params={"image": "a.fits"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    config = json.loads(re.search(r'id="tileserver-config" type="application/json">(.*?)</script>', page.text,
                                  re.S).group(1))
    assert (config["root"], config["api"]) == ("/vis", "/vis/api")
    assert 'type="importmap"' not in page.text  # the client imports Leaflet by a relative URL (client/js/leaflet.js)
    urls = re.findall(r'(?:href|src)="(/[^"]*)"', page.text) + ["/vis/leaflet/leaflet-src.esm.js"]
    assert len(urls) >= 4 and all(url.startswith("/vis/") for url in urls), urls
    kinds = {".css": "text/css", ".js": "javascript"}
    for url in urls:
        response = httpx.get(proxy.url + url)
        assert response.status_code == 200, url
        assert kinds[Path(url).suffix] in response.headers["content-type"], url


def test_info_tiles_snapshot_and_errors(proxy: proxies.Proxy) -> None:
    info = api(proxy, INFO="")
    assert info.status_code == 200
    assert info.json()["full_size"] == [WIDTH, HEIGHT]
    tile = api(proxy, JTL="3,19")  # the last, cropped, tile of the full resolution
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    assert tile.content[:2] == b"\xff\xd8" and "etag" in tile.headers
    snapshot = api(proxy, RGN="1,1:300,200", BIN="2")
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    missing = api(proxy, JTL="3,20")
    assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["query", "JTL"]
    assert api(proxy, FIF="../etc/passwd", INFO="").status_code == 403


def test_hips_of_an_image_in_a_folder(proxy: proxies.Proxy) -> None:
    # The id is one path segment with an encoded "/" (and space), which the proxy must pass as it is.
    base = f"{proxy.url}/vis/hips/night%201%2Fb.fits"
    properties = httpx.get(f"{base}/properties", timeout=60)
    assert properties.status_code == 200, properties.text
    assert properties.headers["access-control-allow-origin"] == "*"
    assert "hips_tile_format  = jpeg fits" in properties.text
    allsky = httpx.get(f"{base}/Norder3/Allsky.jpg", timeout=60)
    assert allsky.status_code == 200 and allsky.headers["content-type"] == "image/jpeg"
    assert httpx.get(f"{proxy.url}/vis/hips/..%2Fsecret.fits/properties", timeout=60).status_code == 403


def test_security_headers_pass_through_every_location(proxy: proxies.Proxy) -> None:
    """tileserver sends them; the proxies must neither drop them nor, in some location, replace them."""
    quality = "61" if proxy.name == "nginx" else "62"
    paths = ["/vis/", f"/vis/api?FIF=a.fits&JTL=1,0&QLT={quality}", f"/vis/api?FIF=a.fits&JTL=1,0&QLT={quality}",
             "/vis/api?FIF=a.fits&INFO", "/vis/client/js/main.js", "/vis/healthz", "/vis/extra/list"]
    responses = [httpx.get(proxy.url + path) for path in paths]
    assert cache_status(proxy, responses[2]) == "HIT"  # from the proxy's cache, headers kept
    for response in responses:
        assert response.status_code == 200, response.url
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["x-frame-options"] == "SAMEORIGIN", response.url
        assert response.headers["referrer-policy"] == "same-origin", response.url
        assert "frame-ancestors 'self'" in response.headers["content-security-policy"], response.url
        assert len(response.headers.get_list("content-security-policy")) == 1, response.url


def test_upload_limits_match_the_routes(proxy: proxies.Proxy) -> None:
    """The POST routes take what tileserver accepts; every other route keeps the small default limit."""
    region = b"# Region file format: DS9\nfk5\ncircle(10.1,20.2,3\")\n" + b"# a long comment line\n" * 50_000  # 1.1 MB
    r = httpx.post(proxy.url + "/vis/extra/regions", content=region, timeout=120)
    assert r.status_code == 200 and r.json()["type"] == "FeatureCollection", r.text[:300]
    # Refused by the proxy itself (its own page, not tileserver's JSON), declared length or chunked.
    for path, body in (("/vis/extra/regions", b"#" * (16 * 2**20 + 1)), ("/vis/api", b"x" * 20_000),
                       ("/vis/api", iter([b"x" * 20_000]))):
        over = httpx.post(proxy.url + path, content=body, timeout=120)
        assert over.status_code == 413 and "json" not in over.headers.get("content-type", ""), path


def test_revalidation_answers_304(proxy: proxies.Proxy) -> None:
    for params in ({"JTL": "2,3", "QLT": "81"}, {"JTL": "2,3", "QLT": "81"}):  # first a miss, then from the cache
        tile = api(proxy, **params)
        etag = tile.headers["etag"]
        again = api(proxy, headers={"If-None-Match": etag}, **params)
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    assert api(proxy, headers={"If-None-Match": '"other"'}, JTL="2,3", QLT="81").status_code == 200


def test_proxy_cache_serves_repeated_tiles_and_honours_no_cache(proxy: proxies.Proxy, backend: LiveServer) -> None:
    quality = "70" if proxy.name == "nginx" else "71"  # tiles neither proxy has seen
    before = tiles_rendered(backend)
    for i in range(4):
        response = api(proxy, JTL=f"2,{i}", QLT=quality)
        assert (response.status_code, cache_status(proxy, response)) == (200, "MISS")
    for i in range(4):
        response = api(proxy, JTL=f"2,{i}", QLT=quality)
        assert (response.status_code, cache_status(proxy, response)) == (200, "HIT")
    assert tiles_rendered(backend) == before + 4  # the hits never reached tileserver
    # INFO says no-cache and errors carry no Cache-Control: neither is ever served from the proxy's cache.
    for params in ({"INFO": ""}, {"JTL": "2,99"}):
        for _ in range(2):
            assert cache_status(proxy, api(proxy, **params)) != "HIT"


def test_websocket_reports_ready(proxy: proxies.Proxy) -> None:
    url = proxy.url.replace("http://", "ws://") + "/vis/ws"
    with connect(url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"type": "subscribe", "image": "a.fits"}))
        while (message := json.loads(ws.recv(timeout=30)))["type"] != "ready":
            assert message["type"] in ("progress", "ping"), message
        assert message["image"] == "a.fits" and message["info"]["full_size"] == [WIDTH, HEIGHT]


def test_server_sees_the_client_address(proxy: proxies.Proxy) -> None:
    # The proxy forwards the client's address; tileserver believes it from a proxy on loopback, so admin_allow
    # (loopback only) lets us in, and refuses a client the proxy says is elsewhere.
    assert httpx.get(proxy.url + "/vis/status.json").status_code == 200
    elsewhere = httpx.get(proxy.url + "/vis/status.json", headers={"X-Forwarded-For": "203.0.113.9"})
    assert elsewhere.status_code == 403


@pytest.mark.parametrize("length, status", [
    (4000, 200),   # within max_query_length: an ordinary (if odd) tile request
    (5000, 422),   # past max_query_length: tileserver refuses it
    (9000, 414),   # past the proxy's request line limit
])
def test_request_line_limits(proxy: proxies.Proxy, length: int, status: int) -> None:
    base = "/vis/api?FIF=a.fits&JTL=2,0&X="
    response = httpx.get(proxy.url + base + "x" * (length - len(base)))
    assert response.status_code == status


def test_header_limit(proxy: proxies.Proxy) -> None:
    assert httpx.get(proxy.url + "/vis/healthz", headers={"X-Big": "y" * 7000}).status_code == 200
    assert httpx.get(proxy.url + "/vis/healthz", headers={"X-Big": "y" * 9000}).status_code == 400


def test_tls_site_and_redirect(proxy: proxies.Proxy) -> None:
    https = f"https://127.0.0.1:{proxy.ports['https']}"
    with httpx.Client(verify=False) as client:
        info = client.get(https + "/vis/api", params={"FIF": "a.fits", "INFO": ""})
        assert info.status_code == 200 and info.json()["full_size"] == [WIDTH, HEIGHT]
        assert client.get(https + "/vis/api", params={"FIF": "a.fits", "JTL": "0,0"}).status_code == 200
    redirect = httpx.get(f"http://127.0.0.1:{proxy.ports['redirect']}/vis/?image=a.fits")
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://") and redirect.headers["location"].endswith(
        "/vis/?image=a.fits")


def test_root_path_with_or_without_the_prefix(backend: LiveServer) -> None:
    # A proxy may pass /vis/... unchanged (what ours do) or strip /vis: the server answers both the same.
    direct = f"http://127.0.0.1:{backend.port}"
    for prefix in ("/vis", ""):
        assert httpx.get(f"{direct}{prefix}/healthz").status_code == 200
        page = httpx.get(f"{direct}{prefix}/")
        assert page.status_code == 200 and re.search(r'href="/vis/static/\w+/client/css/viewer.css"', page.text)
        assert httpx.get(f"{direct}{prefix}/api", params={"FIF": "a.fits", "INFO": ""}).status_code == 200
    assert httpx.get(f"{direct}/vis/vis/healthz").status_code == 404


@pytest.mark.browser
def test_viewer_in_chromium(proxy: proxies.Proxy, page: Any) -> None:
    frames: list[tuple[str, str]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append((ws.url, payload))))
    page.goto(proxy.url + "/vis/?image=a.fits")
    page.wait_for_selector(".leaflet-tile-loaded", timeout=30_000)
    page.wait_for_load_state("networkidle")
    loaded = page.locator("img.leaflet-tile-loaded").count()
    path = save_artifact(f"proxy-{proxy.name}-viewer.png", page.screenshot())
    assert loaded >= 1, path
    assert page.console_errors == [] and page.failed_requests == []
    # The viewer's live channel goes through the proxy too.
    deadline = time.monotonic() + 10
    while not frames and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    # It names the image, so that a consistent-hash proxy sends it to the image's node.
    assert frames and {url for url, _ in frames} == {proxy.url.replace("http://", "ws://") + "/vis/ws?FIF=a.fits"}
    assert json.loads(frames[0][1])["type"] == "hello"


@pytest.mark.browser
def test_status_page_in_chromium(proxy: proxies.Proxy, page: Any) -> None:
    api(proxy, JTL="0,0")
    page.goto(proxy.url + "/vis/status")
    path = save_artifact(f"proxy-{proxy.name}-status.png", page.screenshot(full_page=True))
    assert page.locator("h2", has_text="Workers").count() == 1, path
    assert page.locator("table").first.locator("tr").count() == 3  # a heading and the two workers
    assert page.get_by_role("cell", name="a.fits").count() == 1
    for name in ("status.json", "metrics"):
        href = page.get_by_role("link", name=name).get_attribute("href")
        assert href == f"/vis/{name}" and httpx.get(proxy.url + href).status_code == 200
    assert page.console_errors == [] and page.failed_requests == []
