"""The README's two commands are the ones CI runs and the package provides."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_two_commands_and_ci_runs_the_test_one():
    run, test = commands()[:2]
    assert "pip install ." in run and run.endswith("tileserver")
    assert "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()


def test_wheel_ships_client_and_templates():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"client" = "tileserver/_share/client"' in pyproject
    assert '"templates" = "tileserver/_share/templates"' in pyproject
    assert 'tileserver = "tileserver.cli:main"' in pyproject
