"""Debian's Chromium under Playwright: where it is, how it starts, and pages that record their errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed: run .ci/run or apt-get install chromium")
    return path


def cancelled(request: Any) -> bool:
    """A request the page itself gave up (Leaflet drops the tiles of a view it left, or of settings just changed):
    not a failure of the server."""
    return (request.failure or "") == "net::ERR_ABORTED"


@contextmanager
def watched_page(browser: Any, **context_options: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page in a browser context of its own (a phone, a second user...) and the list of its console errors and
    failed requests, which the test asserts empty."""
    context = browser.new_context(**{"bypass_csp": True, **context_options})  # as in the page fixture
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("requestfailed", lambda r: not cancelled(r) and errors.append(r.url))
        yield page, errors
    finally:
        context.close()
