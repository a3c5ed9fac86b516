"""Property tests over generated inputs: the query parser, the renderer, the in-process app, and schemathesis over
/openapi.json against a real server. None may fail with anything but a domain error (a 4xx), ever.

The CI runs the quick profile (about 30 s). The long run draws more than 5000 schemathesis cases and ten times more
of everything else: `TILESERVER_FUZZ=long python3 -m pytest -q --timeout 3600 tests/test_fuzz.py`.
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tileserver import iip, names
from tileserver.display import render, stats
from tileserver.display.colormaps import COLORMAPS
from tileserver.errors import InvalidParameter

from support.images import sky

LONG = os.environ.get("TILESERVER_FUZZ") == "long"
SCALE = 10 if LONG else 1
SCHEMATHESIS_CASES = 2600 if LONG else 50  # per generation mode (valid, invalid), on /api; the other paths get fewer
TOTAL_SECONDS = 50.0  # wall time shared fairly among the operations; past its share, an operation's further cases
# are drawn but not sent (x10 in the long run)
MIN_CASES = 4  # cases each operation and mode always sends
fuzz = settings(max_examples=150 * SCALE, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

NAMES = sorted(names.PARAMETERS) + ["jtl", "fif", "Cmp", "obj", "OBJ", "ﬁf", "ınfo", "X", ""]
TOKENS = ["", "0", "1", "-1", "0,0", "1,1:5,5", "1:0,100", "1:1,0,0", "2:0.5,0.5,0.5", "1e400", "nan", "inf", "-0",
          "eq", "st", "log", "1e-300", "grey", "viridis", "jpeg", "fits", "IIP,1.0", "9" * 12, "1,2,3;4,5,6;7,8,9",
          "١", "٣,٤", "a.fits", "a.fits[1]", "a.fits[SCI,2]", "../x", "\x00", " 1 ", "+5", "0x10", "1_0", "1.5e-3",
          ".5"]
values = st.one_of(st.sampled_from(TOKENS), st.text(max_size=30),
                   st.text(alphabet="0123456789,:;.-+eE ", max_size=30))
items = st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), values), max_size=12)


@fuzz
@given(items)
def test_parse_fails_only_with_invalid_parameter(pairs):
    try:
        query = iip.parse(pairs)
    except InvalidParameter as e:
        assert e.message and e.param
        return
    assert hash(query) == hash(iip.parse(pairs)) and query == iip.parse(pairs)
    if len(iip.group(pairs)) == len(pairs):  # each name once: the order does not matter
        assert iip.parse(list(reversed(pairs))) == query
    assert query.user is None and query.kind in ("info", "obj", "tile", "region", "value", "profile")
    assert query.fif and query.render.stretch in names.STRETCHES and query.render.colormap in COLORMAPS


ints = st.integers(-10**9 + 1, 10**9 - 1)
finite = st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False)


@st.composite
def valid_queries(draw: Any) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """A valid query as items, and the fields parse() must give."""
    kind = draw(st.sampled_from(["tile", "region", "value", "profile", "info"]))
    pairs = [("FIF", draw(st.sampled_from(["a.fits", "dir/b.fits", "c.fits[SCI]"])))]
    expect: dict[str, Any] = {"kind": kind}
    if kind == "tile":
        z, i = draw(st.integers(0, 10**9 - 1)), draw(st.integers(0, 10**9 - 1))
        pairs.append(("JTL", f"{z},{i}"))
        expect["tile"] = (z, i)
    elif kind in ("region", "profile"):
        x1, y1 = draw(ints), draw(ints)
        x2 = draw(st.integers(x1, 10**9 - 1)) if kind == "region" else draw(ints)
        y2 = draw(st.integers(y1, 10**9 - 1)) if kind == "region" else draw(ints)
        pairs.append(("RGN" if kind == "region" else "PFL", f"{x1},{y1}:{x2},{y2}"))
        expect["region" if kind == "region" else "line"] = (x1, y1, x2, y2)
        if kind == "region":
            b = draw(st.integers(1, 1024))
            pairs.append(("BIN", str(b)))
            expect["binning"] = b
    elif kind == "value":
        x, y = draw(ints), draw(ints)
        pairs.append(("VAL", f"{x},{y}"))
        expect["point"] = (x, y)
    else:
        pairs.append(("INFO", ""))
    r: dict[str, Any] = {}
    for name, lo, hi, key in (("CNT", 0, 1000, "contrast"), ("BRT", -100, 100, "brightness"),
                              ("GAM", 0.2, 5, "gamma"), ("SAT", 0, 5, "saturation")):
        if draw(st.booleans()):
            v = draw(st.floats(lo, hi, allow_nan=False))
            pairs.append((name, repr(v)))
            r[key] = v
    if draw(st.booleans()):
        r["quality"] = draw(st.integers(0, 100))
        pairs.append(("QLT", str(r["quality"])))
    r["colormap"] = draw(st.sampled_from(sorted(COLORMAPS)))
    r["stretch"] = draw(st.sampled_from(names.STRETCHES))
    pairs += [("CMP", r["colormap"]), ("STR", r["stretch"])]
    minmax = draw(st.lists(st.tuples(st.integers(1, 99999), finite, finite), max_size=4))
    pairs += [("MINMAX", f"{c}:{lo!r},{hi!r}") for c, lo, hi in minmax]
    pairs += [("CHAN", str(c)) for c in draw(st.lists(st.integers(1, 99999), max_size=3))]
    pairs = draw(st.permutations(pairs))
    # Repeated parameters keep the order they come in.
    r["minmax"] = tuple((int(c), float(lo), float(hi)) for name, v in pairs if name == "MINMAX"
                        for c, lo, hi in [v.replace(":", ",").split(",")])
    expect["channels"] = tuple(int(v) for name, v in pairs if name == "CHAN")
    r["channel"] = expect["channels"][0] if expect["channels"] else None
    expect["render"] = r
    return pairs, expect


@fuzz
@given(valid_queries(), st.booleans())
def test_valid_queries_parse_to_what_they_say(generated, lower_case):
    pairs, expect = generated
    if lower_case:
        pairs = [(k.lower(), v) for k, v in pairs]
    query = iip.parse(pairs)
    for key, value in expect.items():
        if key != "render":
            assert getattr(query, key) == value, key
    for key, value in expect["render"].items():
        assert getattr(query.render, key) == value, key


@fuzz
@given(st.sampled_from([("CNT", 0, 1000), ("BRT", -100, 100), ("GAM", 0.2, 5), ("SAT", 0, 5), ("QLT", 0, 100),
                        ("BIN", 1, 1024)]),
       st.one_of(st.floats(allow_nan=True), st.integers(-10**8, 10**8)))
def test_out_of_range_names_its_parameter(param, value):
    name, lo, hi = param
    assume(not (isinstance(value, float) and math.isfinite(value) and lo <= value <= hi))
    assume(not (isinstance(value, int) and lo <= value <= hi))
    base = [("FIF", "a.fits"), ("RGN", "1,1:2,2")]
    with pytest.raises(InvalidParameter) as info:
        iip.parse(base + [(name, str(value))])
    assert info.value.param == name


@fuzz
@given(st.lists(st.sampled_from(["CNT", "JTL", "FIF", "QLT", "CMP"]), min_size=1, max_size=4), st.booleans())
def test_repeated_parameters_are_refused(names, lower_case):
    pairs = [("FIF", "a.fits"), ("JTL", "0,0"), ("CNT", "1"), ("QLT", "50"), ("CMP", "jet")]
    with pytest.raises(InvalidParameter) as info:
        iip.parse(pairs + [(n.lower() if lower_case else n, dict(pairs)[n]) for n in names])
    assert info.value.param in names


# -- renderer ----------------------------------------------------------------------------------------------------

EXTREMES = [np.nan, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-45, -1e-45, 0.0, -0.0, 1e30, -1e30]
pixels = hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24),
                    elements=st.one_of(st.sampled_from(EXTREMES), st.floats(-1e6, 1e6, width=32)))
cut_value = st.one_of(st.sampled_from([0.0, 1.0, -1e30, 1e30, 3.4e38, 1e-30]), st.floats(-1e6, 1e6))


def histogram_of(tile: np.ndarray) -> dict[str, Any]:
    """The histogram the engine would hand the renderer for this data (histeq needs one). In float64: extreme
    float32 values are the renderer's test here; the statistics meet them in test_malformed.py."""
    return stats.channel_stats(tile.ravel().astype(np.float64))["histogram"]


@fuzz
@given(pixels, cut_value, cut_value, st.floats(0, 1000), st.floats(-100, 100), st.floats(0.2, 5),
       st.sampled_from(render.STRETCHES), st.sampled_from(sorted(COLORMAPS)))
# Found by this test: an infinite pixel under CNT=0 renders as a blank (NaN) one, black even inverted; and a
# vanishing contrast overflows the histeq window (x1 = inf, NaN levels).
@example(np.array([[np.inf, 5.0]], np.float32), 0.0, 1.0, 0.0, 0.0, 1.0, "linear", "grey")
@example(np.array([[np.inf]], np.float32), 0.0, 1.0, 1e-78, 0.0, 1.0, "linear", "grey")  # a slope float32 makes 0
@example(np.array([[0.0, 5e9, 1e10]], np.float32), 0.0, 1e10, 1e-300, 0.0, 1.0, "histeq", "grey")
def test_render_mono_is_total_and_black_on_nan(tile, lo, hi, contrast, brightness, gamma, stretch, colormap):
    kw = {"contrast": contrast, "brightness": brightness, "gamma": gamma, "stretch": stretch,
          "histogram": histogram_of(tile)}
    plain = render.render_mono(tile, lo, hi, colormap=colormap, **kw)
    inverted = render.render_mono(tile, lo, hi, colormap=colormap, invert=True, **kw)
    shape = tile.shape if colormap == "grey" else (*tile.shape, 3)
    assert plain.dtype == inverted.dtype == np.uint8 and plain.shape == inverted.shape == shape
    nan = np.isnan(tile)
    assert not plain[nan].any() and not inverted[nan].any()  # background black, even inverted
    if colormap == "grey":
        grey = render.render_mono(tile, lo, hi, **kw)
        assert np.array_equal(inverted[~nan], 255 - grey[~nan])
        if hi > lo:  # a non-decreasing transfer: more signal is never darker
            order = np.argsort(tile[~nan], kind="stable")
            assert (np.diff(grey[~nan][order].astype(int)) >= 0).all()


@fuzz
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float32, (n, 7, 5), elements=st.one_of(st.sampled_from(EXTREMES), st.floats(-1e6, 1e6, width=32))),
    st.lists(st.tuples(cut_value, cut_value), min_size=n, max_size=n),
    hnp.arrays(np.float32, (3, n), elements=st.floats(-3, 3, width=32)))),
    st.floats(0, 5), st.floats(0.2, 5), st.sampled_from(render.STRETCHES), st.booleans())
def test_render_color_is_total_and_black_where_all_nan(data, saturation, gamma, stretch, invert):
    tile, cuts, mix = data
    out = render.render_color(tile, cuts, mix, saturation=saturation, gamma=gamma, stretch=stretch, invert=invert,
                              histograms=[histogram_of(c) for c in tile])
    assert out.dtype == np.uint8 and out.shape == (7, 5, 3)
    assert not out[np.isnan(tile).all(axis=0)].any()


# -- the app -----------------------------------------------------------------------------------------------------

IMAGES = ["mono.fits", "cube.fits", "nan.fits"]


def fuzz_images(make_fits: Any) -> None:
    make_fits("mono.fits", width=150, height=90)
    make_fits("cube.fits", np.stack([sky(70, 50, seed=s) for s in (1, 2, 3)]))
    data = sky(40, 30)
    data[::2] = np.nan
    data[1, 1], data[3, 3] = np.inf, -np.inf
    make_fits("nan.fits", data, wcs=False)


pieces = st.one_of(st.sampled_from(IMAGES), st.sampled_from(TOKENS), st.text(max_size=12),
                   st.sampled_from(["0,0", "1,0", "2,1", "1,1:150,90", "1,1:70,50", "40,40:1,1", "1,1:1,1"]))
query_items = st.lists(st.tuples(st.sampled_from(NAMES[:24] + ["FIF", "FIF", "JTL"]), pieces), max_size=8)


def test_api_answers_generated_queries_without_5xx(client_for, make_fits, tmp_path):
    fuzz_images(make_fits)
    client = client_for(tile_size=64, max_region_tile_count=16)

    @fuzz
    @given(query_items, st.sampled_from(IMAGES))
    def check(pairs: list[tuple[str, str]], fif: str) -> None:
        pairs = ([("FIF", fif)] if not any(k == "FIF" for k, _ in pairs) else []) + pairs
        raw = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
        r = client.get("/api?" + raw)
        assert r.status_code < 500, (raw, r.text)
        if r.status_code >= 400:
            assert r.json()["detail"][0]["msg"] and str(tmp_path) not in r.text

    check()
    assert client.get("/api", params={"FIF": "mono.fits", "JTL": "0,0"}).status_code == 200


# -- schemathesis over the real server ---------------------------------------------------------------------------

def test_schemathesis_finds_no_server_error(live_server, make_fits):
    """Every operation of /openapi.json (POST bodies included), valid and invalid, with real images in FIF and the
    path identifiers. Bounded for CI: a number of cases per operation, no shrinking or targeting phases, and
    TOTAL_SECONDS of wall time shared among the operations: past its share, an operation's remaining cases are drawn
    but not sent (its first MIN_CASES always are), so that a loaded machine makes the test thinner, not longer."""
    import time

    import schemathesis
    from hypothesis import Phase
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    fuzz_images(make_fits)
    server = live_server("--tile-size", "64", "--max-region-tile-count", "16")
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    ran, operations = 0, set()
    all_operations = [result.ok() for result in schema.get_all_operations()]
    deadline = time.monotonic() + TOTAL_SECONDS * SCALE
    left = sum(2 if operation.definition.raw.get("parameters") or "requestBody" in operation.definition.raw else 1
               for operation in all_operations)  # operations x modes still to run
    runs = left
    for operation in all_operations:
        is_api = operation.path.endswith("/api")
        is_iiif = operation.path.startswith("/iiif/")
        takes_fif = any(p.get("name") == "FIF" for p in operation.definition.raw.get("parameters", []))
        has_params = bool(operation.definition.raw.get("parameters")) or "requestBody" in operation.definition.raw
        # Invalid data needs parameters to be invalid.
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_params else (GenerationMode.POSITIVE,)
        cases = SCHEMATHESIS_CASES if is_api else 30 * SCALE if is_iiif else 12 * SCALE
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode)
            sent = [0]
            stop_at = time.monotonic() + max(0.0, deadline - time.monotonic()) / left
            left -= 1

            @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy, image=st.sampled_from([*IMAGES, None]))
            def check(case: Any, image: str | None) -> None:
                nonlocal ran
                if sent[0] >= MIN_CASES and time.monotonic() > stop_at:
                    return
                if takes_fif and image and isinstance(case.query, dict):
                    case.query["FIF"] = image  # real images reach the tile, region, value, profile and tools code
                if "{id}" in operation.path and image and isinstance(case.path_parameters, dict):
                    case.path_parameters["id"] = image  # and the HiPS code
                if is_iiif and image and isinstance(case.path_parameters, dict):
                    case.path_parameters["identifier"] = image  # and IIIF's region, size and rotation code
                response = case.call(base_url=server.url, timeout=30)
                ran += 1
                sent[0] += 1
                assert response.status_code < 500, (case.query, response.text[:300])
                case.validate_response(response, checks=[not_a_server_error])

            check()
            operations.add((operation.method, operation.path))
    described = {(method, path) for path, ops in schema.raw_schema["paths"].items() for method in ops
                 if path != "/openapi.json"}  # the description itself, which schemathesis leaves out
    assert operations == described  # every route of the description was fuzzed
    assert ran >= (5000 if LONG else MIN_CASES * runs), ran  # the cases sent whatever the machine's load
    assert server.proc.poll() is None
