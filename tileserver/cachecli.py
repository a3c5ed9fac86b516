"""`tileserver cache warm|list|clear`: operator commands over the disk cache."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import config
from .errors import SettingError, TileServerError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tileserver cache", description="Manage the pyramid disk cache.")
    parser.add_argument("-c", "--config", metavar="FILE", help="config file")
    parser.add_argument("--cache-dir", help="cache folder (default: the cache_dir setting)")
    parser.add_argument("--data-dir", help="data folder (default: the data_dir setting)")
    sub = parser.add_subparsers(dest="command", required=True)
    warm = sub.add_parser("warm", help="build the caches of images ahead of their first view")
    warm.add_argument("paths", nargs="+", help="image files or folders, inside the data folder")
    warm.add_argument("--shard", default="1/1", metavar="I/N",
                      help="only the I-th of N equal shares of the images (1-based), for batch schedulers")
    sub.add_parser("list", help="list the cached images")
    sub.add_parser("clear", help="remove every cached image")
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    cli = {"cache_dir": args.cache_dir, "data_dir": args.data_dir}
    try:
        settings = config.resolve(cli, os.environ, Path(args.config) if args.config else None)
    except SettingError as e:
        print(f"tileserver: error: {e}", file=sys.stderr)
        return 2
    from .engine import Engine

    engine = Engine(settings)
    if args.command == "list":
        for entry in sorted(engine.cache.list(), key=engine.cache.last_use, reverse=True):
            name = entry.manifest.get("image", {}).get("name", "?")
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(engine.cache.last_use(entry)))
            print(f"{entry.key}  {entry.nbytes / 2**20:10.1f} MiB  {used}  {name}")
        return 0
    if args.command == "clear":
        print(f"removed {engine.cache.clear()} cached image(s)")
        return 0
    return warm(engine, settings, args.paths, args.shard)


def warm(engine, settings: config.Settings, paths: list[str], shard: str) -> int:
    from .images import sniff
    from .protocol import Query

    try:
        index, count = (int(v) for v in shard.split("/"))
        assert 1 <= index <= count
    except (ValueError, AssertionError):
        print(f"tileserver: error: --shard {shard!r} must be I/N with 1 <= I <= N", file=sys.stderr)
        return 2
    if not settings.data_dir:
        print("tileserver: error: setting data_dir: needed to warm the cache", file=sys.stderr)
        return 2
    root = Path(settings.data_dir)
    files: list[Path] = []
    for name in paths:
        path = Path(name).expanduser().resolve()
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files.extend(p for p in candidates if sniff(p))
    files = sorted(set(files))[index - 1::count]
    failures = 0
    for path in files:
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            print(f"skipped {path}: outside the data folder", file=sys.stderr)
            failures += 1
            continue
        start = time.monotonic()
        try:
            image = engine.open(Query(fif=rel, selector=None, kind="info"))
        except TileServerError as e:
            print(f"failed  {rel}: {e.message}", file=sys.stderr)
            failures += 1
            continue
        print(f"cached  {rel}  {image.geometry.width}x{image.geometry.height}  {time.monotonic() - start:.1f} s")
    return 1 if failures else 0
