"""Logging set-up for the entry points (library modules only ever call getLogger)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}
CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROTATE_BYTES = 10 * 1024 * 1024
ROTATE_KEEP = 5


def parse_level(text: str | None) -> int:
    """A level name; ``RUST_LOG``-style ``target=level`` lists use their first bare level."""
    for part in (text or "info").split(","):
        name = part.split("=")[-1].strip().lower()
        if name in LEVELS:
            return LEVELS[name]
    return logging.INFO


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "target": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(
    level: str | None,
    log_dir: str | None = None,
    json_logs: bool = False,
    file_name: str = "torc-server.log",
    console: bool = True,
    max_bytes: int = ROTATE_BYTES,
    backups: int = ROTATE_KEEP,
) -> None:
    """Console logging, plus a rotating file (10 MiB x 5 by default) when ``log_dir`` is
    given: ``torc-server.log`` moves to ``.1``, ``.1`` to ``.2`` … and the oldest is deleted."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(parse_level(level))
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        root.addHandler(stream)
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        from logging.handlers import RotatingFileHandler  # only the server writes a log file

        rotating = RotatingFileHandler(
            Path(log_dir) / file_name, maxBytes=max_bytes, backupCount=backups
        )
        rotating.setFormatter(JsonFormatter() if json_logs else logging.Formatter(CONSOLE_FORMAT))
        root.addHandler(rotating)
    # Per-request waitress queue warnings and Huey's per-task lines are noise at info level.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("huey").setLevel(max(root.level, logging.WARNING))
