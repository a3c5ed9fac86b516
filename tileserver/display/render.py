"""Float32 tiles to uint8 pixels: cuts, stretch, gamma, invert and colormap (mono) or channel mix (colour).

Mono:   v = clip((x - lo) * CNT/(hi - lo) + 0.01*CNT*BRT, 0, 1); v = S(v); out = uint8(255.49 * v**(1/GAM));
        INV: out = 255 - out; then the colormap. NaN pixels are black.
Colour: per channel v_c as above (NaN counts as 0), rgb = clip(M @ v, 0, 1), out = uint8(255.49 * rgb**(1/GAM)),
        INV. Pixels NaN in every channel are black.

Everything after the cuts depends on v alone, so it is folded into a look-up table over a grid of _LEVELS values of
v (cached per parameter set); a tile then costs one affine, a clip, a cast and one np.take. The grid is fine enough
to stay within one level of the exact formula, except within the first few grid steps above v = 0 of curves steeper
than one output level per step there (GAM near 5 with sqrt/log stretches), where no uniform grid can follow them.
"""

import functools
import math
import threading
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..names import STRETCHES
from .colormaps import COLORMAPS, colormap_table

__all__ = ["COLORMAPS", "STRETCHES", "colormap_table", "mix_matrix", "paint_blank", "render_color", "render_mono"]

# Stretches map v in [0, 1] onto [0, 1] (astropy.visualization definitions).
# "power" is x**a with a = stretch_param, default 2 (the same as "square" when no parameter is given).
_DEFAULT_PARAMETER = {"log": 1000.0, "asinh": 0.1, "sinh": 1.0 / 3.0, "power": 2.0}

# 65536 levels keep the log stretch (slope 145 at 0) and GAM = 0.2 (slope 5 at 1) within a level; the tables
# (64 kB grey, 192 kB colour) still sit in L2 cache.
_LEVELS = 65536
_NAN_SLOT = 0  # index of NaN pixels in the mono and per-channel tables; v = k/(_LEVELS-1) sits at k + 1
_CACHE_SIZE = 64
# Work arrays up to this size (bytes) are kept per thread and reused: see _scratch.
_SCRATCH_BYTES = 4 << 20
_scratch_pool = threading.local()
# Below this cut width the cuts are a step at lo, as in the limit hi -> lo: a width of (nearly) zero would
# overflow the slope. The step's height (in levels per unit contrast) outweighs any brightness offset.
_MIN_WIDTH = 1e-30
_STEP_HEIGHT = 1e30

CurveKey = tuple  # hashable description of the stretch curve, see _curve_key


def _curve_key(
    stretch: str,
    parameter: float | None,
    histogram: Mapping | None,
    lo: float,
    hi: float,
    contrast: float,
    brightness: float,
) -> CurveKey:
    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; expected one of {', '.join(STRETCHES)}")
    if stretch == "histeq":
        if histogram is None:
            raise ValueError("the histeq stretch needs the channel's histogram")
        if abs(hi - lo) < _MIN_WIDTH or contrast == 0:
            return ("linear", None)
        # Data values at v = 0 and v = 1, inverting the cuts formula.
        x0 = lo - 0.01 * brightness * (hi - lo)
        x1 = lo + (1.0 / contrast - 0.01 * brightness) * (hi - lo)
        if not (math.isfinite(x0) and math.isfinite(x1 - x0)):
            return ("linear", None)  # a window too wide for floats (tiny contrast): nothing to equalise
        return ("histeq", float(histogram["min"]), float(histogram["max"]), tuple(histogram["counts"]), x0, x1)
    if stretch not in _DEFAULT_PARAMETER:
        return (stretch, None)
    value = _DEFAULT_PARAMETER[stretch] if parameter is None else float(parameter)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"the {stretch} stretch needs a positive parameter, not {parameter!r}")
    return (stretch, value)


def _histeq(v: np.ndarray, low: float, high: float, counts: tuple, x0: float, x1: float) -> np.ndarray:
    """CDF of the data value at v, renormalised over the displayed window [x0, x1] so that S(0)=0 and S(1)=1."""
    if not counts or not high > low or sum(counts) <= 0:
        return v
    edges = np.linspace(low, high, len(counts) + 1)
    cdf = np.concatenate(([0.0], np.cumsum(counts)))
    level = np.interp(x0 + v * (x1 - x0), edges, cdf)
    first, last = np.interp([x0, x1], edges, cdf)
    if last == first:  # no data in the window: nothing to equalise
        return v
    return (level - first) / (last - first)


def _curve(key: CurveKey, v: np.ndarray) -> np.ndarray:
    name, a = key[0], key[1]  # a: the stretch parameter, if any
    match name:
        case "linear":
            s = v
        case "sqrt":
            s = np.sqrt(v)
        case "log":
            s = np.log1p(a * v) / np.log1p(a)
        case "asinh":
            s = np.arcsinh(v / a) / np.arcsinh(1.0 / a)
        case "sinh":
            s = np.sinh(v / a) / np.sinh(1.0 / a)
        case "square":
            s = v * v
        case "power":
            s = v**a
        case "histeq":
            s = _histeq(v, *key[1:])
    return np.clip(s, 0.0, 1.0)


def _grey_levels(v: np.ndarray, gamma: float, invert: bool) -> np.ndarray:
    grey = (255.49 * v ** (1.0 / gamma)).astype(np.uint8)
    return 255 - grey if invert else grey


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _mono_table(curve: CurveKey, gamma: float, invert: bool, colormap: str) -> np.ndarray:
    """Output pixel for each level index: (_LEVELS + 1,) uint8 for grey, (_LEVELS + 1, 3) otherwise."""
    grey = _grey_levels(_curve(curve, np.linspace(0.0, 1.0, _LEVELS)), gamma, invert)
    pixels = grey if colormap == "grey" else colormap_table(colormap)[grey]
    table = np.concatenate([np.zeros((1,) + pixels.shape[1:], np.uint8), pixels])
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _channel_table(curve: CurveKey) -> np.ndarray:
    """Stretched v for each level index, float32 (_LEVELS + 1,); NaN counts as 0."""
    table = np.concatenate([[0.0], _curve(curve, np.linspace(0.0, 1.0, _LEVELS))]).astype(np.float32)
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _gamma_table(gamma: float, invert: bool) -> np.ndarray:
    """uint8 pixel for k = trunc(rgb * (_LEVELS - 1)), taken at the middle of each cell; exact at 0 and 1."""
    v = (np.arange(_LEVELS) + 0.5) / (_LEVELS - 1)
    v[0], v[-1] = 0.0, 1.0
    table = _grey_levels(v, gamma, invert)
    table.setflags(write=False)
    return table


def _cut(
    x: np.ndarray,
    lo: float,
    hi: float,
    contrast: float,
    brightness: float,
    scale: float,
    offset: float,
    out: np.ndarray,
) -> np.ndarray:
    """out = (v_unclipped * scale + offset) in place, where v is the cuts formula; NaN stays NaN."""
    step = scale * contrast
    start = offset + step * 0.01 * brightness
    slope = step / (hi - lo) if abs(hi - lo) >= _MIN_WIDTH else np.inf
    # Huge data values or slopes may overflow float32 to inf, which the clip that follows handles.
    with np.errstate(over="ignore", invalid="ignore"):
        # CNT=0, or a slope below float32's range (which the multiply would make 0, and inf * 0 NaN): every pixel
        # at the same level, but NaN still NaN.
        if np.float32(slope) == 0:
            np.multiply(x, 0, out=out, where=np.isnan(x))
            np.copyto(out, np.float32(start), where=~np.isnan(x))
        elif math.isfinite(slope):
            np.multiply(x, slope, out=out)
            out += start - lo * slope
        else:
            np.subtract(x, lo, out=out)
            np.sign(out, out=out)
            out *= _STEP_HEIGHT * contrast
            out += start
    return out


def _level_index(x: np.ndarray, lo: float, hi: float, contrast: float, brightness: float) -> np.ndarray:
    """int32 index into a level table: v = k/(_LEVELS-1) at k + 1 (rounded), NaN at _NAN_SLOT."""
    values = _cut(x, lo, hi, contrast, brightness, _LEVELS - 1, 1.5, _scratch("levels", x.shape, np.float32))
    np.clip(values, 1.5, _LEVELS + 0.5, out=values)
    if np.isnan(values.min()):  # min() propagates NaN: one pass finds whether any, two more place them
        np.copyto(values, _NAN_SLOT, where=np.isnan(values, out=_scratch("nan", x.shape, np.bool_)))
    return _as_int32(values)


def _scratch(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A work array of this thread, reused from tile to tile; its contents are undefined."""
    # Tile-sized arrays freed at each call let glibc return their pages to the system and fault them in again on
    # the next call, which can cost more than the rendering itself. Outputs are always fresh arrays.
    size = math.prod(shape) * np.dtype(dtype).itemsize
    if size > _SCRATCH_BYTES:
        return np.empty(shape, dtype)
    buffer = getattr(_scratch_pool, name, None)
    if buffer is None or buffer.size < size:
        buffer = np.empty(size, np.uint8)
        setattr(_scratch_pool, name, buffer)
    return buffer[:size].view(dtype).reshape(shape)


def _as_int32(values: np.ndarray) -> np.ndarray:
    """Truncated to int32 in place. int32 casts vectorise, and np.take widens them faster than an intp cast would."""
    # In place because each tile-sized allocation can cost page faults once glibc returns freed memory to the system.
    index = values.view(np.int32)
    np.copyto(index, values, casting="unsafe")
    return index


def _check_gamma(gamma: float) -> float:
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be positive, not {gamma!r}")
    return float(gamma)


def render_mono(
    tile: np.ndarray,
    lo: float,
    hi: float,
    *,
    contrast: float = 1.0,
    brightness: float = 0.0,
    gamma: float = 1.0,
    stretch: str = "linear",
    colormap: str = "grey",
    invert: bool = False,
    histogram: Mapping | None = None,
    stretch_param: float | None = None,
) -> np.ndarray:
    """(h, w) float tile -> (h, w) uint8 for the grey colormap, (h, w, 3) uint8 for the others."""
    if tile.ndim != 2:
        raise ValueError(f"a mono tile is 2-D, not of shape {tile.shape}")
    colormap_table(colormap)  # validates the name
    curve = _curve_key(stretch, stretch_param, histogram, lo, hi, contrast, brightness)
    table = _mono_table(curve, _check_gamma(gamma), bool(invert), colormap)
    return np.take(table, _level_index(tile, lo, hi, contrast, brightness), axis=0)


def _saturated(mix: np.ndarray, saturation: float) -> np.ndarray:
    """Mix matrix pulled toward (SAT < 1) or pushed away from (SAT > 1) the luminance mean(r, g, b)."""
    toward_grey = saturation * np.eye(3) + (1.0 - saturation) / 3.0
    return toward_grey @ np.asarray(mix, np.float64)


def render_color(
    tile: np.ndarray,
    cuts: Sequence[tuple[float, float]],
    mix: np.ndarray,
    *,
    contrast: float = 1.0,
    brightness: float = 0.0,
    gamma: float = 1.0,
    stretch: str = "linear",
    invert: bool = False,
    saturation: float = 1.0,
    histograms: Sequence[Mapping] | None = None,
    stretch_param: float | None = None,
) -> np.ndarray:
    """(nchan, h, w) float tile -> (h, w, 3) uint8."""
    if tile.ndim != 3:
        raise ValueError(f"a colour tile is (nchan, h, w), not of shape {tile.shape}")
    nchan, height, width = tile.shape
    if len(cuts) != nchan or np.shape(mix) != (3, nchan):
        raise ValueError(f"{nchan} channels need {nchan} cuts and a (3, {nchan}) mix")
    if histograms is not None and len(histograms) != nchan:
        raise ValueError(f"{nchan} channels need {nchan} histograms")
    if not (math.isfinite(saturation) and saturation >= 0):
        raise ValueError(f"saturation must be positive or zero, not {saturation!r}")
    gamma = _check_gamma(gamma)
    weights = _saturated(mix, saturation)
    values = _scratch("values", tile.shape, np.float32)
    for c in range(nchan):
        if not weights[:, c].any():  # e.g. an alpha channel
            continue
        lo, hi = cuts[c]
        histogram = None if histograms is None else histograms[c]
        curve = _curve_key(stretch, stretch_param, histogram, lo, hi, contrast, brightness)
        if curve[0] == "linear":
            _cut(tile[c], lo, hi, contrast, brightness, 1.0, 0.0, values[c])
            np.clip(values[c], 0.0, 1.0, out=values[c])
            np.copyto(values[c], 0.0, where=np.isnan(values[c], out=_scratch("nan", (height, width), np.bool_)))
        else:
            np.take(_channel_table(curve), _level_index(tile[c], lo, hi, contrast, brightness), out=values[c])
    # The output scale is folded into the weights: 255.49 gives the pixel directly when GAM = 1, else a table index.
    exact = gamma == 1.0
    top = 255.49 if exact else _LEVELS - 1
    rgb = _mix(values.reshape(nchan, -1), (weights * top).astype(np.float32))
    # Each v is in [0, 1]: non-negative weights summing to at most 1 per colour cannot leave [0, top].
    if (weights < 0).any() or (weights.sum(axis=1) > 1.0 + 1e-6).any():
        np.clip(rgb, 0.0, top, out=rgb)
    if exact:
        pixels = rgb.astype(np.uint8)
        if invert:
            np.subtract(255, pixels, out=pixels)
    else:
        pixels = np.take(_gamma_table(gamma, bool(invert)), _as_int32(rgb))
    if invert:
        # Without INV these are already black: all their v are 0.
        blank = np.logical_and.reduce(np.isnan(tile, out=_scratch("blank", tile.shape, np.bool_)), axis=0).reshape(-1)
        pixels[blank] = 0
    return pixels.reshape(height, width, 3)


def _mix(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(nchan, n) values times (3, nchan) weights -> (n, 3) float32, interleaved as the pixels will be."""
    # Summed plane by plane and interleaved once per colour, with the zero weights skipped. A BLAS product does it
    # in one call, but its threads, on a product this thin, stall against other work and cost 3x more.
    rgb = _scratch("rgb", (values.shape[1], 3), np.float32)
    total = _scratch("total", values.shape[1:], np.float32)
    term = _scratch("term", values.shape[1:], np.float32)
    for colour, row in enumerate(weights):
        used = np.flatnonzero(row)
        if used.size == 0:
            rgb[:, colour] = 0.0
        elif used.size == 1:
            np.multiply(values[used[0]], row[used[0]], out=rgb[:, colour])
        else:
            np.multiply(values[used[0]], row[used[0]], out=total)
            for c in used[1:-1]:
                total += np.multiply(values[c], row[c], out=term)
            np.multiply(values[used[-1]], row[used[-1]], out=term)
            np.add(total, term, out=rgb[:, colour])
    return rgb


def _hue_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated colours for hue angles in degrees (0 red, 120 green, 240 blue), shape (3, n)."""
    sector = hue / 60.0
    return np.clip([np.abs(sector - 3.0) - 1.0, 2.0 - np.abs(sector - 2.0), 2.0 - np.abs(sector - 4.0)], 0.0, 1.0)


def mix_matrix(
    nchan: int, weights: Mapping[int, tuple[float, float, float]] | None = None, default: str = "spectrum"
) -> np.ndarray:
    """(3, nchan) float32 colour of each channel.

    weights: 1-based channel -> (r, g, b); unlisted channels are interpolated linearly over the channel index
    (constant beyond the first and last listed ones).
    Without weights, "spectrum" spreads the channels over hues from blue (first) to red (last), cyan and red for two,
    white for one, each row scaled so that equal inputs of 1 give white; "rgb" shows channels 1, 2, 3 as R, G, B
    and ignores the others (alpha); with fewer than 3 channels, channel 1 is grey.
    """
    if nchan < 1:
        raise ValueError(f"need at least one channel, not {nchan}")
    if weights:
        listed = sorted(weights)
        if listed[0] < 1 or listed[-1] > nchan:
            raise ValueError(f"mix channels must be within 1..{nchan}, not {listed}")
        known = np.array([weights[c] for c in listed], np.float64).reshape(len(listed), 3)
        channels = np.arange(1, nchan + 1)
        return np.array([np.interp(channels, listed, known[:, j]) for j in range(3)], np.float32)
    matrix = np.zeros((3, nchan), np.float32)
    if default == "rgb":
        if nchan < 3:
            matrix[:, 0] = 1.0
        else:
            matrix[:, :3] = np.eye(3)
        return matrix
    if default != "spectrum":
        raise ValueError(f"unknown default mix {default!r}; expected 'spectrum' or 'rgb'")
    if nchan == 1:
        matrix[:] = 1.0
        return matrix
    first_hue = 240.0 if nchan >= 3 else 180.0  # blue, or cyan so that two channels can still make white
    colours = _hue_rgb(first_hue * (1.0 - np.arange(nchan) / (nchan - 1)))
    return (colours / colours.sum(axis=1, keepdims=True)).astype(np.float32)


def paint_blank(pixels: np.ndarray, blank_of: Callable[[], np.ndarray], colour: tuple[int, int, int]) -> np.ndarray:
    """Rendered pixels with the blank ones (the mask blank_of() gives) in `colour`; grey pixels become RGB when the
    colour is not a grey. Black, what the renderers give blanks, needs no work, not even the mask."""
    if colour == (0, 0, 0):
        return pixels
    blank = blank_of()
    if not blank.any():
        return pixels
    if pixels.ndim == 2 and len(set(colour)) == 1:
        pixels[blank] = colour[0]
        return pixels
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    pixels[blank] = colour
    return pixels
