"""Colormaps for mono rendering: 256 x 3 uint8 tables, built once at import, read-only."""

import numpy as np

from ..names import BASE_COLORMAPS, COLORMAPS

# Perceptual maps (van der Walt & Smith's viridis family; Nuñez et al.'s cividis), as anchors
# "index:rrggbb" taken from the published 256-entry tables, chosen so that linear interpolation
# between them stays within one level of every published entry.
_ANCHORS = {
    "viridis": "0:440154 20:481d6f 35:46307e 56:3e4989 88:2f6b8e 127:21908d 142:1f9e89 153:22a884"
    " 166:2fb47c 181:48c16e 198:6ccd5a 221:a5db36 236:cde11d 244:e2e418 253:f8e621 255:fde725",
    "magma": "0:000004 7:03030f 20:0e0b2b 35:21114e 48:36106b 58:471078 75:621980 104:902a81"
    " 129:b83779 152:dc4869 168:ef5d5e 182:f8765c 196:fc9065 213:feb078 237:fddc9e 255:fcfdbf",
    "inferno": "0:000004 7:030210 22:120a32 35:260c51 45:380962 56:4a0c6b 71:62146e 91:82206c"
    " 112:a32c61 131:c03a51 151:da4e3c 172:ef6c23 191:f98c0a 198:fb9906 204:fca50a 213:fbb61a"
    " 226:f8cf3a 237:f3e55d 245:f2f27d 251:f6fa96 255:fcffa4",
    "plasma": "0:0d0887 8:220690 31:4b03a1 52:6c00a8 66:8104a7 82:9814a0 105:b42e8d 138:d5536f"
    " 173:ef7c51 200:fba139 221:fec029 237:fada24 251:f2f227 254:f0f724 255:f0f921",
    "cividis": "0:00224e 20:003070 23:013271 28:123570 39:263d6e 60:3f4c6c 92:5e626e 130:7e7d78"
    " 158:999277 193:bdae6c 217:d6c35d 234:e9d34e 248:f9e03a 251:fde334 255:fee838",
}

# The usual piecewise-linear maps, per channel (position, value) breakpoints, as in MATLAB/matplotlib.
_SEGMENTS = {
    "jet": (
        ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
        ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
        ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
    ),
    "hot": (
        ((0.0, 0.0416), (0.365079, 1.0), (1.0, 1.0)),
        ((0.0, 0.0), (0.365079, 0.0), (0.746032, 1.0), (1.0, 1.0)),
        ((0.0, 0.0), (0.746032, 0.0), (1.0, 1.0)),
    ),
    "cool": (((0.0, 0.0), (1.0, 1.0)), ((0.0, 1.0), (1.0, 0.0)), ((0.0, 1.0), (1.0, 1.0))),
}


_POSITIONS = np.linspace(0.0, 1.0, 256)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def _from_anchors(spec: str) -> np.ndarray:
    pairs = [item.split(":") for item in spec.split()]
    index = np.array([int(i) for i, _ in pairs])
    colours = np.frombuffer(bytes.fromhex("".join(hexa for _, hexa in pairs)), dtype=np.uint8).reshape(-1, 3)
    channels = [np.interp(np.arange(256), index, colours[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=1)).astype(np.uint8)


def _from_segments(segments: tuple) -> np.ndarray:
    channels = [np.interp(_POSITIONS, [x for x, _ in points], [y for _, y in points]) for points in segments]
    return _to_uint8(np.stack(channels, axis=1))


def _cubehelix(start: float = 0.5, rotations: float = -1.5, hue: float = 1.0, gamma: float = 1.0) -> np.ndarray:
    """Green (2011), Bull. Astr. Soc. India 39, 289: a helix around the grey diagonal, monotonic in luminance."""
    level = _POSITIONS**gamma
    amplitude = hue * level * (1.0 - level) / 2.0
    angle = 2.0 * np.pi * (start / 3.0 + rotations * _POSITIONS)
    cos, sin = np.cos(angle), np.sin(angle)
    rgb = np.stack(
        [
            level + amplitude * (-0.14861 * cos + 1.78277 * sin),
            level + amplitude * (-0.29227 * cos - 0.90649 * sin),
            level + amplitude * (1.97294 * cos),
        ],
        axis=1,
    )
    return _to_uint8(rgb)


def _build_tables() -> dict[str, np.ndarray]:
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    hot = _from_segments(_SEGMENTS["hot"])
    tables = {
        "grey": grey,
        "jet": _from_segments(_SEGMENTS["jet"]),
        # "cold" is hot's blue twin: black -> blue -> cyan -> white.
        "cold": np.ascontiguousarray(hot[:, ::-1]),
        "cool": _from_segments(_SEGMENTS["cool"]),
        "hot": hot,
        "cubehelix": _cubehelix(),
    }
    tables |= {name: _from_anchors(spec) for name, spec in _ANCHORS.items()}
    tables |= {name + "_r": np.ascontiguousarray(tables[name][::-1]) for name in BASE_COLORMAPS}
    for table in tables.values():
        # Shared by every request: nobody may change them.
        table.setflags(write=False)
    return tables


_TABLES = _build_tables()


def colormap_table(name: str) -> np.ndarray:
    """The (256, 3) uint8 table of a colormap (read-only)."""
    try:
        return _TABLES[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}; expected one of {', '.join(COLORMAPS)}") from None
