"""One log format for every process and library: tileserver's own messages, uvicorn's and gunicorn's, and the
access log (middleware/accesslog.py). Text lines or JSON lines (log_format), with one timestamp format, ISO 8601
with the zone; the level from log_level."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
LOGGERS = ("tileserver", "uvicorn", "uvicorn.error")  # gunicorn's own: GunicornLogs
ACCESS_FIELDS = ("client", "user", "method", "path", "status", "bytes", "duration_ms")


def timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{timestamp(record)} {record.levelname} [{record.process}] {record.name}: {record.getMessage()}"
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": timestamp(record), "level": record.levelname, "pid": record.process,
                                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: getattr(record, k) for k in ACCESS_FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def handler(log_format: str) -> logging.Handler:
    out = logging.StreamHandler(sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return out


# Loggers given our handler (not astropy's: it installs a logger class of its own when imported).
ROOTS = ("tileserver", "uvicorn", "py.warnings")


def configure(level: str, log_format: str) -> None:
    """Route every logger we, our servers and our libraries use through one handler, in this process."""
    logging.captureWarnings(True)  # Python warnings too, as log lines in the same format
    for name in (*LOGGERS, "tileserver.access", "py.warnings"):
        log = logging.getLogger(name)
        log.handlers = [handler(log_format)] if name in ROOTS else []
        log.setLevel(level.upper())
        log.propagate = name not in ROOTS
    logging.getLogger("uvicorn.error").addFilter(client_faults)


def client_faults(record: logging.LogRecord) -> bool:
    """uvicorn logs a websocket text frame that is not UTF-8 as an ERROR with a traceback, though it answers it as
    it should (close code 1007): anyone could fill the logs with tracebacks. One line at INFO instead, as the access
    log would show a 4xx: a client's fault is no error of the server."""
    if record.exc_info and isinstance(record.exc_info[1], UnicodeDecodeError) and "from client" in str(record.msg):
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)
    return True


class GunicornLogs(GunicornLogger):
    """gunicorn's logger with our format; its access log stays off (the app writes its own)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # run_gunicorn exported the checked settings before gunicorn started.
        json_lines = os.environ.get("TILESERVER_LOG_FORMAT", "text") == "json"
        for h in self.error_log.handlers:
            h.setFormatter(JsonFormatter() if json_lines else TextFormatter())
