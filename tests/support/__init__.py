"""Helpers the test modules share, by concept: `images` (seeded skies and FITS files), `servers` (real tileserver
processes, ports, polling), `proxies` (the shipped nginx and Apache configurations, run for real), `browser`
(Chromium pages) and `door` (the suite-wide audit of file opens). Fixtures live in conftest.py, which uses these;
test modules import from here, never from conftest.py (tests/test_lint.py checks)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def save_artifact(name: str, data: bytes) -> Path:
    """Keep a file a person may want to look at after the run (screenshots, rendered pages) in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path
