"""Command line: `tileserver [IMAGE...] [options]` and `tileserver cache ...`."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__, config
from ..errors import SettingError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tileserver",
        description="Serve huge scientific images (FITS, TIFF, PNG, JPEG) as tiles to a web viewer. "
        "With IMAGE arguments: a quick look at those files in the browser. With none and no --data-dir: the demo.",
        epilog="Every setting can also be given in the config file or as a TILESERVER_<NAME> environment variable. "
        "Subcommands: 'tileserver cache warm|list|clear' (see 'tileserver cache --help').",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files to look at")
    parser.add_argument("-V", "--version", action="version", version=f"tileserver {__version__}")
    parser.add_argument("-c", "--config", metavar="FILE", help=f"config file (default: {config.default_config_file()})")
    parser.add_argument("-s", "--save-config", action="store_true", help="save the resulting settings to the config "
                        "file and exit")
    parser.add_argument("-S", "--show-config", action="store_true", help="print the resulting settings and exit")
    parser.add_argument("--get", metavar="PATH", help="run one request in-process (e.g. '/api?FIF=a.fits&INFO'), "
                        "print the response and exit")
    for section in config.SECTIONS:
        group = parser.add_argument_group(f"{section} settings")
        for s in config.SETTINGS:
            if s.section != section or not s.cli:
                continue
            names = [s.short, s.flag] if s.short else [s.flag]
            help_text = f"{s.help} (default: {s.default!r}; env {s.env})"
            if s.type is bool and s.name.startswith("no_"):
                # BooleanOptionalAction would read "--no-browser" as the negation of "--browser".
                group.add_argument(*names, dest=s.name, action="store_const", const=True, default=None,
                                   help=help_text)
            elif s.type is bool:
                group.add_argument(*names, dest=s.name, action=argparse.BooleanOptionalAction, default=None,
                                   help=help_text)
            else:
                group.add_argument(*names, dest=s.name, default=None, metavar=s.type.__name__.upper(), help=help_text)
    return parser


def fail(message: str) -> int:
    print(f"tileserver: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "cache":
        from .cache import main as cache_main

        return cache_main(argv[1:])
    if argv and argv[0] == "cluster":
        from ..cluster.command import main as cluster_main

        return cluster_main(argv[1:])
    args = build_parser().parse_args(argv)
    cli = {s.name: getattr(args, s.name) for s in config.SETTINGS if s.cli}
    config_path = Path(args.config) if args.config else None
    if args.save_config and config_path and not config_path.exists():
        config_path = Path(os.devnull)  # saving creates it
    try:
        if args.show_config or args.save_config:
            settings = config.resolve(cli, os.environ, config_path)
            return show_or_save(settings, args.save_config, Path(args.config) if args.config else None)
        cli.update(quick_look(args.images, cli))
        settings = config.resolve(cli, os.environ, config_path)
        demo = not args.images and not settings.data_dir
        if demo:
            settings = config.resolve({**cli, **demo_settings(settings)}, os.environ, config_path)
    except SettingError as e:
        return fail(str(e))
    if args.get:
        return get(settings, args.get)
    # A quick look (images or the demo) opens the browser; a server for a data folder does not.
    return serve(settings, open_browser=(bool(args.images) or demo) and not settings.no_browser)


def show_or_save(settings: config.Settings, save: bool, path: Path | None) -> int:
    if not save:
        print(config.to_config_text(settings), end="")
        return 0
    path = path or config.default_config_file()
    config.save_config(settings, path)
    print(f"settings saved to {path}")
    return 0


def quick_look(images: list[str], cli: dict[str, Any]) -> dict[str, Any]:
    """Settings for `tileserver IMAGE...`: serve the images' folder and open the first image."""
    if not images:
        return {}
    from ..iip import split_fif
    from ..images import sniff

    paths = []
    selectors = []
    for name in images:
        name, selector = split_fif(name)  # 'file.fits[SCI]' picks an extension
        selectors.append(selector)
        path = Path(name).expanduser()
        if not path.is_file():
            raise SettingError(f"{name}: no such file")
        if not os.access(path, os.R_OK):
            raise SettingError(f"{name}: permission denied")
        if sniff(path) is None:
            raise SettingError(f"{name}: not an image tileserver can read (FITS, TIFF, PNG or JPEG)")
        paths.append(path.resolve())
    data_dir = Path(cli["data_dir"]).resolve() if cli.get("data_dir") else Path(os.path.commonpath(
        [p.parent for p in paths]))
    try:
        first = paths[0].relative_to(data_dir)
    except ValueError:
        raise SettingError(f"{images[0]}: not inside the data folder {data_dir}") from None
    selector = f"[{selectors[0]}]" if selectors[0] else ""
    return {"data_dir": str(data_dir), "default_image": first.as_posix() + selector}


def demo_settings(settings: config.Settings) -> dict[str, Any]:
    from ..images.demo import DEMO_NAME, ensure_demo

    folder = Path(settings.cache_dir) / "demo"
    print("tileserver: no image given, serving the demo sky", file=sys.stderr)
    ensure_demo(folder)
    return {"data_dir": str(folder), "default_image": DEMO_NAME}


def get(settings: config.Settings, path: str) -> int:
    from ..web.app import request_once

    status, content_type, body = request_once(settings, path)
    if content_type.startswith(("text/", "application/json")):
        print(body.decode("utf-8", "replace"))
    else:
        sys.stdout.buffer.write(body)
    print(f"HTTP {status} {content_type} {len(body)} bytes", file=sys.stderr)
    return 0 if status < 400 else 1


def viewer_url(settings: config.Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    query = "?" + urllib.parse.urlencode({"image": settings.default_image}) if settings.default_image else ""
    return f"http://{host}:{settings.port}{settings.root_path}/{query}"


def check_port(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use; choose another one with --port"
            return f"cannot listen on {host}:{port} ({e.strerror})"
    return None


def has_display() -> bool:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _open_when_ready(url: str, ready: str) -> None:
    """Open the browser as soon as `ready` answers (the first image's INFO: answered from its header and a sample,
    before its pyramid is built), or after 30 s anyway, when the viewer shows the server's own message."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(ready, timeout=max(0.1, deadline - time.monotonic())):
                break
        except urllib.error.HTTPError:
            break  # the server answers (with an error the viewer will show)
        except OSError:
            time.sleep(0.1)
    webbrowser.open(url)


def ready_url(settings: config.Settings, url: str) -> str:
    base = url.split("?")[0].rstrip("/")
    if not settings.default_image:
        return base + "/healthz"
    return f"{base}{settings.api_path}?{urllib.parse.urlencode({'FIF': settings.default_image})}&INFO"


def serve(settings: config.Settings, open_browser: bool = True) -> int:
    # A master started by an upgrade (gunicorn USR2) or by systemd socket activation inherits its listening socket.
    inherited = "GUNICORN_FD" in os.environ or "LISTEN_FDS" in os.environ
    problem = None if inherited else check_port(settings.host, settings.port)
    if problem:
        return fail(problem)
    url = viewer_url(settings)
    if open_browser and not has_display():
        # Over SSH, in a container: keep serving, as Jupyter does; the user opens the URL (or tunnels to it).
        print(f"tileserver: no display to open a browser on: open {url} yourself (--no-browser hides this)",
              file=sys.stderr, flush=True)
    elif open_browser:
        threading.Thread(target=_open_when_ready, args=(url, ready_url(settings, url)), daemon=True).start()
    if settings.clear_cache:
        from ..store.diskcache import for_settings

        for_settings(settings).clear()
    print(f"tileserver {__version__}: serving {settings.data_dir} at {url}", file=sys.stderr, flush=True)
    if settings.workers > 1:
        from ..web.server import run_gunicorn

        return run_gunicorn(settings)
    from ..web.server import run_uvicorn

    return run_uvicorn(settings)
