"""`tileserver cache warm|list|clear`: operator commands over the disk cache.

`warm` builds the pyramids of images before anyone looks at them: here, into cache_dir; on the Dask workers of a
cluster, into its store (when dask_scheduler is set: see cluster/warm.py); or with --via through a server or proxy
URL, so that behind a hashing proxy (several machines) each image is built on the node that will serve it.
`--shard I/N` keeps every N-th image starting at the I-th, in an order every machine agrees on (paths relative to
the data folder), so N jobs of any batch scheduler share the work without talking to each other.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import config
from ..errors import SettingError, TileServerError

VIA_RETRIES = 5  # times a busy server (503) is asked again, after the Retry-After it gives
URI_COMPONENT_SAFE = "!'()*"  # what JavaScript's encodeURIComponent leaves unquoted, besides letters, digits, -_.~
Build = Callable[[str], tuple[int, int]]  # relative image path -> its width and height, once cached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tileserver cache", description="Manage the pyramid disk cache.")
    parser.add_argument("-c", "--config", metavar="FILE", help="config file")
    parser.add_argument("--cache-dir", help="cache folder (default: the cache_dir setting)")
    parser.add_argument("--data-dir", help="data folder (default: the data_dir setting)")
    sub = parser.add_subparsers(dest="command", required=True)
    warm = sub.add_parser("warm", help="build the caches of images ahead of their first view")
    warm.add_argument("paths", nargs="+", help="image files or folders (searched recursively), as paths or "
                      "relative to the data folder")
    warm.add_argument("--shard", default="1/1", metavar="I/N",
                      help="only the I-th of N equal shares of the images (1-based), for batch schedulers")
    warm.add_argument("--via", metavar="URL", help="have the server at URL build them (its root, e.g. "
                      "https://tiles.example.org/vis), instead of building here")
    sub.add_parser("list", help="list the cached images, most recently used first")
    sub.add_parser("clear", help="remove every cached image")
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    cli = {"cache_dir": args.cache_dir, "data_dir": args.data_dir}
    try:
        settings = config.resolve(cli, os.environ, Path(args.config) if args.config else None)
        if args.command == "warm":
            return warm(settings, args.paths, parse_shard(args.shard), args.via)
    except SettingError as e:
        print(f"tileserver: error: {e}", file=sys.stderr)
        return 2
    from ..store.diskcache import for_settings

    cache = for_settings(settings)
    stale = cache.stale()
    stale_text = f"{len(stale)} stale entr{'y' if len(stale) == 1 else 'ies'} ({_mib(sum(s.nbytes for s in stale))})"
    if args.command == "clear":
        removed = cache.clear()
        print(f"removed {removed - len(stale)} cached image(s)" + (f" and {stale_text}" if stale else ""))
        return 0
    entries = sorted(cache.list(), key=cache.last_use, reverse=True)
    for entry in entries:
        name = entry.manifest.get("image", {}).get("name", "?")
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(cache.last_use(entry)))
        print(f"{entry.key}  {_mib(entry.nbytes):>14}  {used}  {name}")
    for old in stale:  # another version's, or broken: evicted first, removed by `cache clear`
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(_mtime(old.folder)))
        print(f"{old.key}  {_mib(old.nbytes):>14}  {used}  STALE: {old.reason}")
    total = sum(e.nbytes for e in entries)
    print(f"{len(entries)} image(s), {_mib(total)}" + (f"; {stale_text}, evicted first" if stale else "")
          + f" in {settings.cache_dir}", file=sys.stderr)
    return 0


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def parse_shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count):
        return int(index), int(count)
    raise SettingError(f"--shard {text!r}: must be I/N with 1 <= I <= N")


def find_images(root: Path, names: list[str]) -> tuple[list[str], list[str]]:
    """The images named (files, or folders searched recursively) as sorted paths relative to root, and the names
    that are no image inside root, with the reason."""
    from ..images import sniff

    found: set[str] = set()
    problems: list[str] = []
    for name in names:
        path = Path(name).expanduser()
        if not path.exists() and (root / name).exists():
            path = root / name
        path = path.resolve()
        if not path.exists():
            problems.append(f"{name}: no such file or folder")
            continue
        if not path.is_relative_to(root):
            problems.append(f"{name}: outside the data folder {root}")
            continue
        if path.is_dir():
            found.update(p.relative_to(root).as_posix() for p in path.rglob("*") if p.is_file() and sniff(p))
        elif sniff(path):
            found.add(path.relative_to(root).as_posix())
        else:
            problems.append(f"{name}: not an image (FITS, TIFF, PNG or JPEG)")
    return sorted(found), problems


def warm(settings: config.Settings, names: list[str], shard: tuple[int, int], via: str | None) -> int:
    if not settings.data_dir:
        raise SettingError("setting data_dir: needed to find the images to warm")
    if settings.data_dir.startswith("s3://"):
        from ..cluster.sources import RemoteSources

        images, problems = RemoteSources(settings).find(names)
    else:
        images, problems = find_images(Path(settings.data_dir), names)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    index, count = shard
    mine = images[index - 1::count]
    if settings.dask_scheduler and not via:
        from ..cluster.warm import warm_on_cluster

        failures = warm_on_cluster(settings, mine)
        print(f"{len(mine) - failures} of {len(mine)} image(s) in the store {settings.store_url}", file=sys.stderr)
        return 1 if failures or problems else 0
    build = build_via(via, settings.api_path) if via else build_here(settings)
    failures = 0
    for rel in mine:
        start = time.monotonic()
        try:
            width, height = build(rel)
        except Exception as e:
            reason = e.message if isinstance(e, TileServerError) else f"{type(e).__name__}: {e}"
            print(f"failed  {rel}: {reason}", file=sys.stderr)
            failures += 1
            continue
        print(f"cached  {rel}  {width}x{height}  {time.monotonic() - start:.1f} s", flush=True)
    print(f"{len(mine) - failures} of {len(mine)} image(s) cached (shard {index}/{count} of {len(images)})",
          file=sys.stderr)
    return 1 if failures or problems else 0


def build_here(settings: config.Settings) -> Build:
    from ..engine import Engine
    from ..iip import InfoQuery

    # The operator warms everything: read access rules are for the server's users.
    engine = Engine(dataclasses.replace(settings, access_file=""))

    def build(rel: str) -> tuple[int, int]:
        try:
            geometry = engine.open(InfoQuery(fif=rel, selector=None), final=True).geometry  # built
        finally:
            engine.close()  # nothing is served here: let go of the files at once
        return geometry.width, geometry.height

    return build


VIA_POLL = 0.2  # seconds between two INFO requests while the server builds an image


def build_via(url: str, api_path: str) -> Build:
    if not url.startswith(("http://", "https://")):
        raise SettingError(f"--via {url!r}: must be an http:// or https:// URL")
    api = url.rstrip("/") + api_path

    def build(rel: str) -> tuple[int, int]:
        # Quoted as the web client's encodeURIComponent does: a proxy hashing on the raw FIF argument then sends
        # this request to the same node as the viewer's.
        query = f"FIF={urllib.parse.quote(rel, safe=URI_COMPONENT_SAFE)}&INFO"
        for attempt in range(VIA_RETRIES + 1):
            try:
                with urllib.request.urlopen(f"{api}?{query}", timeout=3600) as response:
                    info = json.load(response)
                while not info.get("built", True):  # answered from the source while it builds: wait for that
                    time.sleep(VIA_POLL)
                    with urllib.request.urlopen(f"{api}?{query}", timeout=3600) as response:
                        info = json.load(response)
                width, height = info["full_size"]
                return width, height
            except urllib.error.HTTPError as e:
                retry = e.code == 503 and attempt < VIA_RETRIES
                message = _detail(e)
                e.close()
                if not retry:
                    raise TileServerError(f"HTTP {e.code}: {message}") from None
                wait = e.headers.get("Retry-After", "")
                time.sleep(min(60, int(wait)) if wait.isdigit() else 5)
            except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
                raise TileServerError(f"no answer from {url}: {getattr(e, 'reason', e)}") from None
        raise AssertionError("unreachable")

    return build


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        return json.load(error)["detail"][0]["msg"]
    except (ValueError, KeyError, IndexError, TypeError, OSError):
        return error.reason
