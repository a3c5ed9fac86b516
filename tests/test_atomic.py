"""atomic.write: the one way the server replaces a file that others read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tileserver import atomic


def test_writes_and_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    atomic.write(path, "first")
    atomic.write(path, b"second")
    assert path.read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary file left


def test_mode_and_failure(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    atomic.write(path, "s3cret", mode=0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(OSError):
        atomic.write(tmp_path / "missing" / "file", "x")  # no such folder: the error, and nothing left behind
    with pytest.raises(TypeError):
        atomic.write(path, [1])  # neither text nor bytes: refused, the old file kept
    assert path.read_text() == "s3cret" and sorted(p.name for p in tmp_path.iterdir()) == ["secret"]
