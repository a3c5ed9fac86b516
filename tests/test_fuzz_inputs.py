"""Fuzzing of the inputs that are not query strings: a mutational fuzzer over files (FITS, TIFF, PNG, VOTable, ds9:
truncations, bit flips, header edits) and Hypothesis over websocket messages. No input may get a 5xx, a traceback
or a server path; the server goes on answering.

CI runs a bounded number of cases (well under two minutes); TILESERVER_FUZZ=long runs ten times more, and
benchmarks/fuzz.py runs the same mutations for as long as asked against a real multi-worker server.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from support.fuzz import mutate, seed_files

LONG = os.environ.get("TILESERVER_FUZZ") == "long"
CASES = 300 if LONG else 24  # mutants per format


def check_answer(r: Any, secret_paths: tuple[str, ...]) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert "Traceback" not in r.text and all(p not in r.text for p in secret_paths), r.text[:300]


@pytest.mark.parametrize("ext", ["fits", "tif", "png"])
def test_mutated_images_never_get_a_5xx(client_for, data_dir, cache_dir, ext):
    client = client_for(tile_size=64, max_request_bytes=64 * 2**20)
    rng = random.Random(f"images-{ext}")
    seed = seed_files()[ext]
    for n in range(CASES):
        name = f"m{n}.{ext}"
        (data_dir / name).write_bytes(mutate(seed, rng))
        fif = name + (rng.choice(["", "[1]", "[SCI]"]) if ext != "png" else "")
        for params in ({"INFO": ""}, {"JTL": "0,0"}, {"RGN": "1,1:10,10", "CVT": "fits"}, {"VAL": "3,3"}):
            check_answer(client.get("/api", params={"FIF": fif, **params}), (str(data_dir), str(cache_dir)))
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("ext,route", [("vot", "/extra/votable"), ("reg", "/extra/regions")])
def test_mutated_catalogs_and_regions_never_get_a_5xx(client_for, tmp_path, ext, route):
    extra = tmp_path / "extra"
    extra.mkdir()
    client = client_for(extra_dir=str(extra))
    rng = random.Random(f"overlays-{ext}")
    seed = seed_files()[ext]
    for n in range(CASES * 2):
        data = mutate(seed, rng)
        check_answer(client.post(route, content=data), (str(tmp_path),))
        (extra / f"m{n}.{ext}").write_bytes(data)
        check_answer(client.get(route, params={"path": f"m{n}.{ext}"}), (str(tmp_path),))
    assert client.get("/extra/list").status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
messages = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["subscribe", "unsubscribe", "ping", "pong", "x", ""]),
                           "image": st.one_of(st.sampled_from(["a.fits", "a.fits[0]", "../etc/passwd", "/etc/passwd",
                                                               ".hidden.fits", "missing.fits", "a.fits[99]"]),
                                              json_values)}).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.sampled_from(["[" * 3000 + "]" * 3000, "{\"a\":" * 1500 + "1" + "}" * 1500, "null", "1e999"]),
)


def test_websocket_messages_never_break_the_socket(client_for, make_fits, data_dir):
    make_fits("a.fits", width=30, height=20)
    client = client_for(ws_max_messages_per_second=10**6, ws_max_subscriptions=4096, ws_max_message_bytes=2**16)

    @settings(max_examples=400 if LONG else 60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.lists(messages, min_size=1, max_size=6))
    def check(batch: list[str]) -> None:
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json()["type"] == "hello"
            for text in batch:
                ws.send_text(text)
            ws.send_text(json.dumps({"type": "ping"}))
            while True:  # every message gets its answer (errors included), then the pong: the socket lives
                reply = ws.receive_json()
                assert reply.get("kind") != "server_error" and str(data_dir) not in json.dumps(reply), reply
                if reply["type"] == "pong":
                    break

    check()
    assert client.get("/healthz").status_code == 200


def test_the_fuzzer_mutates(tmp_path: Path) -> None:
    rng = random.Random(1)
    seed = seed_files()["fits"]
    mutants = {mutate(seed, rng) for _ in range(50)}
    assert len(mutants) > 40 and seed not in mutants


# -- regressions found by benchmarks/fuzz.py -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["thin.fits", "thin.png", "flat.fits", "thin.tif"])
def test_previews_of_thin_images_sample_inside_them(client_for, data_dir, tmp_path, monkeypatch, name):
    """A level one pixel across (20 x 3000 pixels at 64-pixel tiles: 64 source pixels a level pixel) was sampled
    past the image's edge while the image was shown from its source: 500 on the coarse tiles (a mutated TIFF header
    made one of the seed's sides large)."""
    from tileserver.store import pyramid

    gate = tmp_path / "gate"  # the build waits: every tile comes from the source
    gate.touch()
    monkeypatch.setenv(pyramid.GATE_ENV, str(gate))
    data = (np.arange(20 * 3000) % 251).astype(np.uint8).reshape((20, 3000) if "flat" in name else (3000, 20))
    if name.endswith(".fits"):
        fits.PrimaryHDU(data.astype(np.float32)).writeto(data_dir / name)
    else:
        Image.fromarray(data).save(data_dir / name, **({"compression": "tiff_deflate"} if name.endswith("tif") else {}))
    client = client_for(tile_size=64)
    info = client.get("/api", params={"FIF": name, "INFO": ""}).json()
    assert info["final"] is False
    for z in range(len(info["levels_final"])):
        r = client.get("/api", params={"FIF": name, "JTL": f"{z},0"})
        assert r.status_code == 200, (z, r.text)
    gate.unlink()


def test_an_unparsable_card_in_another_hdu_spoils_nothing(client_for, data_dir):
    """A second HDU of unknown type (a control character in XTENSION) with NAXIS = ! 2: astropy raises when the card
    is read, and every route that listed the HDUs answered 500 (INFO, tiles, HiPS, the header viewer; two bit
    flips found by benchmarks/fuzz.py). Now that HDU holds no image and the primary serves."""
    data = bytearray(seed_files()["fits"])
    second = data.index(b"XTENSION= 'IMAGE")
    data[second + 14] = 7  # 'IMA\x07E'
    data[data.index(b"NAXIS   =", second) + 25] = ord("!")
    (data_dir / "bad.fits").write_bytes(bytes(data))
    client = client_for(tile_size=64)
    for url in ("/api?FIF=bad.fits&INFO", "/api?FIF=bad.fits&JTL=0,0", "/hips/bad.fits/properties",
                "/analysis/header?FIF=bad.fits"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text)
    check_answer(client.get("/api?FIF=bad.fits[1]&INFO"), (str(data_dir),))
