"""The viewer's pure modules under `node --test` (tests/js/client_modules.test.mjs), and the one table they share
with the server: the size of each tile level."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tileserver.store.pyramid import Geometry

ROOT = Path(__file__).resolve().parents[1]

# (width, height, levels, level sizes from the coarsest): the same table as in client_modules.test.mjs.
LEVEL_SIZES = [
    (601, 401, 3, [(150, 100), (300, 200), (601, 401)]),
    (256, 1, 1, [(256, 1)]),
    (1000, 3, 3, [(250, 1), (500, 1), (1000, 3)]),
]


@pytest.mark.parametrize("width, height, levels, sizes", LEVEL_SIZES)
def test_level_sizes_table_is_the_servers(width: int, height: int, levels: int, sizes: list[tuple[int, int]]):
    geometry = Geometry(width, height, 1, 256)
    assert geometry.levels == levels
    assert [geometry.level_size(z) for z in range(levels)] == sizes


def test_client_modules_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js >= 20) is required to test the web client: install it (apt-get install nodejs)")
    result = subprocess.run([node, "--test", "tests/js/client_modules.test.mjs"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"node --test failed:\n{result.stdout}\n{result.stderr}"
