"""Security headers on every answer, a Content-Security-Policy the viewer lives with (checked in Chromium), and the
client's files under versioned, immutable URLs."""

from __future__ import annotations

import re
from pathlib import Path

from tileserver.web import static
from tileserver.web.middleware.security import VIEWER_POLICY

from support import save_artifact

SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "SAMEORIGIN", "referrer-policy": "same-origin"}


def assert_secured(response, policy: str = VIEWER_POLICY) -> None:
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (response.url, name)
    assert response.headers.get("content-security-policy") == policy, response.url


def test_every_kind_of_answer_carries_the_headers(client, make_fits):
    make_fits("s.fits", width=300, height=200)
    for path in ("/", "/api?FIF=s.fits&INFO", "/api?FIF=s.fits&JTL=0,0", "/api?FIF=nope.fits&INFO", "/healthz",
                 "/list", "/client/js/main.js", "/nowhere"):
        assert_secured(client.get(path))
    policy = dict(item.split(" ", 1) for item in VIEWER_POLICY.split("; "))
    assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'self'"  # no inline script, ever


def test_static_files_are_versioned_and_immutable(client):
    page = client.get("/").text
    assert "<script>" not in page and 'type="importmap"' not in page
    [main] = re.findall(r'<script type="module" src="([^"]+)"', page)
    assert re.fullmatch(r"/static/\w{12}/client/js/main.js", main)
    tag = main.split("/")[2]
    for path in (main, f"/static/{tag}/leaflet/leaflet-src.esm.js", f"/static/{tag}/client/js/leaflet.js"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable", path
    assert client.get("/client/js/main.js").headers["cache-control"] == "no-cache"
    assert client.get("/static/000000000000/client/js/main.js").status_code == 404


def test_the_tag_follows_the_content(tmp_path: Path):
    (tmp_path / "a.js").write_text("one")
    first = static.content_tag(tmp_path)
    assert static.content_tag(tmp_path) == first
    (tmp_path / "a.js").write_text("two")
    assert static.content_tag(tmp_path) != first


def test_no_bare_module_specifiers_in_the_client():
    """Without an import map (an inline script), a browser resolves only relative or absolute module URLs."""
    root = Path(__file__).resolve().parent.parent / "client" / "js"
    for path in root.rglob("*.js"):
        for spec in re.findall(r"^\s*(?:import|export)\b[^'\"]*?from\s+['\"]([^'\"]+)['\"]", path.read_text(), re.M):
            assert spec.startswith(("./", "../", "/")), f"{path.relative_to(root)} imports {spec!r}"


CSP_PROBE = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_viewer_runs_under_its_policy_in_chromium(live_server, make_fits, browser):
    """The shared page fixture bypasses the policy (tests evaluate expressions in pages); this page does not, so it
    is driven by keys and read through the DevTools protocol only."""
    make_fits("sky.fits", width=1500, height=900)
    server = live_server()
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.add_init_script(CSP_PROBE)
        page.goto(server.url + "/?image=sky.fits")
        page.locator("img.leaflet-tile-loaded").nth(1).wait_for(timeout=20000)
        page.wait_for_load_state("networkidle")
        save_artifact("viewer-under-csp.png", page.screenshot())
        # Open a few panels: the settings with the histogram, the image browser, the help.
        for key in ("s", "o", "?"):
            page.keyboard.press(key)
            page.wait_for_timeout(300)
        page.wait_for_load_state("networkidle")
        path = save_artifact("viewer-under-csp-panels.png", page.screenshot())
        assert page.evaluate("window.__violations") == [], path
        assert errors == [], path
    finally:
        context.close()
