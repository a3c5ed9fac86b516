"""Running the app: plain uvicorn for one worker, gunicorn with uvicorn workers for more.

Under gunicorn, the master only supervises: a worker that dies (even by kill -9) is replaced, SIGTERM lets each
worker finish its requests within graceful_timeout, and max_requests (+ jitter) recycles workers against slow leaks.
Workers share nothing but the disk cache, whose locks the kernel releases when a process dies.

SIGHUP (systemctl reload) re-reads the access rules in the process that holds them, and under gunicorn replaces the
workers: new ones take new connections from the same listening socket while the old ones finish theirs, so nothing
is dropped. A bad access file is logged and the last good rules kept (access.RuleBook).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

from .. import access, config
from . import logs

KEEPALIVE = 5  # seconds an idle HTTP connection is kept: a viewer asks for tiles in bursts


# Seconds a stopping worker keeps the connections it has just accepted open for their first request. asyncio
# accepts several pending connections at once; uvicorn's shutdown would close those that have not sent their
# request yet, and their clients would get a reset during every reload.
ACCEPT_GRACE = 0.5


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but a stop serves the requests already on their way on accepted connections."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # accept nothing more: the other workers take the new connections
        await asyncio.sleep(ACCEPT_GRACE)
        await super().shutdown(sockets)


class Worker(UvicornWorker):
    """The maintained uvicorn worker, configured as run_uvicorn configures uvicorn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Forked from the master after run_gunicorn exported the settings, so the environment has them.
        root_path = os.environ.get(config.SETTINGS_BY_NAME["root_path"].env, "")
        max_message = int(os.environ.get(config.SETTINGS_BY_NAME["ws_max_message_bytes"].env, "4096"))
        self.CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "server_header": False, "root_path": root_path,
                              "ws_max_size": ws_max_size(max_message),
                              "proxy_headers": False}  # applied by the app (web/middleware/proxy.py)
        super().__init__(*args, **kwargs)

    async def _serve(self) -> None:
        # UvicornWorker._serve, with the draining server.
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


def ws_max_size(max_message_bytes: int) -> int:
    """The frame size uvicorn reads at most: a little over our own message limit, so that an oversize message
    is refused by ws.py with a clear close code, and a huge one is never buffered whole."""
    return max_message_bytes + 1024


def configure_logging(settings: config.Settings | None = None) -> None:
    """Our format and level for every logger of this process (gunicorn workers read them from the environment)."""
    level = settings.log_level if settings else os.environ.get("TILESERVER_LOG_LEVEL", "info")
    log_format = settings.log_format if settings else os.environ.get("TILESERVER_LOG_FORMAT", "text")
    logs.configure(level, log_format)


def prepare_cache(settings: config.Settings) -> None:
    """Start-up housekeeping of the disk cache: temporary folders left by builders that died, stale entries (logged),
    and entries beyond bounds that may have been lowered since the last run."""
    from ..store import space
    from ..store.diskcache import PRIVATE_UMASK, for_settings, make_private

    # Everything the server writes is its cache, private to its user: for this process and the workers it forks.
    os.umask(PRIVATE_UMASK)
    changed = make_private(Path(settings.cache_dir))
    if changed:
        logging.getLogger("tileserver").warning("cache %s: made %d folders and files private to the server's user "
                                                "(0700, 0600)", settings.cache_dir, changed)
    cache = for_settings(settings)
    log = logging.getLogger("tileserver.cache")
    stale = cache.stale()
    if stale:
        log.warning("cache %s: %d stale entr%s of %s (another cache format, or an unreadable manifest): evicted first "
                    "when room is needed; `tileserver cache clear` removes them", settings.cache_dir, len(stale),
                    "y" if len(stale) == 1 else "ies", space.size(sum(s.nbytes for s in stale)))
    cache.clean_tmp()
    cache.evict()
    room = space.usage(cache.root)
    log.info("cache %s: at most %d images and %s%s, keeping %s free on its filesystem (%s free of %s)",
             settings.cache_dir, cache.max_images, space.size(cache.max_bytes),
             "" if settings.max_cache_bytes else " (half the filesystem)", space.size(cache.min_free),
             space.size(room.free), space.size(room.total))


def run_uvicorn(settings: config.Settings) -> int:
    import uvicorn

    from .app import create_app

    configure_logging(settings)
    prepare_cache(settings)
    # uvicorn stops on SIGINT and SIGTERM only; SIGHUP would kill it by default. Re-read the rules instead (the
    # handler runs between two bytecodes of the main thread: it only swaps a reference).
    signal.signal(signal.SIGHUP, lambda signum, frame: access.reload_all())
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        root_path=settings.root_path,
        access_log=False,  # the app's own (middleware/accesslog.py): the path as asked, the user, the duration
        log_config=None,  # configure_logging did it
        timeout_graceful_shutdown=math.ceil(settings.graceful_timeout),
        timeout_keep_alive=KEEPALIVE,
        proxy_headers=False,  # X-Forwarded-* are applied by the app, which must see the proxy's own address
        server_header=False,
        ws_max_size=ws_max_size(settings.ws_max_message_bytes),
    )
    return 0


def gunicorn_options(settings: config.Settings) -> dict[str, Any]:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return {
        "bind": f"{host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": "tileserver.web.server.Worker",
        "graceful_timeout": math.ceil(settings.graceful_timeout),  # gunicorn wants whole seconds
        # A worker whose event loop stops answering the master's heartbeat this long is killed and replaced.
        # Builds and large regions run in threads, so only a hung worker gets there.
        "timeout": 120,
        "keepalive": KEEPALIVE,
        "max_requests": settings.max_requests,
        "max_requests_jitter": settings.max_requests_jitter,
        "accesslog": None,  # the app's own (middleware/accesslog.py)
        "errorlog": "-",
        "loglevel": settings.log_level,
        "logger_class": "tileserver.web.logs.GunicornLogs",
        "proc_name": "tileserver",
        "raw_env": [f"{k}={v}" for k, v in config.to_environ(settings).items()],
        # In the master, before it forks the new workers, which inherit the rules it holds.
        "on_reload": _reload_rules,
    }


def _reload_rules(arbiter: Any) -> None:
    access.reload_all()


def run_gunicorn(settings: config.Settings) -> int:
    from gunicorn.app.base import BaseApplication

    # Workers rebuild the same checked settings from the environment (see app.app_from_environment).
    os.environ.update(config.to_environ(settings))
    configure_logging(settings)  # the master logs too: reloads, their errors
    prepare_cache(settings)
    options = gunicorn_options(settings)
    if sys.argv and Path(sys.argv[0]).name == "__main__.py":
        # Started as `python -m tileserver`: an upgrade (USR2) re-executes the master as `python -m tileserver ...`
        # (gunicorn runs sys.executable with sys.argv, and the package's __main__.py cannot run as a script).
        sys.argv[:1] = ["-m", "tileserver"]

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from .app import app_from_environment

            configure_logging()
            return app_from_environment()

    Application().run()
    return 0
