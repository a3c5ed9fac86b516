"""The wire names have one home (tileserver/names.py): the renderer has a table for each, the OpenAPI document
offers exactly them, and the web client's copy (client/js/core/DisplaySettings.js) lists the same, in order."""

from __future__ import annotations

import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from tileserver import names
from tileserver.display import colormaps, render

CLIENT = Path(__file__).resolve().parent.parent / "client" / "js" / "core" / "DisplaySettings.js"


def client_list(name: str) -> list[str]:
    """A `const NAME = ['a', 'b', ...];` array of the client module, as a list of strings."""
    match = re.search(rf"const {name} = (\[[^\]]*\]);", CLIENT.read_text(encoding="utf-8"))
    assert match, f"{name} is no longer a literal array in {CLIENT.name}"
    return json.loads(match.group(1).replace("'", '"'))


def test_the_client_offers_the_servers_names_in_the_same_order() -> None:
    assert client_list("STRETCHES") == list(names.STRETCHES)
    assert client_list("BASE_COLORMAPS") == list(names.BASE_COLORMAPS)


def test_every_name_renders() -> None:
    assert set(colormaps._TABLES) == set(names.COLORMAPS)
    assert render.STRETCHES is names.STRETCHES


def test_the_openapi_document_offers_the_names(client: TestClient) -> None:
    parameters = {p["name"]: p for p in client.get("/openapi.json").json()["paths"]["/api"]["get"]["parameters"]}
    assert set(parameters) == set(names.PARAMETERS)
    assert parameters["STR"]["schema"]["enum"] == list(names.STRETCHES)
    assert parameters["CMP"]["schema"]["enum"] == list(names.COLORMAPS)
    assert parameters["CVT"]["schema"]["enum"] == list(names.REGION_FORMATS)
