"""The code's own rules: ruff and mypy pass (configured in pyproject.toml), only the web layer knows the web
framework, modules and functions stay small enough to read; test modules take their helpers from tests/support/,
and each node suite runs once."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tileserver"
WEB_ONLY = ("starlette", "uvicorn", "gunicorn", "uvicorn_worker")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = run("mypy", "--no-incremental")  # files and options: [tool.mypy] in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(tree: ast.Module) -> set[str]:
    """Top-level names of the packages a module imports (absolute imports only: relative ones stay inside)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_web_layer_imports_the_web_framework() -> None:
    offenders = {}
    for path in modules():
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "web":
            continue
        found = imported(ast.parse(path.read_text(encoding="utf-8"))) & set(WEB_ONLY)
        if found:
            offenders[str(relative)] = sorted(found)
    assert offenders == {}, "starlette, uvicorn and gunicorn belong in tileserver/web/"


def test_the_web_framework_check_sees_imports() -> None:
    """The check above would notice: a plain, a dotted and a lazy import all count."""
    tree = ast.parse("import uvicorn\nfrom starlette.routing import Route\ndef f():\n    import gunicorn.app\n")
    assert imported(tree) == {"uvicorn", "starlette", "gunicorn"}
    assert imported(ast.parse("from .web import app\nfrom ..store import pyramid\n")) == set()


MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def test_modules_and_functions_stay_small() -> None:
    """One concept per module, a function on one screen: a newcomer reads either at once."""
    big, long = [], []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(PACKAGE))
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{name} ({len(text.splitlines())} lines)")
        long += [f"{name}: {node.name} ({length(node)} lines)" for node in ast.walk(ast.parse(text))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and length(node) > MAX_FUNCTION_LINES]
    assert big == [], f"split these modules (at most {MAX_MODULE_LINES} lines)"
    assert long == [], f"split these functions (at most {MAX_FUNCTION_LINES} lines)"


def test_client_modules_stay_small() -> None:
    """The same rule for the viewer's own JavaScript modules (client/js; Leaflet and Aladin Lite are packages)."""
    client = ROOT / "client" / "js"
    big = [f"{path.relative_to(client)} ({n} lines)" for path in sorted(client.rglob("*.js"))
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert big == [], f"split these modules (at most {MAX_MODULE_LINES} lines)"


MAX_SUPPRESSIONS = 5
SUPPRESSION = re.compile(r"#\s*(type:\s*ignore|noqa)\b(\[[^\]]*\]|:\s*[A-Z]+[0-9]+(?:,\s*[A-Z]+[0-9]+)*)?(.*)$")


def suppressions(text: str) -> list[tuple[int, str]]:
    """(line number, the reason written after it) of each `type: ignore` and `noqa` comment."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        m = SUPPRESSION.search(line)
        if m:
            found.append((number, m.group(3).strip(" #-()")))
    return found


def test_few_suppressions_each_with_its_reason() -> None:
    """Types say what the code does: a `type: ignore` or `noqa` is a rare exception, and says why."""
    every, unexplained = [], []
    for folder in ("tileserver", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue  # the samples in the test below
            for number, reason in suppressions(path.read_text(encoding="utf-8")):
                where = f"{path.relative_to(ROOT)}:{number}"
                every.append(where)
                if len(reason) < 8:
                    unexplained.append(where)
    assert len(every) <= MAX_SUPPRESSIONS, f"type the code instead of silencing the checker: {every}"
    assert unexplained == [], "say why, after the comment: # type: ignore[code]  # reason"


def test_the_suppression_check_reads_reasons() -> None:
    sample = ("x = 1  # type: ignore[misc]\n"
              "y = 2  # type: ignore[attr-defined]  # the stub lacks it\n"
              "import a  # noqa: E402 - after sys.path\n"
              "import b  # noqa: F401\n"
              "z = 3  # an ordinary comment\n")
    assert suppressions(sample) == [(1, ""), (2, "the stub lacks it"), (3, "after sys.path"), (4, "")]


TESTS = ROOT / "tests"


def helper_imports(tree: ast.Module) -> list[str]:
    """Imports of conftest or of a test module (plain, from, or lazy inside a function): fixtures come by name from
    pytest, helpers from the support package."""
    def shared(name: str) -> bool:
        return name.split(".")[0] == "conftest" or name.split(".")[0].startswith("test_")

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if shared(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and shared(node.module or ""):
            found.append(f"from {node.module} import {', '.join(alias.name for alias in node.names)}")
    return found


def test_test_modules_take_helpers_from_support() -> None:
    """Helpers shared by test modules live in tests/support/ (images, servers, proxies, browser, viewer, websocket,
    fuzz, door); conftest.py only holds fixtures, and no module imports it or a test module."""
    offenders = {}
    for path in sorted([*TESTS.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        found = helper_imports(ast.parse(path.read_text(encoding="utf-8")))
        if found and path.name != "conftest.py":
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}, "import these helpers from tests/support/ (move them there from conftest.py or the test)"
    assert not (TESTS / "proxies.py").exists(), "the proxies' helpers are tests/support/proxies.py"


def test_the_helper_import_check_sees_imports() -> None:
    tree = ast.parse("from conftest import sky\nimport conftest\ndef f():\n    from conftest import ROOT, wait_for\n"
                     "from test_api import decode\nimport test_ws\n")
    assert sorted(helper_imports(tree)) == ["conftest", "from conftest import ROOT, wait_for",
                                            "from conftest import sky", "from test_api import decode", "test_ws"]
    assert helper_imports(ast.parse("from support.images import sky\nimport support\nimport testing\n")) == []


def node_suites_run(tree: ast.Module) -> list[str]:
    """The paths under tests/js/ a test module names in its string literals (what it runs under `node --test`)."""
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("tests/js")]


def test_each_node_suite_runs_once() -> None:
    """Each tests/js/*.test.mjs is run by exactly one pytest test module, by its own name: a test running the whole
    folder would run the others' suites a second time."""
    runs: dict[str, list[str]] = {}
    for path in sorted(TESTS.glob("test_*.py")):
        if path == Path(__file__).resolve():
            continue  # this test's own literals
        for suite in node_suites_run(ast.parse(path.read_text(encoding="utf-8"))):
            runs.setdefault(suite.rstrip("/"), []).append(path.name)
    suites = {f"tests/js/{path.name}" for path in (TESTS / "js").glob("*.test.mjs")}
    assert "tests/js" not in runs, f"name each suite, not the folder: {runs['tests/js']}"
    assert {suite: modules for suite, modules in runs.items() if len(modules) != 1} == {}
    assert suites - set(runs) == set(), "no pytest test runs these node suites"
