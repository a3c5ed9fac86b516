"""Settings: one table drives the defaults, the command line, the config file, the environment and the docs.

Precedence, lowest first: built-in defaults < config file < TILESERVER_* environment < command line.
Every value is checked once, at start-up; a bad one raises SettingError naming the setting and the value.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from . import atomic
from .cpus import available_cpus
from .errors import SettingError

APP_NAME = "tileserver"
ENV_PREFIX = "TILESERVER_"


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / f"{APP_NAME}.conf"


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    section: str
    min: float | None = None
    max: float | None = None
    short: str | None = None
    cli: bool = True  # False for settings only meaningful in a file or the environment

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _s(name: str, type_: type, default: Any, help: str, section: str, **kw: Any) -> Setting:
    return Setting(name, type_, default, help, section, **kw)


SETTINGS: tuple[Setting, ...] = (
    # server
    _s("host", str, "127.0.0.1", "Address to bind; 0.0.0.0 to listen on every interface.", "server"),
    _s("port", int, 8009, "TCP port to listen on.", "server", min=1, max=65535, short="-p"),
    _s("root_path", str, "", "URL prefix when served behind a reverse proxy at a sub-path, e.g. /vis.", "server"),
    _s("access_log", bool, False, "Log every request: client, user, method, path, status, bytes, duration.", "server"),
    _s("log_level", str, "info", "Least severe messages logged: debug, info, warning or error.", "server"),
    _s("log_format", str, "text", "Log lines as text, or as JSON objects (json), one per line.", "server"),
    _s("reload", bool, False, "Restart the server when the code changes (development only).", "server"),
    _s("workers", int, 1, "Worker processes; more than 1 runs gunicorn with uvicorn workers.", "server",
       min=1, max=256, short="-w"),
    _s("graceful_timeout", float, 30.0, "Seconds a stopping worker is given to finish its requests.", "server",
       min=0, max=3600),
    _s("max_requests", int, 0, "Restart a worker after this many requests (0: never), against slow leaks.", "server",
       min=0, max=10**9),
    _s("max_requests_jitter", int, 0, "Random extra requests before such a restart, so workers do not restart "
       "together.", "server", min=0, max=10**9),
    _s("cors_origins", str, "", "Comma-separated origins allowed to call the API from another site (none by default).",
       "server"),
    _s("admin_pages", bool, True, "Serve /status, /status.json and /metrics.", "server"),
    _s("admin_allow", str, "127.0.0.0/8, ::1", "Comma-separated client addresses or networks (CIDR) allowed to see "
       "the admin pages; 0.0.0.0/0, ::/0 for everyone.", "server"),
    # image display defaults
    _s("brightness", float, 0.0, "Default relative brightness (black level), BRT.", "image", min=-100, max=100),
    _s("contrast", float, 1.0, "Default relative contrast, CNT.", "image", min=0, max=1000),
    _s("color_saturation", float, 1.0, "Default colour saturation of colour-mixed images.", "image", min=0, max=5),
    _s("gamma", float, 1.0, "Default display gamma of FITS images, GAM (rasters use 1): applied once, on top of the "
       "zscale cuts of the first view (2.2 brightens faint sky, as older viewers did).", "image", min=0.2, max=5),
    _s("quality", int, 90, "Default JPEG quality, QLT.", "image", min=1, max=100),
    _s("blank_color", str, "3a5a7a", "Colour of blank (NaN) pixels, rrggbb in hex (NAN per request): unlike any "
       "value the colormaps give, so that no data is not mistaken for low data.", "image"),
    _s("tile_size", int, 256, "Tile width and height in pixels.", "image", min=64, max=1024),
    # paths and limits
    _s("api_path", str, "/api", "Path of the IIP-style API.", "paths"),
    _s("data_dir", str, "", "Folder of the images the server may serve, or s3://bucket/prefix (the store's endpoint "
       "and credentials); FIF paths are relative to it.", "paths", short="-d"),
    _s("extra_dir", str, "", "Folder of extra files (catalogs, region files) offered to the client.", "paths"),
    _s("client_dir", str, "", "Folder of the web client (default: the one shipped with the package).", "paths"),
    _s("template_dir", str, "", "Folder of the HTML templates (default: the shipped ones).", "paths"),
    _s("doc_dir", str, "", "Folder of the built HTML manual (default: doc/_build/html when present).", "paths"),
    _s("doc_path", str, "/manual", "URL path of the manual.", "paths"),
    _s("max_region_tile_count", int, 1024, "Largest region snapshot, in tile planes read: tiles covered (at the level "
       "the binning reads) times the image's channels.", "paths", min=1, max=10**6),
    _s("max_request_bytes", int, 512 * 2**20, "Memory one request may use, in bytes, estimated before the work (413 "
       "beyond): the pixels a region reads, an image decoded whole to be built (PNG, JPEG, compressed TIFF, "
       ".fits.gz), the pyramid of an image.", "paths", min=2**20, max=2**40),
    _s("max_image_pixels", int, 2**31, "Largest image accepted, in pixels per channel.", "paths", min=1, max=2**40),
    _s("max_source_bytes", int, 16 * 2**30, "Largest image fetched from an s3:// data_dir to be built, in bytes (other "
       "formats than plain FITS: max_request_bytes too).", "paths", min=2**20, max=2**44),
    _s("max_profile_length", int, 100_000, "Longest line profile, in pixels along the line.", "paths",
       min=2, max=10**8),
    _s("max_query_length", int, 4096, "Longest accepted API query string, in bytes.", "paths", min=256, max=65536),
    _s("max_fits_header_bytes", int, 8 * 2**20, "Largest FITS header accepted, in bytes per HDU (2880 bytes hold "
       "36 cards); parsing costs astropy about a second and 15 MB of memory per MB.", "paths", min=2880, max=2**31),
    _s("max_request_header_bytes", int, 32768, "Largest total size of an HTTP request's headers, in bytes (431 "
       "beyond).", "paths", min=1024, max=2**24),
    _s("default_image", str, "", "Image the viewer shows when its URL names none (FIF path).", "paths"),
    _s("no_browser", bool, False, "Do not open a web browser (quick-look mode).", "paths"),
    # engine
    _s("thread_count", int, available_cpus(), "Threads used to build a pyramid (default: the CPUs the process may "
       "use, its cgroup's CPU quota included).", "engine", min=1, max=256),
    _s("max_concurrent_builds", int, 2, "Pyramid builds a worker runs at once; more wait, and past twice "
       "that the server answers 503.", "engine", min=1, max=64),
    # cache
    _s("cache_dir", str, platformdirs.user_cache_dir(APP_NAME), "Folder of the pyramid disk cache.", "cache"),
    _s("clear_cache", bool, False, "Empty the disk cache at start-up.", "cache"),
    _s("max_cache_image_count", int, 100, "Most images kept in the disk cache.", "cache", min=1, max=10**6),
    _s("max_cache_bytes", int, 0, "Most bytes in the disk cache; 0: half its filesystem's size.", "cache", min=0),
    _s("min_free_bytes", int, 256 * 2**20, "Bytes the disk cache keeps free on its filesystem, evicting images to "
       "keep them.", "cache", min=0, max=2**60),
    _s("max_cache_tile_count", int, 8192, "Most encoded tiles kept in each worker's memory cache.", "cache",
       min=0, max=10**8),
    _s("max_cache_tile_bytes", int, 256 * 2**20, "Most bytes of encoded tiles kept in each worker's memory cache.",
       "cache", min=0, max=2**40),
    _s("max_cache_tile_entry_bytes", int, 2**21, "Largest answer a worker's memory cache keeps.", "cache", min=0),
    _s("max_open_files", int, 64, "Most cached pyramids each worker keeps open.", "cache", min=1, max=10**5),
    # websocket
    _s("ws_heartbeat_interval", float, 20.0, "Seconds between two heartbeats on a websocket; keep it below the "
       "proxies' read timeouts (nginx: 60 s).", "websocket", min=0.1, max=3600),
    _s("ws_idle_timeout", float, 120.0, "Close a websocket whose client has sent nothing (not even a heartbeat "
       "answer) for this many seconds.", "websocket", min=1, max=86400),
    _s("ws_max_message_bytes", int, 4096, "Largest message a websocket client may send; larger closes its socket.",
       "websocket", min=64, max=2**20),
    _s("ws_max_subscriptions", int, 16, "Most images one websocket may watch.", "websocket", min=1, max=4096),
    _s("ws_max_messages_per_second", float, 20.0, "Messages per second a websocket client may send (bursts of "
       "twice that); a flood closes its socket.", "websocket", min=0.1, max=10**6),
    _s("ws_watch_interval", float, 1.0, "Seconds between two checks of a watched image file for a rewrite (live "
       "reload).", "websocket", min=0.05, max=3600),
    # access control (multi-user servers behind an authenticating proxy)
    _s("access_file", str, "", "File mapping users and groups to the data sub-folders they may read; empty: anyone "
       "reads everything. See the manual for its format.", "access"),
    _s("user_header", str, "X-Remote-User", "Request header in which the reverse proxy names the authenticated user.",
       "access"),
    _s("allowed_hosts", str, "", "Comma-separated host names (Host header) the server answers, '*' for any; empty: "
       "only loopback names (localhost, 127.0.0.1, ::1) when bound to a loopback address, any otherwise. Guards a "
       "quick look against DNS rebinding; behind a proxy on loopback, list the public name.", "access"),
    _s("trusted_proxies", str, "127.0.0.1, ::1", "Comma-separated addresses or networks (CIDR) of the reverse "
       "proxies whose X-Forwarded-For, X-Forwarded-Proto and user header are believed.", "access"),
    _s("proxy_secret_file", str, "", "File holding the secret the reverse proxy sends in X-Tileserver-Proxy-Secret; "
       "set, a request is believed about its user and client only when it carries it. Required with access_file.",
       "access"),
    # cluster mode (several nodes; empty: the embedded default, one machine)
    _s("store_url", str, "", "Object store of published pyramids, s3://bucket/prefix (endpoint and credentials the "
       "AWS way: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...); the disk cache becomes its read-through tier.", "cluster"),
    _s("dask_scheduler", str, "", "Dask distributed scheduler that builds pyramids into store_url, "
       "tcp://host:port; empty: each node builds itself.", "cluster"),
    _s("redis_url", str, "", "Redis shared by the nodes (build progress, node registry), redis://host:port/db.",
       "cluster"),
    _s("cluster_max_builds", int, 0, "With redis_url and no dask_scheduler: most pyramid builds running at once on "
       "all the nodes together (a semaphore in Redis); 0: no shared limit.", "cluster", min=0, max=10**4),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS))


def _default(name: str) -> Any:
    return SETTINGS_BY_NAME[name].default


@dataclass(frozen=True)
class Settings:
    """The checked settings of one server instance (immutable).

    Written out so type checkers see every field; the names, types and order follow SETTINGS, which alone holds
    the defaults and the help (tests/test_config.py checks that the two agree).
    """

    # server
    host: str = _default("host")
    port: int = _default("port")
    root_path: str = _default("root_path")
    access_log: bool = _default("access_log")
    log_level: str = _default("log_level")
    log_format: str = _default("log_format")
    reload: bool = _default("reload")
    workers: int = _default("workers")
    graceful_timeout: float = _default("graceful_timeout")
    max_requests: int = _default("max_requests")
    max_requests_jitter: int = _default("max_requests_jitter")
    cors_origins: str = _default("cors_origins")
    admin_pages: bool = _default("admin_pages")
    admin_allow: str = _default("admin_allow")
    # image
    brightness: float = _default("brightness")
    contrast: float = _default("contrast")
    color_saturation: float = _default("color_saturation")
    gamma: float = _default("gamma")
    quality: int = _default("quality")
    blank_color: str = _default("blank_color")
    tile_size: int = _default("tile_size")
    # paths
    api_path: str = _default("api_path")
    data_dir: str = _default("data_dir")
    extra_dir: str = _default("extra_dir")
    client_dir: str = _default("client_dir")
    template_dir: str = _default("template_dir")
    doc_dir: str = _default("doc_dir")
    doc_path: str = _default("doc_path")
    max_region_tile_count: int = _default("max_region_tile_count")
    max_request_bytes: int = _default("max_request_bytes")
    max_image_pixels: int = _default("max_image_pixels")
    max_source_bytes: int = _default("max_source_bytes")
    max_profile_length: int = _default("max_profile_length")
    max_query_length: int = _default("max_query_length")
    max_fits_header_bytes: int = _default("max_fits_header_bytes")
    max_request_header_bytes: int = _default("max_request_header_bytes")
    default_image: str = _default("default_image")
    no_browser: bool = _default("no_browser")
    # engine
    thread_count: int = _default("thread_count")
    max_concurrent_builds: int = _default("max_concurrent_builds")
    # cache
    cache_dir: str = _default("cache_dir")
    clear_cache: bool = _default("clear_cache")
    max_cache_image_count: int = _default("max_cache_image_count")
    max_cache_bytes: int = _default("max_cache_bytes")
    min_free_bytes: int = _default("min_free_bytes")
    max_cache_tile_count: int = _default("max_cache_tile_count")
    max_cache_tile_bytes: int = _default("max_cache_tile_bytes")
    max_cache_tile_entry_bytes: int = _default("max_cache_tile_entry_bytes")
    max_open_files: int = _default("max_open_files")
    # websocket
    ws_heartbeat_interval: float = _default("ws_heartbeat_interval")
    ws_idle_timeout: float = _default("ws_idle_timeout")
    ws_max_message_bytes: int = _default("ws_max_message_bytes")
    ws_max_subscriptions: int = _default("ws_max_subscriptions")
    ws_max_messages_per_second: float = _default("ws_max_messages_per_second")
    ws_watch_interval: float = _default("ws_watch_interval")
    # access
    access_file: str = _default("access_file")
    user_header: str = _default("user_header")
    allowed_hosts: str = _default("allowed_hosts")
    trusted_proxies: str = _default("trusted_proxies")
    proxy_secret_file: str = _default("proxy_secret_file")
    # cluster
    store_url: str = _default("store_url")
    dask_scheduler: str = _default("dask_scheduler")
    redis_url: str = _default("redis_url")
    cluster_max_builds: int = _default("cluster_max_builds")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(setting: Setting, raw: Any) -> Any:
    """Convert a raw value (text from a file, the environment or the CLI) and check its range."""
    value: Any
    if isinstance(raw, str) and setting.type is not str:
        text = raw.strip()
        if setting.type is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise SettingError(f"setting {setting.name}: {raw!r} is not a boolean (true/false)")
        try:
            value = setting.type(text)
        except ValueError:
            raise SettingError(f"setting {setting.name}: {raw!r} is not a valid {setting.type.__name__}") from None
    else:
        value = raw
    if setting.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, setting.type) or (setting.type is int and isinstance(value, bool)):
        raise SettingError(f"setting {setting.name}: {raw!r} is not a valid {setting.type.__name__}")
    if setting.type is float and value != value:
        raise SettingError(f"setting {setting.name}: {raw!r} is not a number")
    if isinstance(value, (int, float)) and not ((setting.min is None or value >= setting.min)
                                                and (setting.max is None or value <= setting.max)):
        raise SettingError(f"setting {setting.name}: {raw!r} is out of range ({_fmt(setting.min)} to "
                           f"{_fmt(setting.max)})")
    return value


def comma_list(text: str) -> list[str]:
    """The items of a comma-separated setting (cors_origins, admin_allow, trusted_proxies), blanks dropped."""
    return [item for item in (part.strip() for part in text.split(",")) if item]


def _fmt(x: float | None) -> str:
    return "-" if x is None else (str(int(x)) if float(x).is_integer() else str(x))


def read_config_file(path: Path) -> dict[str, str]:
    """Raw values from an INI file with one [section] per settings section."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as e:
        raise SettingError(f"config file {path}: cannot be read ({e.strerror})") from None
    except configparser.Error as e:
        raise SettingError(f"config file {path}: {str(e).splitlines()[0]}") from None
    values: dict[str, str] = {}
    for section in parser.sections():
        for key, raw in parser.items(section):
            if key not in SETTINGS_BY_NAME:
                raise SettingError(f"config file {path}: unknown setting {key!r} in [{section}]")
            values[key] = raw
    return values


def read_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {s.name: environ[s.env] for s in SETTINGS if s.env in environ}


def resolve(cli: Mapping[str, Any], environ: Mapping[str, str] | None = None,
            config_file: Path | None = None) -> Settings:
    """Merge the layers and check every value. `config_file` None means the default file, if it exists."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    path = config_file if config_file is not None else default_config_file()
    if config_file is not None or path.is_file():
        merged.update({k: parse_value(SETTINGS_BY_NAME[k], v) for k, v in read_config_file(path).items()})
    merged.update({k: parse_value(SETTINGS_BY_NAME[k], v) for k, v in read_environment(environ).items()})
    merged.update({k: parse_value(SETTINGS_BY_NAME[k], v) for k, v in cli.items() if v is not None})
    return check(Settings(**merged))


def _normalise_url_path(name: str, value: str, allow_empty: bool) -> str:
    if value in ("", "/") and allow_empty:
        return ""
    if not value.startswith("/") or any(c in value for c in "?#% \t"):
        raise SettingError(f"setting {name}: {value!r} must be a URL path starting with '/'")
    return value.rstrip("/")


def check(settings: Settings) -> Settings:
    """Checks that need the file system or several settings; returns the settings with paths made absolute."""
    changes: dict[str, Any] = {
        "root_path": _normalise_url_path("root_path", settings.root_path, allow_empty=True),
        "api_path": _normalise_url_path("api_path", settings.api_path, allow_empty=False),
        "doc_path": _normalise_url_path("doc_path", settings.doc_path, allow_empty=False),
    }
    for name in ("data_dir", "extra_dir", "client_dir", "template_dir", "doc_dir"):
        value = getattr(settings, name)
        if not value or name == "data_dir" and value.startswith("s3://"):
            continue
        path = Path(value).expanduser()
        if name != "doc_dir" and not path.is_dir():
            raise SettingError(f"setting {name}: {value!r} is not an existing directory")
        changes[name] = str(path.resolve())
    changes["cache_dir"] = str(_check_cache_dir(settings.cache_dir))
    from .errors import InvalidParameter
    from .iip import parse_colour

    try:
        parse_colour(settings.blank_color, "blank_color")
    except InvalidParameter as e:
        raise SettingError(f"setting blank_color: {e.message}") from None
    if settings.max_requests_jitter and not settings.max_requests:
        raise SettingError("setting max_requests_jitter: needs max_requests > 0")
    from . import access

    access.parse_networks(settings.trusted_proxies)
    access.parse_networks(settings.admin_allow, "admin_allow")
    if not settings.user_header.strip() or any(c in settings.user_header for c in " \t:"):
        raise SettingError(f"setting user_header: {settings.user_header!r} is not a header name")
    _check_cluster(settings)
    for name, allowed in (("log_level", ("debug", "info", "warning", "error")), ("log_format", ("text", "json"))):
        if getattr(settings, name) not in allowed:
            raise SettingError(f"setting {name}: {getattr(settings, name)!r} is not one of {', '.join(allowed)}")
    if settings.proxy_secret_file:
        changes["proxy_secret_file"] = str(Path(settings.proxy_secret_file).expanduser().resolve())
        access.read_secret(changes["proxy_secret_file"])
    if settings.access_file:
        changes["access_file"] = str(Path(settings.access_file).expanduser().resolve())
        # A broken access file stops the start, not some request. Read once: workers inherit the rules.
        access.rulebook(Path(changes["access_file"]))
        if not settings.proxy_secret_file:
            raise SettingError("setting access_file: needs proxy_secret_file, the secret the proxy sends, without "
                               "which any local process could name itself any user")
    return dataclasses.replace(settings, **changes)


def _check_cluster(settings: Settings) -> None:
    """Cluster settings are URLs of the usual forms; a Dask scheduler needs a store to publish into."""
    from urllib.parse import urlsplit

    checks = (("store_url", ("s3",)), ("redis_url", ("redis", "rediss", "unix")), ("dask_scheduler", ("tcp", "tls")),
              ("data_dir", ("s3",)))
    for name, schemes in checks:
        value = getattr(settings, name)
        if not value or name == "data_dir" and not value.startswith("s3:"):
            continue
        parts = urlsplit(value)
        well_formed = parts.scheme in schemes and (parts.netloc or parts.scheme == "unix")
        if not well_formed or any(c in value for c in " \t"):
            raise SettingError(f"setting {name}: {value!r} is not a {'/'.join(schemes)}:// URL")
    if settings.dask_scheduler and not settings.store_url:
        raise SettingError("setting dask_scheduler: needs store_url (the workers publish pyramids there)")


def _check_cache_dir(value: str) -> Path:
    path = Path(value).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise SettingError(f"setting cache_dir: {value!r} is not a writable directory ({e.strerror})") from None
    return path.resolve()


def to_config_text(settings: Settings, include: Callable[[Setting], bool] = lambda s: True) -> str:
    """The settings as an INI file, one commented line of help per setting."""
    lines: list[str] = []
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for s in SETTINGS:
            if s.section == section and include(s):
                value = getattr(settings, s.name)
                text = str(value).lower() if isinstance(value, bool) else str(value)
                lines.append(f"# {s.help}")
                lines.append(f"{s.name} = {text}")
        lines.append("")
    return "\n".join(lines)


def save_config(settings: Settings, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Per-run choices (which images, whether to wipe the cache) do not belong in a saved file.
    text = to_config_text(settings, include=lambda s: s.name not in ("clear_cache",))
    atomic.write(path, text)


def to_environ(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce these settings in a child process (gunicorn workers)."""
    return {
        s.env: (str(v).lower() if isinstance(v, bool) else str(v))
        for s in SETTINGS
        for v in [getattr(settings, s.name)]
    }
