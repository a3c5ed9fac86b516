"""doc/security.rst lists every entry point: each route of the application (with its methods), each parameter that
/openapi.json describes, each websocket message type. A new route without its row in the threat model fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.routing import Mount, WebSocketRoute

from tileserver.web.app import create_app

TEXT = (Path(__file__).resolve().parent.parent / "doc" / "security.rst").read_text(encoding="utf-8")
TABLE = TEXT[TEXT.index("Entry points\n"):TEXT.index("What is left to the operator")]
LITERALS = re.findall(r"``([^`]+)``", TABLE)


def tokens() -> set[str]:
    """Every ``literal`` of the entry-point table, and its words: ``GET /x?FIF=`` gives "GET /x?FIF=", "/x",
    "FIF"..."""
    out: set[str] = set()
    for literal in LITERALS:
        out.add(literal)
        for word in literal.split():
            out.add(word)
            path, _, query = word.partition("?")
            out.add(path)
            out.update(name for name in re.split(r"[=&]", query) if name)
    return out


def test_every_route_is_in_the_threat_model(settings_for: Any, tmp_path: Path) -> None:
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "index.html").write_text("<html></html>")
    app = create_app(settings_for(doc_dir=str(tmp_path / "manual")))
    found = tokens()
    missing = []
    for route in app.routes:
        if isinstance(route, Mount):
            wanted = [route.path + "/*"]
        elif isinstance(route, WebSocketRoute):
            wanted = [route.path]
        else:
            wanted = [route.path] + [f"POST {route.path}" for m in route.methods or () if m == "POST"]
        missing += [w for w in wanted if w not in found]
    assert not missing, f"doc/security.rst has no entry-point row for {missing}"


def test_every_described_parameter_is_in_the_threat_model(client: Any) -> None:
    found = tokens()
    document = client.get("/openapi.json").json()
    missing = set()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                name = param["name"]
                if name not in found and not any("{" + name + "}" in literal for literal in LITERALS):
                    missing.add(f"{path}: {name}")
    assert not missing, f"doc/security.rst names no guard for {sorted(missing)}"


def test_every_websocket_message_is_in_the_threat_model() -> None:
    from tileserver.web import ws

    source = Path(ws.__file__).read_text()
    kinds = set(re.findall(r'kind (?:==|in) \(?"(\w+)"(?:, "(\w+)")?', source))
    names = {k for pair in kinds for k in pair if k} | {"ping", "pong"}
    assert names <= tokens(), names - tokens()
