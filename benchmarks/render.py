"""Per-tile cost of rendering vs JPEG encoding (simplejpeg, quality 90) on seeded 256 x 256 sky tiles.

Run: python benchmarks/render.py [--runs N]
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import simplejpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tileserver.display.render import mix_matrix, render_color, render_mono

SIZE = 256
QUALITY = 90


def sky(rng: np.random.Generator, fluxes: np.ndarray, positions: np.ndarray, background: float) -> np.ndarray:
    """Gaussian noise around a background, plus Gaussian stars (FWHM ~3 px), plus a few NaN pixels."""
    y, x = np.mgrid[:SIZE, :SIZE]
    image = rng.normal(background, 5.0, (SIZE, SIZE))
    for (row, col), flux in zip(positions, fluxes):
        image += flux * np.exp(-((y - row) ** 2 + (x - col) ** 2) / (2 * 1.3**2))
    image[rng.integers(0, SIZE, 20), rng.integers(0, SIZE, 20)] = np.nan
    return image.astype(np.float32)


def make_tiles(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, SIZE, (150, 2))
    fluxes = 20.0 * rng.pareto(1.2, 150)
    mono = sky(rng, fluxes, positions, 100.0)
    colours = rng.uniform(0.3, 1.5, (3, 150))
    cube = np.stack([sky(rng, fluxes * colours[c], positions, 100.0 + 20 * c) for c in range(3)])
    return mono, cube


def median_us(work: Callable[[], object], runs: int) -> float:
    work()  # builds and caches the look-up tables
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        work()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e3


def encode(pixels: np.ndarray) -> bytes:
    if pixels.ndim == 2:
        return simplejpeg.encode_jpeg(pixels[:, :, None], QUALITY, colorspace="GRAY")
    return simplejpeg.encode_jpeg(pixels, QUALITY, colorspace="RGB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)
    mono, cube = make_tiles()
    cuts = (90.0, 400.0)
    cases: dict[str, Callable[[], np.ndarray]] = {
        "grey linear": lambda: render_mono(mono, *cuts),
        "grey asinh": lambda: render_mono(mono, *cuts, stretch="asinh", gamma=2.2),
        "viridis": lambda: render_mono(mono, *cuts, colormap="viridis"),
        "colour mix 3 chan": lambda: render_color(cube, [(90.0 + 20 * c, 400.0) for c in range(3)], mix_matrix(3)),
        "colour mix 3 chan asinh": lambda: render_color(
            cube, [(90.0 + 20 * c, 400.0) for c in range(3)], mix_matrix(3), stretch="asinh", gamma=2.2
        ),
    }
    print(f"{SIZE}x{SIZE} float32 tiles, median of {args.runs} runs, JPEG quality {QUALITY}, times in µs")
    print(f"{'case':<24} {'render':>8} {'encode':>8} {'both':>8} {'render/encode':>14}")
    for name, render in cases.items():
        pixels = render()
        render_time = median_us(render, args.runs)
        encode_time = median_us(lambda: encode(pixels), args.runs)
        both_time = median_us(lambda: encode(render()), args.runs)
        ratio = render_time / encode_time
        print(f"{name:<24} {render_time:8.0f} {encode_time:8.0f} {both_time:8.0f} {ratio:14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
