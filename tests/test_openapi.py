"""/openapi.json describes every API parameter the parser knows, with the same ranges and names."""

from __future__ import annotations

from tileserver.display.colormaps import COLORMAPS
from tileserver.names import PARAMETERS as KNOWN
from tileserver.names import STRETCHES


def test_openapi_lists_every_parameter(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    params = {p["name"]: p for p in doc["paths"]["/api"]["get"]["parameters"]}
    assert set(params) == KNOWN
    assert params["FIF"]["required"] is True
    assert params["CMP"]["schema"]["enum"] == list(COLORMAPS)
    assert params["STR"]["schema"]["enum"] == list(STRETCHES)
    assert (params["QLT"]["schema"]["minimum"], params["QLT"]["schema"]["maximum"]) == (0, 100)
    responses = doc["paths"]["/api"]["get"]["responses"]
    assert {"200", "304", "403", "404", "413", "415", "422", "503", "507"} <= set(responses)


def test_openapi_follows_root_path(client_for):
    doc = client_for(root_path="/vis", api_path="/iip").get("/openapi.json").json()
    assert doc["servers"] == [{"url": "/vis"}] and "/iip" in doc["paths"]
