"""Wheel build hook: ship the browser libraries that `npm ci` installed (node_modules/, pinned by
package-lock.json) inside the wheel, as Leaflet ships through its PyPI package. A checkout without them still
builds (a plain `pip install .`): the wheel then lacks them, the build says so, and the pages that need them say
how to get them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NPM_FILES = {  # installed by npm -> place in the wheel
    "node_modules/aladin-lite/dist": "tileserver/_share/aladin-lite",
    # Aladin Lite is GPL-3.0 (its README; the package also carries the LGPL text): shipped unmodified, with its terms.
    "node_modules/aladin-lite/COPYING": "tileserver/_share/aladin-lite/COPYING",
    "node_modules/aladin-lite/COPYING.LESSER": "tileserver/_share/aladin-lite/COPYING.LESSER",
    "node_modules/openseadragon/build/openseadragon": "tileserver/_share/openseadragon",
    "node_modules/openseadragon/LICENSE.txt": "tileserver/_share/openseadragon/LICENSE.txt",
    "node_modules/sampjs/samp.js": "tileserver/_share/sampjs/samp.js",  # CC0
}


class NpmFiles(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return  # an editable install serves node_modules/ from the checkout itself
        root = Path(self.root)
        missing = [name for name in NPM_FILES if not (root / name).exists()]
        if missing:
            self.app.display_warning("not installed (run `npm ci` first to ship them): " + ", ".join(missing))
        for name, target in NPM_FILES.items():
            if (root / name).exists():
                build_data["force_include"][str(root / name)] = target
