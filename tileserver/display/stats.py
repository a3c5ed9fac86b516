"""Per-channel image statistics from a pixel sample: background, MAD, zscale, percentiles, histogram, cut presets.

Everything `channel_stats` and `cut_presets` return is plain JSON (Python floats, ints, lists, None; never NaN),
and every cut pair is finite and increasing, whatever the sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np

PERCENTILES = ("90", "95", "99", "99.5", "99.9")
HISTOGRAM_PERCENTILES = (0.1, 99.9)
HISTOGRAM_MARGIN = 0.1  # widen the histogram range by this fraction of its width on each side
CLIP_MADS = 3.0
CLIP_ITERATIONS = 3
SKEW_LIMIT = 0.3  # |mean - median| / sigma beyond which the mode estimate is not trusted (SExtractor)
AUTO_CUTS_MADS = (-2.0, 400.0)
NO_DATA_CUTS = (0.0, 1.0)


class Histogram(TypedDict):
    min: float
    max: float
    counts: list[int]


class ChannelStats(TypedDict):
    """One channel's statistics, from a sample of its pixels (display/stats.channel_stats)."""

    background_level: float | None  # None: no finite value in the sample
    background_mad: float | None
    min: float | None
    max: float | None
    zscale: list[float]  # [lo, hi]
    percentiles: dict[str, list[float]]  # "99.5" -> [lo, hi]
    auto: list[float]
    histogram: Histogram


def sample_stride(width: int, height: int, target: int = 1_000_000) -> int:
    """Smallest k such that keeping every k-th row (from row 0) and every k-th column leaves at most `target` pixels."""
    if width < 0 or height < 0 or target < 1:
        raise ValueError(f"bad sample geometry: {width}x{height}, target {target}")
    stride = max(1, math.isqrt(width * height // target))
    while -(-width // stride) * -(-height // stride) > target:
        stride += 1
    return stride


def sample_rows(height: int, max_rows: int) -> np.ndarray:
    """At most `max_rows` row indices spread evenly over [0, height), first and last rows included."""
    if height < 0 or max_rows < 1:
        raise ValueError(f"bad sample geometry: height {height}, max_rows {max_rows}")
    # A step >= 1 keeps the floored indices strictly increasing.
    return np.linspace(0, height - 1, min(height, max_rows)).astype(np.int64)


def _finite(sample: np.ndarray) -> np.ndarray:
    values = np.asarray(sample).ravel()
    return values[np.isfinite(values)]


def _sorted(finite: np.ndarray) -> np.ndarray:
    # float32 sorts much faster than float64 and holds float32 and small integer samples exactly.
    values = finite.astype(np.promote_types(finite.dtype, np.float32))
    values.sort()
    return values


def _median_sorted(values: np.ndarray) -> float:
    return (float(values[(values.size - 1) // 2]) + float(values[values.size // 2])) / 2.0


def _kth_distance_sorted(values: np.ndarray, center: float, k: int) -> float:
    """k-th smallest (0-based) |values - center| of sorted values, in O(log n): the distances below and above
    the center form two sorted runs, and a bisection finds how many of the k+1 smallest come from the lower run."""
    split = int(np.searchsorted(values, center))
    n_below, n_above = split, values.size - split

    def below(i: int) -> float:
        return center - float(values[split - 1 - i])

    def above(j: int) -> float:
        return float(values[split + j]) - center

    lo, hi = max(0, k + 1 - n_above), min(k + 1, n_below)
    while lo < hi:
        i = (lo + hi) // 2
        if below(i) < above(k - i):
            lo = i + 1
        else:
            hi = i
    return max(([below(lo - 1)] if lo > 0 else []) + ([above(k - lo)] if k - lo >= 0 else []))


def _mad_sorted(values: np.ndarray, center: float) -> float:
    return (_kth_distance_sorted(values, center, (values.size - 1) // 2)
            + _kth_distance_sorted(values, center, values.size // 2)) / 2.0


def _background_sorted(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        raise ValueError("no finite values")
    # Sorted input: each clipping keeps a contiguous slice [lo, hi), whose median and MAD cost O(log n).
    lo, hi = 0, values.size
    for _ in range(CLIP_ITERATIONS):
        clipped = values[lo:hi]
        median = _median_sorted(clipped)
        mad = _mad_sorted(clipped, median)
        lo = max(lo, int(np.searchsorted(values, median - CLIP_MADS * mad, "left")))
        hi = min(hi, int(np.searchsorted(values, median + CLIP_MADS * mad, "right")))
    clipped = values[lo:hi]
    median = _median_sorted(clipped)
    mad = _mad_sorted(clipped, median)
    mean = float(clipped.mean(dtype=np.float64))
    # A crowded field skews the clipped distribution, and the mode estimate then overshoots: trust the median.
    if abs(mean - median) < SKEW_LIMIT * float(clipped.std(dtype=np.float64)):
        return 3.5 * median - 2.5 * mean, mad
    return median, mad


def background(sample: np.ndarray) -> tuple[float, float]:
    """Background level and MAD of the finite values: 3 rounds of 3-MAD clipping around the median, then a mode
    estimate 3.5*median - 2.5*mean of the clipped values (the median if they are too skewed), and their MAD.
    Raises ValueError if there is no finite value."""
    return _background_sorted(_sorted(_finite(sample)))


def _dilate(mask: np.ndarray, width: int) -> np.ndarray:
    """True wherever a True lies in [i - width//2, i + (width-1)//2]: np.convolve(mask, ones(width), "same") > 0."""
    padded = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    index = np.arange(mask.size)
    stop = np.minimum(index + (width - 1) // 2 + 1, mask.size)
    start = np.maximum(index - width // 2, 0)
    return padded[stop] > padded[start]


def _zscale_finite(
    values: np.ndarray,
    n_samples: int = 1000,
    contrast: float = 0.25,
    max_reject: float = 0.5,
    min_npixels: int = 5,
    krej: float = 2.5,
    max_iterations: int = 5,
) -> tuple[float, float]:
    if values.size == 0:
        raise ValueError("no finite values")
    stride = int(max(1.0, values.size / n_samples))
    samples = values[::stride][:n_samples].astype(np.float64)
    samples.sort()
    npix = samples.size
    vmin, vmax = float(samples[0]), float(samples[-1])
    minpix = max(min_npixels, int(npix * max_reject))
    x = np.arange(npix, dtype=np.float64)
    bad = np.zeros(npix, dtype=bool)
    ngood, last_ngood = npix, npix + 1
    ngrow = max(1, int(npix * 0.01))
    slope = None
    # Fit a line to the sorted samples, rejecting outliers (and their neighbours) from the fit.
    for _ in range(max_iterations):
        if ngood >= last_ngood or ngood < minpix:
            break
        good = ~bad
        xg, yg = x[good], samples[good]
        xc = xg - xg.mean()
        slope = float(xc @ (yg - yg.mean()) / (xc @ xc))
        flat = samples - (slope * x + (yg.mean() - slope * xg.mean()))
        threshold = krej * flat[good].std()
        # As astropy and numdisplay do, the whole rejected set grows again at each round, not just the new rejections.
        bad = _dilate(bad | (np.abs(flat) > threshold), ngrow)
        last_ngood, ngood = ngood, npix - int(bad.sum())
    if slope is not None and ngood >= minpix:
        if contrast > 0:
            slope /= contrast
        center = (npix - 1) // 2
        median = _median_sorted(samples)
        vmin = max(vmin, median - (center - 1) * slope)
        vmax = min(vmax, median + (npix - center) * slope)
    return vmin, vmax


def zscale(sample: np.ndarray, n_samples: int = 1000, contrast: float = 0.25) -> tuple[float, float]:
    """IRAF zscale of the finite values, as astropy.visualization.ZScaleInterval (max_reject=0.5, min_npixels=5,
    krej=2.5, max_iterations=5). The pair may be degenerate (lo == hi). Raises ValueError if no value is finite."""
    return _zscale_finite(_finite(sample), n_samples, contrast)


def _increasing(lo: float | None, hi: float | None, fallback: tuple[float | None, float | None]) -> list[float]:
    """(lo, hi) if finite and increasing, else the fallback if it is, else an interval around whatever is finite."""
    for a, b in ((lo, hi), fallback):
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b) and b > a:
            return [float(a), float(b)]
    center = next((v for v in (lo, hi, *fallback) if v is not None and math.isfinite(v)), None)
    if center is None:
        return list(NO_DATA_CUTS)
    half = max(0.5, 1e-6 * abs(center))
    return [float(center - half), float(center + half)]


def _histogram_sorted(values: np.ndarray, lo: float, hi: float, bins: int) -> list[int]:
    # Same bins as np.histogram (last bin closed), counted on sorted data without a pass over every value.
    edges = np.linspace(lo, hi, bins + 1)
    positions = np.searchsorted(values, edges, "left")
    positions[-1] = np.searchsorted(values, hi, "right")
    return np.diff(positions).tolist()


def channel_stats(sample: np.ndarray, bins: int = 256) -> ChannelStats:
    """Statistics of one channel for INFO and the default cuts (see module doc): background_level, background_mad,
    min, max (None without finite values), zscale, percentiles {p: [lo, hi]}, auto, histogram {min, max, counts}."""
    finite = _finite(sample)
    if finite.size == 0:
        lo, hi = NO_DATA_CUTS
        return {
            "background_level": None, "background_mad": None, "min": None, "max": None,
            "zscale": [lo, hi], "percentiles": {p: [lo, hi] for p in PERCENTILES}, "auto": [lo, hi],
            "histogram": {"min": lo, "max": hi, "counts": [0] * bins},
        }
    values = _sorted(finite)
    vmin, vmax = float(values[0]), float(values[-1])
    minmax = (vmin, vmax)
    level, mad = _background_sorted(values)
    tails = [(100.0 - float(p)) / 2.0 for p in PERCENTILES]
    q = np.percentile(values, [*tails, *(100.0 - t for t in tails), *HISTOGRAM_PERCENTILES]).tolist()
    n = len(tails)
    percentiles = {p: _increasing(q[i], q[n + i], minmax) for i, p in enumerate(PERCENTILES)}
    hist_lo, hist_hi = _increasing(q[-2], q[-1], minmax)
    margin = HISTOGRAM_MARGIN * (hist_hi - hist_lo)
    if vmax > vmin:  # widen, but not beyond the data, where bins would stay empty
        hist_lo, hist_hi = max(vmin, hist_lo - margin), min(vmax, hist_hi + margin)
    return {
        "background_level": level,
        "background_mad": mad,
        "min": vmin,
        "max": vmax,
        "zscale": _increasing(*_zscale_finite(finite), minmax),
        "percentiles": percentiles,
        "auto": _increasing(level + AUTO_CUTS_MADS[0] * mad, level + AUTO_CUTS_MADS[1] * mad, minmax),
        "histogram": {"min": hist_lo, "max": hist_hi, "counts": _histogram_sorted(values, hist_lo, hist_hi, bins)},
    }


def cut_presets(stats: ChannelStats) -> dict[str, list[float]]:
    """Named cut pairs a client can choose from: auto, zscale, minmax and the percentile ranges ("99.5%"...)."""
    presets = {
        "auto": list(stats["auto"]),
        "zscale": list(stats["zscale"]),
        "minmax": _increasing(stats["min"], stats["max"], NO_DATA_CUTS),
    }
    presets.update((f"{p}%", list(pair)) for p, pair in stats["percentiles"].items())
    return presets


def cut_pair(values: list[float]) -> tuple[float, float]:
    lo, hi = values
    return lo, hi


def first_view_cuts(meta: Mapping[str, Any], channels: list[ChannelStats], n: int) -> list[tuple[float, float]]:
    """First-view cuts: 8-bit rasters as themselves; deeper colour rasters over their data's range (colours keep
    their balance); FITS data and deeper grey rasters at zscale, as DS9 and Aladin users expect."""
    if meta["cuts"] == "type" and meta["type_range"] and meta["bits_per_channel"] <= 8:
        lo, hi = meta["type_range"]
        return [(float(lo), float(hi))] * n
    if meta["kind"] == "raster" and n > 1:
        ranges = [cut_presets(s)["minmax"] for s in channels]
        return [(min(r[0] for r in ranges), max(r[1] for r in ranges))] * n
    return [cut_pair(cut_presets(s)["zscale"]) for s in channels]
