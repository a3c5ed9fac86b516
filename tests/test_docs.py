"""The manual builds without a warning and documents every setting, API parameter, route and error status.

What it documents is read from the built objects.inv: the manual declares each item with a directive of its
extension (doc/_ext/tileserver_docs.py), so a missing or stale one shows up here, and a reference to an
undocumented one (:setting:`nope`) fails the build itself.
"""

from __future__ import annotations

import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount

from tileserver import config, names
from tileserver.web import app as app_module
from tileserver.web import errors as web_errors
from tileserver.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "doc"


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manual built with warnings as errors, as CI builds it."""
    out = tmp_path_factory.mktemp("manual")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(out / "doctrees"),
         str(DOC), str(out / "html")],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    return out / "html"


def documented(manual: Path) -> dict[str, set[str]]:
    """objects.inv as {"std:setting": {names}, ...}."""
    raw = (manual / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four text lines, then the zlib-compressed body
        header_end = raw.index(b"\n", header_end) + 1
    out: dict[str, set[str]] = {}
    for line in zlib.decompress(raw[header_end:]).decode().splitlines():
        name, role = line.split(" ")[:2]  # no documented name holds a space
        out.setdefault(role, set()).add(name)
    return out


def test_every_setting_is_documented(manual: Path) -> None:
    assert documented(manual)["std:setting"] == {s.name for s in config.SETTINGS}
    page = (manual / "settings.html").read_text()
    for s in config.SETTINGS:
        assert s.env in page and s.help.split()[0] in page, s.name


def test_every_api_parameter_is_documented(manual: Path) -> None:
    assert documented(manual)["std:param"] == names.PARAMETERS


def test_every_route_is_documented(manual: Path, settings_for: Callable[..., config.Settings]) -> None:
    app = create_app(settings_for(doc_dir=str(manual)))
    paths = {route.path for route in app.routes}
    assert any(isinstance(route, Mount) and route.path == "/manual" for route in app.routes)
    assert documented(manual)["std:endpoint"] == paths


def test_every_error_status_is_documented(manual: Path) -> None:
    statuses = {str(code) for code in web_errors.STATUS.values()} | {"304"}  # 304: revalidated tiles
    assert documented(manual)["std:status"] == statuses


def test_openapi_agrees_with_the_manual(manual: Path, client: Any) -> None:
    document = client.get("/openapi.json").json()
    offered = {p["name"] for p in document["paths"]["/api"]["get"]["parameters"]}
    assert offered == names.PARAMETERS
    assert set(document["paths"]) <= documented(manual)["std:endpoint"]


def test_server_serves_the_manual_and_the_viewer_links_to_it(manual: Path, client_for: Callable[..., Any]) -> None:
    client = client_for(doc_dir=str(manual))
    for page in ("", "quickstart.html", "guide.html", "settings.html", "api.html", "deployment.html",
                 "performance.html", "visiomatic.html", "_static/viewer.png"):
        assert client.get(f"/manual/{page}").status_code == 200, page
    assert '"docUrl": "/manual/"' in client.get("/").text


def test_no_manual_no_link(tmp_path: Path, client_for: Callable[..., Any]) -> None:
    client = client_for(doc_dir=str(tmp_path / "not-built"))
    assert client.get("/manual/").status_code == 404
    assert '"docUrl": ""' in client.get("/").text


def test_checkout_manual_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        settings_for: Callable[..., config.Settings]) -> None:
    package = tmp_path / "checkout" / "tileserver"
    built = tmp_path / "checkout" / "doc" / "_build" / "html"
    built.mkdir(parents=True)
    monkeypatch.setattr(app_module, "__file__", str(package / "web" / "app.py"))
    assert app_module.manual_dir(settings_for()) is None  # the folder exists but holds no manual
    (built / "index.html").write_text("<html></html>")
    assert app_module.manual_dir(settings_for()) == built
    assert app_module.manual_dir(settings_for(doc_dir=str(tmp_path))) == tmp_path  # doc_dir wins
