"""Sphinx configuration of the tileserver manual. Build: python3 -m sphinx -W doc doc/_build/html"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE / "_ext"), str(HERE.parent)]  # the extension, and the checkout's tileserver package

import tileserver  # noqa: E402

project = "tileserver"
author = "The tileserver developers"
copyright = "the tileserver developers"
release = version = tileserver.__version__

extensions = ["tileserver_docs"]
exclude_patterns = ["_build"]
nitpicky = True  # a role naming an undocumented setting, parameter or endpoint is a warning, hence an error
highlight_language = "none"
smartquotes = False  # curl commands and queries must be copied exactly as written

html_theme = "furo"
html_title = f"tileserver {release}"
html_static_path = ["_static"]
html_css_files = ["manual.css"]
html_show_sourcelink = False
html_copy_source = False
