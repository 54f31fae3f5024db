"""Background work on Huey: one SqliteHuey instance, in its own file beside the database.

Importing this package registers every task but opens no file: until ``configure()`` names
the instance's file (the server does, before its consumer starts), the queue lives in
memory. Tests may instead set ``huey.immediate = True``.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from huey import SqliteHuey
from huey.storage import MemoryStorage


class TorcHuey(SqliteHuey):
    """A SqliteHuey whose file is opened only once ``configure()`` has named it.

    SqliteHuey opens its storage in its constructor, i.e. at import; with a default file name
    that would leave a stray ``torc_huey.db`` in whatever directory imported the server code.
    """

    def get_storage(self, **kwargs):
        if not kwargs.get("filename"):
            return MemoryStorage(self.name)
        return super().get_storage(**kwargs)


huey = TorcHuey("torc", results=False, utc=True)


class Every:
    """A periodic-task schedule of N seconds (Huey's crontab only has minutes)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next = 0.0

    def __call__(self, _now: datetime) -> bool:
        current = time.monotonic()
        if current >= self._next:
            self._next = current + self.seconds
            return True
        return False


COMPLETION_CHECK = Every(30.0)
ORPHAN_CHECK = Every(30.0)
# Rows of deleted workflows are removed in the background, a few seconds at a time.
PURGE = Every(1.0)
PURGE_BUDGET_SECONDS = 5.0


class TaskSettings:
    """Values the server sets at start-up for the tasks to read."""

    heartbeat_timeout_seconds: float = 120.0
    # When this server process started serving: a runner's silence counts from here at the
    # earliest, so an outage of the server is never taken for the death of its runners.
    started_at: float = time.time()


settings = TaskSettings()


def huey_path_for(database: str) -> Path | None:
    """``/data/torc.db`` (or ``sqlite:////data/torc.db``) -> ``/data/torc_huey.db``.

    None for an in-memory database: its queue stays in memory too.
    """
    from app.models.db import sqlite_path_from_url

    path = Path(sqlite_path_from_url(database) or "torc.db")
    if str(path) == ":memory:":
        return None
    return path.with_name(f"{path.stem}_huey.db")


def configure(filename: str | Path | None) -> None:
    """Open the queue's file (None: keep it in memory)."""
    huey.storage_kwargs["filename"] = str(filename) if filename else None
    huey.storage = huey.create_storage()


from app.tasks import checks  # noqa: E402,F401  (registers the tasks)
