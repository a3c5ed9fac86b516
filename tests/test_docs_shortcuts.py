"""The manual's table of keys and gestures is the one the viewer's tools table (client/js/core/tools.js) writes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_manual_shortcut_table_is_written_from_the_tools_table() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the table is written by node scripts/shortcut_table.mjs")
    table = subprocess.run([node, "scripts/shortcut_table.mjs"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    assert (ROOT / "doc" / "shortcuts.inc").read_text() == table, \
        "doc/shortcuts.inc is out of date: node scripts/shortcut_table.mjs > doc/shortcuts.inc"
    assert ".. include:: shortcuts.inc" in (ROOT / "doc" / "guide.rst").read_text()
