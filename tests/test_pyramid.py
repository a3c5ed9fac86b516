"""The pyramid: geometry, NaN-aware binning, the streaming builder, the tile reader, statistics and crash safety."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.visualization import ZScaleInterval

from tileserver.display import stats
from tileserver.images import ImageSource
from tileserver.store import pyramid
from tileserver.store.diskcache import DiskCache, write_checksums
from tileserver.store.pyramid import Geometry, Pyramid, bin2
from tileserver.store.sourcelevels import sample

nan = np.nan


def array_source(data: np.ndarray, fail_at_row: int | None = None) -> ImageSource:
    """An ImageSource over a (nchannels, h, w) array in display order; records the bands asked for."""
    data = np.asarray(data, np.float32)
    requests: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def read(channel: int, y0: int, y1: int) -> np.ndarray:
        with lock:
            requests.append((channel, y0, y1))
        if fail_at_row is not None and y1 > fail_at_row:
            raise RuntimeError("the disk went away")
        return data[channel, y0:y1]

    c, h, w = data.shape
    source = ImageSource(read=read, width=w, height=h, nchannels=c, bits_per_channel=32, header={}, chips=[],
                         kind="fits", origin={"size": 123, "mtime_ns": 456})
    source.requests = requests
    return source


def reference_bin(a: np.ndarray, bin_rows: bool = True) -> np.ndarray:
    """nanmean over 2 x 2 blocks (floor sizes; an axis of length 1 is kept), the slow obvious way."""
    h, w = a.shape
    fy, fx = (2 if bin_rows else 1), (2 if w > 1 else 1)
    out = np.full((h // fy, w // fx), nan, np.float64)
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            block = a[y * fy:(y + 1) * fy, x * fx:(x + 1) * fx].astype(np.float64)
            block = block[~np.isnan(block)]
            if block.size:
                out[y, x] = block.mean()
    return out


def sky(shape: tuple[int, ...], seed: int = 1, nan_fraction: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 5.0, shape).astype(np.float32)
    if nan_fraction:
        data[rng.random(shape) < nan_fraction] = nan
    return data


@pytest.mark.parametrize(("width", "height", "tile", "levels", "sizes"), [
    (256, 256, 256, 1, [(256, 256)]),
    (257, 100, 256, 2, [(128, 50), (257, 100)]),
    (600, 400, 64, 5, [(37, 25), (75, 50), (150, 100), (300, 200), (600, 400)]),
    (1000, 1, 64, 5, [(62, 1), (125, 1), (250, 1), (500, 1), (1000, 1)]),
    (65, 3, 64, 2, [(32, 1), (65, 3)]),
    (1, 1, 64, 1, [(1, 1)]),
])
def test_geometry_levels_are_floor_halvings(width, height, tile, levels, sizes):
    g = Geometry(width, height, 1, tile)
    assert g.levels == levels
    assert [g.level_size(z) for z in range(levels)] == sizes


def test_tile_boxes_crop_the_edge_tiles():
    g = Geometry(600, 400, 3, 256)
    assert g.levels == 3 and g.grid(2) == (3, 2)
    assert [g.tile_box(2, i) for i in range(6)] == [
        (0, 0, 256, 256), (256, 0, 256, 256), (512, 0, 88, 256),
        (0, 256, 256, 144), (256, 256, 256, 144), (512, 256, 88, 144)]
    assert [g.tile_box(1, i) for i in range(2)] == [(0, 0, 256, 200), (256, 0, 44, 200)]
    assert g.tile_box(0, 0) == (0, 0, 150, 100)
    with pytest.raises(pyramid.TileNotFound):
        g.tile_box(2, 6)
    with pytest.raises(pyramid.TileNotFound):
        g.tile_box(3, 0)


@pytest.mark.parametrize(("data", "bin_rows", "expected"), [
    ([[1, 2], [3, 4]], True, [[2.5]]),
    ([[1, nan], [3, 5]], True, [[3.0]]),  # a NaN pixel does not blank its block
    ([[nan, nan], [nan, 7]], True, [[7.0]]),
    ([[nan, nan], [nan, nan]], True, [[nan]]),
    ([[1, 2, 9], [3, 4, 9], [9, 9, 9]], True, [[2.5]]),  # odd last row and column dropped
    ([[1], [3], [5], [6]], True, [[2.0], [5.5]]),  # a single column is kept
    ([[1, 2, 3, 5]], False, [[1.5, 4.0]]),  # a level one pixel high: only columns
    ([[4.0]], False, [[4.0]]),
    ([[np.inf, 1], [1, 1]], True, [[np.inf]]),
    ([[np.inf, -np.inf], [1, 1]], True, [[nan]]),
])
def test_bin2_known_values(data, bin_rows, expected):
    out = bin2(np.array(data, np.float32), bin_rows)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array(expected, np.float32))


@pytest.mark.parametrize("nan_fraction", [0.0, 0.01, 0.3, 1.0])
@pytest.mark.parametrize("shape", [(64, 64), (37, 51), (2, 9), (9, 1)])
def test_bin2_matches_nanmean_over_blocks(shape, nan_fraction):
    a = sky(shape, seed=3, nan_fraction=nan_fraction)
    np.testing.assert_allclose(bin2(a), reference_bin(a), rtol=1e-6)


def test_bin2_reads_flipped_views():
    a = sky((40, 30), seed=4, nan_fraction=0.05)
    np.testing.assert_array_equal(bin2(a[::-1]), bin2(np.ascontiguousarray(a[::-1])))


def build(tmp_path: Path, data: np.ndarray, tile_size: int = 64, threads: int = 2, name: str = "pyr") -> Pyramid:
    folder = tmp_path / name
    folder.mkdir()
    manifest = pyramid.build(array_source(data), folder, tile_size, threads)
    return Pyramid(folder, json.loads(json.dumps(manifest)))  # as the cache stores it


@pytest.mark.parametrize(("width", "height", "nchannels"), [(300, 201, 1), (129, 257, 3), (1000, 1, 1), (64, 64, 2)])
def test_every_level_is_the_binned_finer_one(tmp_path, width, height, nchannels):
    data = sky((nchannels, height, width), seed=5, nan_fraction=0.02)
    data[:, : height // 3, : width // 4] = nan  # a blank corner
    pyr = build(tmp_path, data)
    g = pyr.geometry
    expected = data.astype(np.float64)
    for z in reversed(range(g.levels)):
        w, h = g.level_size(z)
        level = pyr.region(z, 0, 0, w, h)
        assert level.shape == (nchannels, h, w)
        if z == g.levels - 1:
            np.testing.assert_array_equal(level, data)  # the full resolution keeps every value exactly
        else:
            expected = np.stack([reference_bin(expected[c], expected.shape[1] > 1) for c in range(nchannels)])
            np.testing.assert_allclose(level, expected, rtol=2e-6)
            expected = level.astype(np.float64)
    pyr.close()


def test_tiles_are_cropped_and_read_back(tmp_path):
    data = sky((2, 150, 200), seed=6)
    pyr = build(tmp_path, data)
    g = pyr.geometry
    assert g.levels == 3 and g.grid(2) == (4, 3)
    for i in range(12):
        x0, y0, w, h = g.tile_box(2, i)
        tile = pyr.tile(2, i)
        assert tile.shape == (2, h, w) == (2, min(64, 150 - y0), min(64, 200 - x0))
        np.testing.assert_array_equal(tile, data[:, y0:y0 + h, x0:x0 + w])
    assert pyr.tile(0, 0).shape == (2, 37, 50)
    np.testing.assert_array_equal(pyr.pixel(199, 149), data[:, 149, 199])
    assert pyr.pixel(200, 0) is None
    pyr.close()


def test_files_hold_exactly_the_pixels(tmp_path):
    pyr = build(tmp_path, sky((3, 100, 130)))
    g = pyr.geometry
    for z in range(g.levels):
        w, h = g.level_size(z)
        assert (pyr.folder / pyramid.level_file(z)).stat().st_size == 3 * w * h * 4
    pyr.close()


def test_one_or_two_threads_write_the_same_bytes(tmp_path):
    data = sky((1, 333, 250), seed=7, nan_fraction=0.01)
    one, two = build(tmp_path, data, threads=1, name="one"), build(tmp_path, data, threads=2, name="two")
    for z in range(one.geometry.levels):
        name = pyramid.level_file(z)
        assert (one.folder / name).read_bytes() == (two.folder / name).read_bytes()
    one.close()
    two.close()


def test_the_builder_reads_every_row_once_in_small_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(pyramid, "CHUNK_BYTES", 4 * 100 * 22)  # 22 rows of 100 floats: an even chunk of 22 rows
    source = array_source(sky((2, 301, 100)))
    (tmp_path / "p").mkdir()
    pyramid.build(source, tmp_path / "p", 64, 2)
    for c in range(2):
        spans = sorted((y0, y1) for ch, y0, y1 in source.requests if ch == c)
        assert spans == [(y, min(y + 22, 301)) for y in range(0, 301, 22)]


def test_chunks_of_any_height_build_the_same_bytes(tmp_path, monkeypatch):
    data = sky((1, 333, 250), seed=5, nan_fraction=0.01)
    whole = build(tmp_path, data, name="whole")
    monkeypatch.setattr(pyramid, "CHUNK_BYTES", 4 * 250 * 6)  # chunks of 6 rows: never a whole row of tiles
    small = build(tmp_path, data, name="small")
    for z in range(whole.geometry.levels):
        name = pyramid.level_file(z)
        assert (whole.folder / name).read_bytes() == (small.folder / name).read_bytes()
    whole.close()
    small.close()


def test_without_the_full_resolution_only_reduced_levels_are_written(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    manifest = pyramid.build(array_source(sky((1, 300, 200))), folder, 64, store_top=False)
    assert manifest["full_resolution"] == "source"
    assert [f["z"] for f in manifest["files"]] == [0, 1, 2]
    assert sorted(p.name for p in folder.iterdir()) == [pyramid.CHECKSUMS, *(pyramid.level_file(z) for z in range(3))]


@pytest.mark.parametrize("shape, store_top", [((1, 777, 1000), False), ((1, 777, 1000), True), ((1, 5, 300), True),
                                              ((1, 1301, 257), True)])
def test_the_checksums_written_with_the_levels_are_those_of_the_tiles_read_back(tmp_path, shape, store_top):
    data = sky(shape)
    data[:, :10] = np.nan
    manifest = pyramid.build(array_source(data), tmp_path, 256, store_top=store_top)
    written = np.fromfile(tmp_path / pyramid.CHECKSUMS, np.uint64)
    (tmp_path / pyramid.CHECKSUMS).unlink()
    write_checksums(tmp_path, manifest)
    assert np.array_equal(written, np.fromfile(tmp_path / pyramid.CHECKSUMS, np.uint64))


def test_manifest(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    manifest = pyramid.build(array_source(sky((1, 70, 90))), folder, 64)
    assert manifest["format"] == pyramid.FORMAT_VERSION
    assert manifest["source"] == {"size": 123, "mtime_ns": 456}
    assert manifest["geometry"] == {"width": 90, "height": 70, "nchannels": 1, "tile_size": 64}
    assert [f["bytes"] for f in manifest["files"]] == [4 * 45 * 35, 4 * 90 * 70]
    json.dumps(manifest, allow_nan=False)  # plain JSON, no NaN


def test_statistics_match_numpy_and_astropy_on_the_sample():
    data = sky((2, 300, 400), seed=8, nan_fraction=0.01)
    data[1] = data[1] * 3 + 50
    data[0, 10, 10], data[1, 20, 20] = np.inf, -np.inf
    samples = sample(array_source(data), target=40_000)
    again = sample(array_source(data), target=40_000)  # the same every time: every worker gets the same cuts
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(samples, again))
    for c in range(2):
        finite = samples[c][np.isfinite(samples[c])]
        assert 5_000 < finite.size <= 20_000
        s = stats.channel_stats(samples[c])
        assert (s["min"], s["max"]) == (float(finite.min()), float(finite.max()))
        assert s["zscale"] == pytest.approx(ZScaleInterval().get_limits(finite), rel=1e-6)
        for p, (lo, hi) in s["percentiles"].items():
            tail = (100 - float(p)) / 2
            assert (lo, hi) == pytest.approx(np.percentile(finite, [tail, 100 - tail]), rel=1e-6)
        assert s["background_level"] == pytest.approx(100.0 if c == 0 else 350.0, rel=0.01)


def test_a_crash_before_publication_leaves_nothing(tmp_path):
    cache = DiskCache(tmp_path / "cache", 10, 2**30)

    def failing_build(folder: Path) -> dict:
        return pyramid.build(array_source(sky((1, 500, 300)), fail_at_row=300), folder, 64)

    with pytest.raises(RuntimeError, match="disk went away"):
        cache.get_or_build("k" * 24, failing_build)
    assert list((tmp_path / "cache" / "entries").iterdir()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []
    entry = cache.get_or_build("k" * 24, lambda folder: pyramid.build(array_source(sky((1, 50, 30))), folder, 64))
    assert entry.manifest["geometry"]["height"] == 50


def test_a_truncated_level_is_a_corrupt_entry(tmp_path):
    pyr = build(tmp_path, sky((1, 100, 100)))
    pyr.close()
    with open(pyr.folder / pyramid.level_file(1), "r+b") as f:
        f.truncate(1000)
    with pytest.raises(pyramid.CorruptEntry):
        Pyramid(pyr.folder, pyr.manifest)
