"""Helpers the test modules share, by concept: `images` (seeded skies, FITS files, pyramids, JPEG decoding),
`servers` (real tileserver processes, ports, polling), `proxies` (the shipped nginx and Apache configurations, run
for real), `browser` (Chromium pages), `viewer` (the web client's images, server and state as the browser tests read
it), `websocket` (checks of the websocket channel on a real server, direct or proxied), `fuzz` (the file fuzzer's
seeds and mutations) and `door` (the suite-wide audit of file opens). Fixtures live in conftest.py, which uses
these; test modules import from here, never from conftest.py or from one another (tests/test_lint.py checks)."""

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


# The manual's screenshots (doc/_static/) are taken by the browser tests that check what they show:
# `python -m pytest --manual-figures tests/test_manual.py tests/test_client_aladin.py tests/test_client_firstlook.py`
# writes them there (conftest.py sets the flag below from the option); without it they go to test-artifacts/ only.
MANUAL_FIGURES = ROOT / "doc" / "_static"
write_manual_figures = False


def save_figure(name: str, data: bytes) -> Path:
    """A screenshot of the manual: in test-artifacts/, and in doc/_static/ under --manual-figures."""
    if write_manual_figures:
        (MANUAL_FIGURES / name).write_bytes(data)
    return save_artifact(name, data)
