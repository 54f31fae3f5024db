"""The one database handle, and how to open it.

Everything here is backend-neutral: models bind to ``database`` (a proxy), and callers wrap
writes in ``write_transaction()``. Backend specifics (SQLite pragmas, ``BEGIN IMMEDIATE``, the
in-process write lock) live in ``app.models.sqlite``; a PostgreSQL backend slots in beside it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import peewee

logger = logging.getLogger(__name__)

database = peewee.DatabaseProxy()

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class Backend(Protocol):
    db: peewee.Database

    def write_transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def close(self) -> None: ...


_backend: Backend | None = None


def sqlite_path_from_url(url: str) -> str | None:
    """Return the file path of a SQLite URL or plain path, or None for other schemes."""
    for prefix in ("sqlite:///", "sqlite://", "sqlite:"):
        if url.startswith(prefix):
            return url[len(prefix) :] or ":memory:"
    if "://" in url:
        return None
    return url


def open_database(url: str) -> peewee.Database:
    """Open (creating if needed) the database at ``url`` and bring its schema up to date."""
    global _backend
    path = sqlite_path_from_url(url)
    if path is None:
        raise ValueError(f"unsupported database URL {url!r}: only SQLite paths are supported")
    from app.models.sqlite import SqliteBackend

    close_database()
    _backend = SqliteBackend(path)
    database.initialize(_backend.db)
    from app.models.migrate import migrate

    migrate(_backend.db)
    return _backend.db


def close_database() -> None:
    global _backend
    if _backend is not None:
        _backend.close()
        _backend = None


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """Run the block as one short write transaction; nested calls join the outer one."""
    if _backend is None:
        raise RuntimeError("database is not open")
    with _backend.write_transaction():
        yield
