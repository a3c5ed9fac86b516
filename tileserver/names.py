"""Every name on the wire, in one place: the IIP/VisiOmatic query parameters and the values some of them take.

The parser (iip.py), the OpenAPI document (web/openapi.py), the renderer (display/) and the manual read them
from here; the web client keeps its own copy in client/js/core/DisplaySettings.js, which tests/test_names.py holds
to the same names in the same order.
"""

from __future__ import annotations

# Query parameters. Names are upper case except VisiOmatic's `obj`.
PARAMETERS: frozenset[str] = frozenset({
    "FIF", "INFO", "obj", "JTL", "CHAN", "MINMAX", "MIX", "CTW", "CNT", "BRT", "GAM", "CMP", "INV", "QLT", "STR",
    "RGN", "BIN", "CVT", "VAL", "PFL", "SAT", "V", "NAN",
})
REPEATABLE: frozenset[str] = frozenset({"CHAN", "MINMAX", "MIX"})  # one value per channel

# STR: the stretch applied before gamma.
STRETCHES: tuple[str, ...] = ("linear", "sqrt", "log", "asinh", "sinh", "square", "histeq", "power")

# CMP: the colormap of mono mode; every one also reversed, as name_r.
BASE_COLORMAPS: tuple[str, ...] = ("grey", "jet", "cold", "cool", "hot", "viridis", "magma", "inferno", "plasma",
                                   "cividis", "cubehelix")
COLORMAPS: tuple[str, ...] = BASE_COLORMAPS + tuple(name + "_r" for name in BASE_COLORMAPS)

# CVT: the output of a region snapshot.
REGION_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "fits")
