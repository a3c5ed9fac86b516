"""The one door, audited over the whole suite.

Every file a request reaches must be opened by tileserver.datapath (the door). `audit` (installed by conftest.py
with sys.addaudithook) sees every open, listing and scan of the process: one made by the server's side (any thread
but the test's own) inside a folder the door serves, but not by the door itself, is a bypass, recorded in BYPASSES;
conftest.py's door_audit fixture fails the test that caused it. Servers started as subprocesses are not seen here;
their opens are the same code.
"""

from __future__ import annotations

import os
import threading
from typing import Any

BYPASSES: list[str] = []


def audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in ("open", "os.listdir", "os.scandir") or threading.current_thread() is threading.main_thread():
        return
    from tileserver import datapath

    target = args[0] if args else None
    if target is None or isinstance(target, int) or datapath.through_door():
        return
    path = os.path.abspath(os.fsdecode(target)) if isinstance(target, (str, bytes, os.PathLike)) else ""
    if any(root != "/" and datapath.inside(root, path) for root in list(datapath.ROOTS)):
        BYPASSES.append(f"{event} {path} in {threading.current_thread().name}")
