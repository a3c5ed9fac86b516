import json
import math

import numpy as np
import pytest
from astropy.visualization import ZScaleInterval

from tileserver.display.stats import (
    PERCENTILES,
    background,
    channel_stats,
    cut_presets,
    sample_rows,
    sample_stride,
    zscale,
)


def sky(seed: int, size: int = 200_000, star_fraction: float = 0.03) -> np.ndarray:
    """N(100, 5) noise with a fraction of bright "star" pixels."""
    rng = np.random.default_rng(seed)
    values = rng.normal(100.0, 5.0, size).astype(np.float32)
    stars = rng.choice(size, int(size * star_fraction), replace=False)
    values[stars] += rng.exponential(500.0, stars.size).astype(np.float32)
    return values


def with_non_finite(values: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = values.astype(np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        values[rng.choice(values.size, values.size // 50, replace=False)] = bad
    return values


SAMPLES = {
    "sky": lambda: sky(1),
    "sky_2d_large": lambda: sky(2, 1_500_000).reshape(1000, 1500),
    "gradient": lambda: np.linspace(-3.0, 50.0, 300 * 400, dtype=np.float32).reshape(300, 400),
    "gradient_noisy": lambda: np.linspace(0, 1, 50_000) + np.random.default_rng(3).normal(0, 0.01, 50_000),
    "integers": lambda: np.random.default_rng(4).poisson(20, 100_000).astype(np.int16),
    "sky_with_nan_inf": lambda: with_non_finite(sky(5), 6),
    "integers_with_nan": lambda: with_non_finite(np.random.default_rng(7).poisson(3, 30_000), 8),
    "exponential": lambda: np.random.default_rng(9).exponential(10.0, 77_777),
    "small": lambda: np.random.default_rng(10).normal(0, 1, 37),
}


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize(("n_samples", "contrast"), [(1000, 0.25), (600, 0.1), (5000, 0.5), (1000, 0.0)])
def test_zscale_matches_astropy(name: str, n_samples: int, contrast: float) -> None:
    data = SAMPLES[name]()
    # astropy drops non-finite values itself, as zscale does.
    expected = ZScaleInterval(n_samples=n_samples, contrast=contrast).get_limits(data)
    assert zscale(data, n_samples, contrast) == pytest.approx(expected, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("values", [[5.0], [1.0, 2.0], [3.0, 1.0, 2.0, 9.0], [4.0] * 6, [1, 2, 3, 4, 5, 60, 7]])
def test_zscale_small_samples_match_astropy(values: list[float]) -> None:
    data = np.array(values, dtype=np.float32)
    assert zscale(data) == pytest.approx(ZScaleInterval().get_limits(data), rel=1e-6)


def reference_background(sample: np.ndarray) -> tuple[float, float]:
    """The background spelled out with masks and np.median: slow, obvious."""
    values = sample[np.isfinite(sample)].astype(np.float64)
    keep = np.ones(values.size, dtype=bool)
    for _ in range(3):
        clipped = values[keep]
        median = np.median(clipped)
        mad = np.median(np.abs(clipped - median))
        keep &= (values >= median - 3 * mad) & (values <= median + 3 * mad)
    clipped = values[keep]
    median, mean = np.median(clipped), clipped.mean()
    mad = np.median(np.abs(clipped - median))
    level = 3.5 * median - 2.5 * mean if abs(mean - median) < 0.3 * clipped.std() else median
    return float(level), float(mad)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7, 7, 7, 7, 7], (7.0, 0.0)),
        ([3], (3.0, 0.0)),
        ([1, 2], (1.5, 0.5)),
        ([1, 2, 3, 4, 5, 100], (3.0, 1.0)),  # 100 clipped
        ([0, 1, 1, 2, 2, 2, 3, 3, 4, 5], (1.25, 1.0)),  # mode = 3.5 * 2 - 2.5 * 2.3
        ([0, 0, 0, 0, 1, 2, 2, 2], (0.5, 0.5)),  # (mean - median) / std = 0.40 > 0.3: median
        ([np.nan, 1, 2, np.inf, 3, 4, -np.inf, 5, 100], (3.0, 1.0)),
    ],
)
def test_background_known_values(values: list[float], expected: tuple[float, float]) -> None:
    assert background(np.array(values, dtype=np.float32)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_background_of_noise_with_stars(seed: int) -> None:
    level, mad = background(sky(seed, 1_000_000))
    assert level == pytest.approx(100.0, abs=0.1)
    # Clipping at 3 MAD (about 2 sigma) trims the wings, so the clipped MAD is a little under 0.6745 sigma.
    assert mad == pytest.approx(0.6745 * 5.0, rel=0.1)


@pytest.mark.parametrize("seed", range(20))
def test_background_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 3000))
    # Small integers give ties and MAD == 0; the skewed gamma exercises the median fallback.
    values = [rng.integers(0, 6, size), rng.gamma(1.5, 10.0, size), rng.normal(0, 1, size)][seed % 3]
    sample = with_non_finite(values, seed)
    assert background(sample) == pytest.approx(reference_background(sample), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("sample", [np.array([], np.float32), np.full(10, np.nan, np.float32)])
def test_background_and_zscale_need_finite_values(sample: np.ndarray) -> None:
    with pytest.raises(ValueError, match="no finite values"):
        background(sample)
    with pytest.raises(ValueError, match="no finite values"):
        zscale(sample)


@pytest.mark.parametrize("name", ["sky_with_nan_inf", "integers_with_nan", "gradient", "exponential"])
def test_min_max_and_percentiles_match_numpy(name: str) -> None:
    data = SAMPLES[name]()
    finite = data[np.isfinite(data)]
    stats = channel_stats(data)
    assert (stats["min"], stats["max"]) == (finite.min(), finite.max())
    for p in PERCENTILES:
        tail = (100.0 - float(p)) / 2.0
        assert stats["percentiles"][p] == pytest.approx(np.percentile(finite, [tail, 100.0 - tail]), rel=1e-6)
    assert stats["zscale"] == pytest.approx(ZScaleInterval().get_limits(data), rel=1e-5)
    assert (stats["background_level"], stats["background_mad"]) == pytest.approx(background(data))


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("bins", [256, 7])
def test_histogram_counts_finite_values_in_range(name: str, bins: int) -> None:
    data = SAMPLES[name]().ravel()
    finite = data[np.isfinite(data)]
    histogram = channel_stats(data, bins)["histogram"]
    lo, hi = histogram["min"], histogram["max"]
    assert finite.min() <= lo < hi <= finite.max()
    assert lo <= np.percentile(finite, 0.1) and np.percentile(finite, 99.9) <= hi
    expected, _ = np.histogram(finite.astype(np.float64), bins, (lo, hi))
    assert histogram["counts"] == expected.tolist()
    assert sum(histogram["counts"]) == np.count_nonzero((finite >= lo) & (finite <= hi))


def test_histogram_range_is_min_max_when_percentiles_are_tiny() -> None:
    data = np.zeros(10_000, dtype=np.float32)
    data[:3] = [-5.0, 2.0, 40.0]
    histogram = channel_stats(data, 10)["histogram"]
    assert (histogram["min"], histogram["max"]) == (-5.0, 40.0)
    assert histogram["counts"] == [1, 9998, 0, 0, 0, 0, 0, 0, 0, 1]


def test_cut_presets() -> None:
    stats = channel_stats(sky(11))
    presets = cut_presets(stats)
    assert list(presets) == ["auto", "zscale", "minmax", "90%", "95%", "99%", "99.5%", "99.9%"]
    assert presets["minmax"] == [stats["min"], stats["max"]]
    assert presets["99.5%"] == stats["percentiles"]["99.5"]
    level, mad = stats["background_level"], stats["background_mad"]
    assert presets["auto"] == pytest.approx([level - 2 * mad, level + 400 * mad])
    # Wider percentile ranges nest around narrower ones.
    ranges = [presets[f"{p}%"] for p in PERCENTILES]
    assert all(a[0] >= b[0] and a[1] <= b[1] for a, b in zip(ranges, ranges[1:]))


def assert_plain_json(value: object) -> None:
    if isinstance(value, dict):
        assert all(type(key) is str for key in value)
        for item in value.values():
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)
    else:
        # Exact types: a numpy float64 is a float subclass, and INFO should not carry one.
        assert value is None or type(value) in (float, int), repr(value)


mask_image = np.zeros(1000, dtype=np.float32)
mask_image[::20] = 1.0
DEGENERATE = {
    "constant": np.full((30, 40), 12.5, np.float32),
    "constant_zero": np.zeros(100, np.float32),
    "constant_huge": np.full(50, 3e38, np.float32),
    "all_nan": np.full(100, np.nan, np.float32),
    "empty": np.array([], np.float32),
    "one_pixel": np.array([[-7.0]], np.float32),
    "one_finite_among_nan": np.array([np.nan, 4.0, np.inf, np.nan], np.float32),
    "only_infinities": np.array([np.inf, -np.inf, np.inf], np.float32),
    "infinities_mixed": np.array([np.inf, 1.0, -np.inf, 2.0, 3.0, np.nan], np.float32),
    "two_values": np.array([0.0, 1.0], np.float32),
    "mostly_zero_mask": mask_image,
    "float32_extremes": np.array([-3.4e38, 0.0, 3.4e38, 1.0], np.float32),
    "tiny_values": np.random.default_rng(12).normal(1e-20, 1e-22, 1000).astype(np.float32),
    "uint8": np.random.default_rng(13).integers(0, 256, 5000).astype(np.uint8),
}


@pytest.mark.parametrize("name", DEGENERATE)
def test_degenerate_samples_give_sane_cuts(name: str) -> None:
    sample = DEGENERATE[name]
    stats = channel_stats(sample, bins=16)
    json.dumps(stats, allow_nan=False)
    assert_plain_json(stats)
    presets = cut_presets(stats)
    assert_plain_json(presets)
    for lo, hi in presets.values():
        assert math.isfinite(lo) and math.isfinite(hi) and hi > lo
    histogram = stats["histogram"]
    assert len(histogram["counts"]) == 16 and histogram["max"] > histogram["min"]
    finite = sample[np.isfinite(sample)]
    inside = np.count_nonzero((finite >= histogram["min"]) & (finite <= histogram["max"]))
    assert sum(histogram["counts"]) == inside == finite.size


@pytest.mark.parametrize("name", ["all_nan", "empty", "only_infinities"])
def test_no_finite_value_gives_none(name: str) -> None:
    stats = channel_stats(DEGENERATE[name])
    assert [stats[k] for k in ("background_level", "background_mad", "min", "max")] == [None] * 4
    assert cut_presets(stats)["minmax"] == [0.0, 1.0]


@pytest.mark.parametrize(
    ("sample", "auto"),
    [
        (DEGENERATE["constant"], [12.0, 13.0]),  # widened around the value
        (DEGENERATE["one_pixel"], [-7.5, -6.5]),
        (DEGENERATE["mostly_zero_mask"], [0.0, 1.0]),  # MAD == 0: min..max
    ],
)
def test_degenerate_auto_cuts(sample: np.ndarray, auto: list[float]) -> None:
    assert channel_stats(sample)["auto"] == auto


@pytest.mark.parametrize(
    ("width", "height", "target", "stride"),
    [
        (0, 0, 10, 1),
        (1000, 1000, 1_000_000, 1),
        (1001, 1000, 1_000_000, 2),
        (20_000, 20_000, 1_000_000, 20),
        (20_001, 20_000, 1_000_000, 21),
        (3, 5, 1, 5),
        (10, 10, 4, 5),
    ],
)
def test_sample_stride(width: int, height: int, target: int, stride: int) -> None:
    assert sample_stride(width, height, target) == stride


@pytest.mark.parametrize("seed", range(10))
def test_sample_stride_is_the_smallest_that_fits(seed: int) -> None:
    width, height, target = (int(v) for v in np.random.default_rng(seed).integers(1, 50_000, 3))
    stride = sample_stride(width, height, target)

    def kept(k: int) -> int:
        return len(range(0, width, k)) * len(range(0, height, k))

    assert kept(stride) <= target
    assert stride == 1 or kept(stride - 1) > target


@pytest.mark.parametrize(
    ("height", "max_rows", "rows"),
    [(10, 4, [0, 3, 6, 9]), (3, 10, [0, 1, 2]), (0, 5, []), (10, 1, [0]), (5, 5, [0, 1, 2, 3, 4]), (7, 3, [0, 3, 6])],
)
def test_sample_rows(height: int, max_rows: int, rows: list[int]) -> None:
    result = sample_rows(height, max_rows)
    assert result.dtype == np.int64 and result.tolist() == rows


@pytest.mark.parametrize("args", [(-1, 10, 10), (10, 10, 0)])
def test_sample_stride_rejects_bad_geometry(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        sample_stride(*args)
