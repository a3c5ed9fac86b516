from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy import visualization as vis

from tileserver.display.render import COLORMAPS, STRETCHES, colormap_table, mix_matrix, render_color, render_mono

GRID = np.linspace(0.0, 1.0, 1001, dtype=np.float32).reshape(7, 143)
NAN = np.nan


def exact(s: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """The display formula on already-stretched values, in float64."""
    return (255.49 * np.clip(s, 0, 1) ** (1.0 / gamma)).astype(np.uint8)


def assert_within_one(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


# Stretches against astropy.visualization ----------------------------------------------------------------------

ASTROPY_STRETCHES = [
    ("linear", None, vis.LinearStretch()),
    ("sqrt", None, vis.SqrtStretch()),
    ("log", None, vis.LogStretch(a=1000)),
    ("log", 10.0, vis.LogStretch(a=10)),
    ("asinh", None, vis.AsinhStretch(a=0.1)),
    ("asinh", 0.5, vis.AsinhStretch(a=0.5)),
    ("sinh", None, vis.SinhStretch(a=1 / 3)),
    ("square", None, vis.SquaredStretch()),
    ("power", None, vis.PowerStretch(2)),
    ("power", 0.7, vis.PowerStretch(0.7)),
    ("power", 3.0, vis.PowerStretch(3)),
]


@pytest.mark.parametrize(("stretch", "param", "reference"), ASTROPY_STRETCHES)
@pytest.mark.parametrize("gamma", [0.2, 1.0, 2.2, 5.0])
def test_stretch_matches_astropy(stretch: str, param: float | None, reference: vis.BaseStretch, gamma: float) -> None:
    got = render_mono(GRID, 0.0, 1.0, stretch=stretch, stretch_param=param, gamma=gamma)
    assert_within_one(got, exact(reference(GRID.astype(np.float64)), gamma))


@pytest.mark.parametrize("gamma", [0.2, 0.5, 1.0, 3.0, 5.0])
def test_level_grid_is_fine_enough(gamma: float) -> None:
    v = np.random.default_rng(3).uniform(1e-3, 1.0, (200, 300)).astype(np.float32)
    for stretch, param, reference in ASTROPY_STRETCHES:
        got = render_mono(v, 0.0, 1.0, stretch=stretch, stretch_param=param, gamma=gamma)
        assert_within_one(got, exact(reference(v.astype(np.float64)), gamma))


def test_stretch_endpoints() -> None:
    for stretch in set(STRETCHES) - {"histeq"}:
        got = render_mono(np.array([[0.0, 1.0]], np.float32), 0.0, 1.0, stretch=stretch)
        assert got.tolist() == [[0, 255]], stretch


# The mono formula on hand-computed pixels ---------------------------------------------------------------------

# x, lo, hi, contrast, brightness, gamma, invert, expected
MONO_PIXELS = [
    (5.0, 0.0, 10.0, 1.0, 0.0, 1.0, False, 127),  # v = 0.5: 127.745
    (5.0, 0.0, 10.0, 2.0, 0.0, 1.0, False, 255),  # v = 1
    (9.96, 0.0, 10.0, 1.0, 0.0, 1.0, False, 254),  # 254.47, where 255 * v would give 253
    (5.0, 0.0, 10.0, 1.0, 10.0, 1.0, False, 153),  # v = 0.6: 153.29
    (5.0, 0.0, 10.0, 0.5, -20.0, 1.0, False, 38),  # v = 0.25 - 0.1: 38.32
    (2.5, 0.0, 10.0, 1.0, 0.0, 2.0, False, 127),  # sqrt(0.25) = 0.5
    (5.0, 0.0, 10.0, 1.0, 0.0, 0.5, False, 63),  # 0.5**2 = 0.25: 63.87
    (2.5, 0.0, 10.0, 1.0, 0.0, 1.0, True, 192),  # 255 - 63
    (-3.0, 0.0, 10.0, 1.0, 0.0, 1.0, False, 0),
    (-3.0, 0.0, 10.0, 1.0, 0.0, 1.0, True, 255),
    (30.0, 0.0, 10.0, 1.0, 0.0, 1.0, True, 0),
    (2.0, 10.0, 0.0, 1.0, 0.0, 1.0, False, 204),  # reversed cuts: v = 0.8: 204.39
    (1005.0, 1000.0, 1010.0, 1.0, 0.0, 1.0, False, 127),
    (5.0, 0.0, 10.0, 0.0, 50.0, 1.0, False, 0),  # no contrast: v = 0.01 * 0 * 50
    (np.inf, 0.0, 10.0, 1.0, 0.0, 1.0, False, 255),
    (-np.inf, 0.0, 10.0, 1.0, 0.0, 1.0, False, 0),
    (np.inf, 0.0, 10.0, 0.0, 0.0, 1.0, False, 0),
    # Zero-width cuts: a step at lo.
    (4.0, 5.0, 5.0, 1.0, 0.0, 1.0, False, 0),
    (5.0, 5.0, 5.0, 1.0, 0.0, 1.0, False, 0),
    (5.0, 5.0, 5.0, 1.0, 50.0, 1.0, False, 127),
    (4.0, 5.0, 5.0, 1.0, 50.0, 1.0, False, 0),
    (6.0, 5.0, 5.0, 1.0, 0.0, 1.0, False, 255),
    (6.0, 5.0, 5.0, 1.0, 0.0, 1.0, True, 0),
]


@pytest.mark.parametrize(("x", "lo", "hi", "contrast", "brightness", "gamma", "invert", "expected"), MONO_PIXELS)
def test_mono_pixels(
    x: float, lo: float, hi: float, contrast: float, brightness: float, gamma: float, invert: bool, expected: int
) -> None:
    tile = np.full((3, 4), x, np.float32)
    got = render_mono(tile, lo, hi, contrast=contrast, brightness=brightness, gamma=gamma, invert=invert)
    assert got.tolist() == np.full((3, 4), expected).tolist()


@pytest.mark.parametrize("colormap", COLORMAPS)
@pytest.mark.parametrize("invert", [False, True])
def test_nan_is_black_under_every_colormap(colormap: str, invert: bool) -> None:
    tile = np.array([[NAN, 0.0, 0.5], [1.0, NAN, -1.0]], np.float32)
    got = render_mono(tile, 0.0, 1.0, colormap=colormap, invert=invert, stretch="asinh", gamma=2.0)
    grey = render_mono(tile, 0.0, 1.0, invert=invert, stretch="asinh", gamma=2.0)
    table = colormap_table(colormap)
    expected = table[grey]
    expected[np.isnan(tile)] = 0
    assert got.tolist() == (grey.tolist() if colormap == "grey" else expected.tolist())
    assert not got[np.isnan(tile)].any()


def test_output_layout_and_readonly_memmap_input(tmp_path: Path) -> None:
    data = np.random.default_rng(1).normal(100, 10, (3, 64, 48)).astype(np.float32)
    data[:, 5, 6] = NAN
    path = tmp_path / "tile.f32"
    data.tofile(path)
    cube = np.memmap(path, np.float32, "r", shape=data.shape)
    outputs = [
        (render_mono(cube[1], 80.0, 140.0), (64, 48)),
        (render_mono(cube[1], 80.0, 140.0, colormap="viridis", stretch="log", gamma=2.0), (64, 48, 3)),
        (render_color(cube, [(80.0, 140.0)] * 3, mix_matrix(3)), (64, 48, 3)),
        (render_color(cube, [(80.0, 140.0)] * 3, mix_matrix(3), gamma=2.0, stretch="sqrt", invert=True), (64, 48, 3)),
    ]
    for pixels, shape in outputs:
        assert pixels.shape == shape and pixels.dtype == np.uint8 and pixels.flags.c_contiguous
    assert render_mono(cube[1], 80.0, 140.0).tolist() == render_mono(data[1], 80.0, 140.0).tolist()


def test_requests_do_not_change_each_other() -> None:
    rng = np.random.default_rng(2)
    tile = rng.normal(100, 10, (32, 32)).astype(np.float32)
    cube = rng.normal(100, 10, (3, 32, 32)).astype(np.float32)
    requests = [
        lambda: render_mono(tile, 80.0, 130.0),
        lambda: render_mono(tile, 70.0, 150.0, stretch="asinh", gamma=2.2, colormap="magma", invert=True),
        lambda: render_mono(tile, 80.0, 130.0, stretch="power", stretch_param=0.3),
        lambda: render_color(cube, [(80.0, 130.0)] * 3, mix_matrix(3)),
        lambda: render_color(cube, [(70.0, 150.0)] * 3, mix_matrix(3), stretch="sqrt", gamma=0.5, invert=True),
        lambda: render_color(cube, [(90.0, 120.0)] * 3, mix_matrix(3, {1: (1, 0, 0)}), saturation=2.0),
    ]
    first = [request() for request in requests]
    expected = [pixels.copy() for pixels in first]
    for pixels in first:
        pixels[...] = 77  # a caller scribbling on its result must not reach later requests
    backwards = [request() for request in reversed(requests)][::-1]
    forwards = [request() for request in requests]
    for want, got, again in zip(expected, backwards, forwards):
        assert got.tolist() == want.tolist() and again.tolist() == want.tolist()
        assert not np.shares_memory(got, again)


def test_tiles_of_any_shape_in_any_order() -> None:
    rng = np.random.default_rng(5)
    cube = rng.normal(100, 10, (3, 90, 70)).astype(np.float32)
    cube[rng.random(cube.shape) < 0.05] = NAN
    for shape in [(90, 70), (3, 70), (90, 1), (31, 17), (90, 70)]:
        part = np.ascontiguousarray(cube[:, : shape[0], : shape[1]])
        for options in ({}, {"stretch": "sqrt", "gamma": 0.6, "invert": True}):
            whole = render_mono(cube[0], 80.0, 130.0, colormap="inferno", **options)
            got = render_mono(part[0], 80.0, 130.0, colormap="inferno", **options)
            assert got.tolist() == whole[: shape[0], : shape[1]].tolist()
            whole = render_color(cube, [(80.0, 130.0)] * 3, mix_matrix(3), **options)
            got = render_color(part, [(80.0, 130.0)] * 3, mix_matrix(3), **options)
            assert got.tolist() == whole[: shape[0], : shape[1]].tolist()


# histeq ---------------------------------------------------------------------------------------------------------

HISTOGRAM = {"min": 0.0, "max": 4.0, "counts": [3, 1, 0, 0]}  # CDF at 0, 1, 2, 3, 4: 0, 3/4, 1, 1, 1

# x, lo, hi, expected: the CDF renormalised over the data window shown between v = 0 and v = 1
HISTEQ_PIXELS = [
    (0.0, 0.0, 4.0, 0),
    (0.5, 0.0, 4.0, 95),  # 0.375: 95.8
    (1.0, 0.0, 4.0, 191),  # 0.75: 191.6
    (2.0, 0.0, 4.0, 255),
    (1.5, 1.0, 3.0, 127),  # (3.5 - 3) / (4 - 3)
    (1.0, 0.0, 2.0, 191),
]


@pytest.mark.parametrize(("x", "lo", "hi", "expected"), HISTEQ_PIXELS)
def test_histeq_pixels(x: float, lo: float, hi: float, expected: int) -> None:
    got = render_mono(np.full((2, 2), x, np.float32), lo, hi, stretch="histeq", histogram=HISTOGRAM)
    assert got.tolist() == [[expected] * 2] * 2


def test_histeq_of_a_flat_histogram_is_linear() -> None:
    flat = {"min": 0.0, "max": 1.0, "counts": [10] * 64}
    assert_within_one(render_mono(GRID, 0.0, 1.0, stretch="histeq", histogram=flat), render_mono(GRID, 0.0, 1.0))


def test_histeq_in_colour() -> None:
    cube = np.full((2, 1, 1), 1.0, np.float32)
    got = render_color(cube, [(0.0, 4.0)] * 2, np.eye(3, 2), stretch="histeq", histograms=[HISTOGRAM] * 2)
    assert got.tolist() == [[[191, 191, 0]]]


# Colormap tables ------------------------------------------------------------------------------------------------

# Entries 0, 64, 128, 192, 255 of the published 256-entry tables.
PUBLISHED = {
    "viridis": [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)],
    "magma": [(0, 0, 4), (81, 18, 124), (183, 55, 121), (252, 137, 97), (252, 253, 191)],
    "inferno": [(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)],
    "plasma": [(13, 8, 135), (126, 3, 168), (204, 71, 120), (248, 149, 64), (240, 249, 33)],
    "cividis": [(0, 34, 78), (67, 78, 108), (125, 124, 120), (188, 174, 108), (254, 232, 56)],
    "jet": [(0, 0, 128), (0, 128, 255), (125, 255, 122), (255, 148, 0), (128, 0, 0)],
    "hot": [(11, 0, 0), (179, 0, 0), (255, 92, 0), (255, 255, 7), (255, 255, 255)],
    "cool": [(0, 255, 255), (64, 191, 255), (128, 127, 255), (192, 63, 255), (255, 0, 255)],
    "cubehelix": [(0, 0, 0), (22, 83, 76), (161, 121, 74), (198, 180, 238), (255, 255, 255)],
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_colormap_known_entries(name: str) -> None:
    table = colormap_table(name)
    got = table[[0, 64, 128, 192, 255]].astype(int)
    assert np.abs(got - np.array(PUBLISHED[name])).max() <= 1


@pytest.mark.parametrize("name", COLORMAPS)
def test_colormap_tables(name: str) -> None:
    table = colormap_table(name)
    assert table.shape == (256, 3) and table.dtype == np.uint8 and table.flags.c_contiguous
    assert not table.flags.writeable
    base = name.removesuffix("_r")
    if name.endswith("_r"):
        assert table.tolist() == colormap_table(base)[::-1].tolist()
    else:
        assert name + "_r" in COLORMAPS


def test_grey_is_identity_and_cold_is_blue() -> None:
    assert colormap_table("grey").tolist() == [[i, i, i] for i in range(256)]
    cold = colormap_table("cold").astype(int)
    assert cold[0].tolist() == [0, 0, 11] and cold[-1].tolist() == [255, 255, 255]
    assert (cold[:, 2] >= cold[:, 1]).all() and (cold[:, 1] >= cold[:, 0]).all()


def test_cubehelix_brightens_monotonically() -> None:
    luminance = colormap_table("cubehelix") @ np.array([0.3, 0.59, 0.11])
    assert (np.diff(luminance) > -1.0).all()


def test_colormap_applies_after_gamma_and_invert() -> None:
    grey = render_mono(GRID, 0.0, 1.0, gamma=2.0, invert=True)
    assert render_mono(GRID, 0.0, 1.0, gamma=2.0, invert=True, colormap="plasma").tolist() == (
        colormap_table("plasma")[grey].tolist()
    )


# Mixing ---------------------------------------------------------------------------------------------------------


def test_mix_interpolates_between_listed_channels() -> None:
    matrix = mix_matrix(5, {1: (0.0, 0.0, 1.0), 5: (1.0, 0.0, 0.0)})
    assert matrix.shape == (3, 5) and matrix.dtype == np.float32
    assert matrix[:, 2].tolist() == [0.5, 0.0, 0.5]
    assert matrix[:, 1].tolist() == [0.25, 0.0, 0.75]


def test_mix_is_constant_beyond_the_listed_channels() -> None:
    matrix = mix_matrix(5, {2: (1.0, 0.5, 0.0), 4: (0.0, 0.5, 1.0)})
    assert matrix.T.tolist() == [[1, 0.5, 0], [1, 0.5, 0], [0.5, 0.5, 0.5], [0, 0.5, 1], [0, 0.5, 1]]


DEFAULT_MIXES = [
    (1, "spectrum", [[1], [1], [1]]),
    (2, "spectrum", [[0, 1], [1, 0], [1, 0]]),  # cyan, red
    (3, "spectrum", [[0, 0, 1], [0, 1, 0], [1, 0, 0]]),  # blue, green, red
    (3, "rgb", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    (4, "rgb", [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]),  # alpha ignored
    (2, "rgb", [[1, 0], [1, 0], [1, 0]]),  # grey + alpha
]


@pytest.mark.parametrize(("nchan", "default", "expected"), DEFAULT_MIXES)
def test_default_mixes(nchan: int, default: str, expected: list) -> None:
    assert mix_matrix(nchan, default=default).tolist() == expected


@pytest.mark.parametrize("nchan", [2, 3, 4, 7, 20])
def test_spectrum_goes_blue_to_red_and_flat_white_stays_white(nchan: int) -> None:
    matrix = mix_matrix(nchan)
    assert np.allclose(matrix.sum(axis=1), 1.0)
    assert matrix[0, -1] > 0 and matrix[1:, -1].sum() == 0  # last channel red
    if nchan > 2:
        assert matrix[2, 0] > 0 and matrix[:2, 0].sum() == 0  # first channel blue


# Colour rendering on known pixels -------------------------------------------------------------------------------

COLOUR_TILE = np.array([[[0.0, 5.0, 10.0, NAN, NAN]], [[10.0, 5.0, 0.0, NAN, 10.0]]], np.float32)  # (2, 1, 5)
COLOUR_MIX = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], np.float32)

# options, expected pixels
COLOUR_PIXELS = [
    ({}, [(0, 255, 127), (127, 127, 127), (255, 0, 127), (0, 0, 0), (0, 255, 127)]),
    ({"invert": True}, [(255, 0, 128), (128, 128, 128), (0, 255, 128), (0, 0, 0), (255, 0, 128)]),
    ({"gamma": 2.0}, [(0, 255, 180), (180, 180, 180), (255, 0, 180), (0, 0, 0), (0, 255, 180)]),
    ({"gamma": 2.0, "invert": True}, [(255, 0, 75), (75, 75, 75), (0, 255, 75), (0, 0, 0), (255, 0, 75)]),
    ({"stretch": "sqrt"}, [(0, 255, 127), (180, 180, 180), (255, 0, 127), (0, 0, 0), (0, 255, 127)]),
    ({"saturation": 0.0}, [(127, 127, 127), (127, 127, 127), (127, 127, 127), (0, 0, 0), (127, 127, 127)]),
    ({"saturation": 2.0}, [(0, 255, 127), (127, 127, 127), (255, 0, 127), (0, 0, 0), (0, 255, 127)]),
    ({"contrast": 2.0, "brightness": -25.0}, [(0, 255, 127), (127, 127, 127), (255, 0, 127), (0, 0, 0), (0, 255, 127)]),
    ({"contrast": 0.5}, [(0, 127, 63), (63, 63, 63), (127, 0, 63), (0, 0, 0), (0, 127, 63)]),
]


@pytest.mark.parametrize(("options", "expected"), COLOUR_PIXELS)
def test_colour_pixels(options: dict, expected: list) -> None:
    got = render_color(COLOUR_TILE, [(0.0, 10.0), (0.0, 10.0)], COLOUR_MIX, **options)
    assert got.shape == (1, 5, 3) and got.dtype == np.uint8 and got.flags.c_contiguous
    assert [tuple(pixel) for pixel in got[0].tolist()] == expected


@pytest.mark.parametrize("gamma", [1.0, 1.5])
def test_colour_scale_is_255_49(gamma: float) -> None:
    cube = np.full((1, 1, 1), 9.96**gamma, np.float32)  # v**(1/GAM) = 0.996: 254.47, where 255 * v would give 253
    assert render_color(cube, [(0.0, 10.0**gamma)], mix_matrix(1), gamma=gamma).tolist() == [[[254, 254, 254]]]


def test_colour_channel_with_zero_weight_is_ignored() -> None:
    cube = np.stack([np.full((2, 2), 5.0), np.full((2, 2), 5.0), np.full((2, 2), 5.0), np.full((2, 2), NAN)])
    got = render_color(cube.astype(np.float32), [(0.0, 10.0)] * 4, mix_matrix(4, default="rgb"), invert=True)
    assert (got == 128).all()


def test_colour_one_channel_grey_matches_mono() -> None:
    tile = np.random.default_rng(4).normal(0.5, 0.3, (1, 40, 50)).astype(np.float32)
    tile[0, 3, 4] = NAN
    for options in ({}, {"gamma": 2.2, "stretch": "log"}, {"invert": True, "stretch": "asinh"}):
        mono = render_mono(tile[0], 0.0, 1.0, **options)
        colour = render_color(tile, [(0.0, 1.0)], mix_matrix(1), **options)
        assert_within_one(colour, np.repeat(mono[:, :, None], 3, axis=2))


# Bad input ------------------------------------------------------------------------------------------------------

BAD_CALLS = [
    lambda: render_mono(GRID, 0.0, 1.0, stretch="cubic"),
    lambda: render_mono(GRID, 0.0, 1.0, colormap="rainbow"),
    lambda: render_mono(GRID, 0.0, 1.0, stretch="histeq"),
    lambda: render_mono(GRID, 0.0, 1.0, stretch="log", stretch_param=-1.0),
    lambda: render_mono(GRID, 0.0, 1.0, gamma=0.0),
    lambda: render_mono(GRID[None], 0.0, 1.0),
    lambda: render_color(GRID[None], [(0.0, 1.0)] * 2, mix_matrix(1)),
    lambda: render_color(GRID[None], [(0.0, 1.0)], mix_matrix(2)),
    lambda: render_color(GRID[None], [(0.0, 1.0)], mix_matrix(1), stretch="cubic"),
    lambda: render_color(GRID[None], [(0.0, 1.0)], mix_matrix(1), saturation=-1.0),
    lambda: colormap_table("rainbow"),
    lambda: mix_matrix(0),
    lambda: mix_matrix(3, {4: (1.0, 1.0, 1.0)}),
    lambda: mix_matrix(3, default="rainbow"),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_bad_input_raises_value_error(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()
