"""Running the app: plain uvicorn for one worker, gunicorn with uvicorn workers for more."""

from __future__ import annotations

import os
from typing import Any

from . import config


def run_uvicorn(settings: config.Settings) -> int:
    import uvicorn

    from .app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        root_path=settings.root_path,
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        proxy_headers=True,
        server_header=False,
    )
    return 0


def run_gunicorn(settings: config.Settings) -> int:
    from gunicorn.app.base import BaseApplication

    # Workers rebuild the same checked settings from the environment (see app.app_from_environment).
    os.environ.update(config.to_environ(settings))
    options = {
        "bind": f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": "uvicorn_worker.UvicornWorker",
        "graceful_timeout": settings.graceful_timeout,
        "timeout": 120,
        "max_requests": settings.max_requests,
        "max_requests_jitter": settings.max_requests_jitter,
        "accesslog": "-" if settings.access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "tileserver",
        "raw_env": [f"{k}={v}" for k, v in config.to_environ(settings).items()],
    }

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from .app import app_from_environment

            return app_from_environment()

    Application().run()
    return 0
