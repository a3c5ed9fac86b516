"""The command line: `tileserver` (serve, configure) and `tileserver cache` (inspect, warm, clear)."""

from .main import main

__all__ = ["main"]
