"""The one database handle, and how to open it.

Everything here is backend-neutral: models bind to ``database`` (a proxy), and callers wrap
writes in ``write_transaction()``. Backend specifics (SQLite pragmas, ``BEGIN IMMEDIATE``, the
in-process write lock) live in ``app.models.sqlite``; a PostgreSQL backend slots in beside it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import peewee

logger = logging.getLogger(__name__)

database = peewee.DatabaseProxy()

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class Backend(Protocol):
    db: peewee.Database

    def write_transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def unchecked_write_transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def highest_id(self, table: str, key: str) -> int: ...

    def synchronous(self) -> str: ...

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
    from app.models.migrate import migrate
    from app.models.sqlite import SqliteBackend, schema_lock

    close_database()
    # Several servers may open one database at the same moment (two `torc run` in one
    # directory start one each): the first to take the lock creates and migrates the file,
    # the others then find nothing left to do.
    with schema_lock(path):
        _backend = SqliteBackend(path)
        database.initialize(_backend.db)
        migrate(_backend.db)
    return _backend.db


def database_synchronous() -> str:
    """The open database's durability level, as SQLite reports it (e.g. ``NORMAL``)."""
    if _backend is None:
        raise RuntimeError("no database is open")
    return _backend.synchronous()


def close_database() -> None:
    global _backend
    if _backend is not None:
        _backend.close()
        _backend = None


def bulk_insert(model: type[peewee.Model], columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert many rows with one prepared statement (``executemany``).

    Peewee builds SQL text per row batch, which costs seconds at 100,000 rows; the driver's
    executemany reuses one statement. ``rows`` may be a generator, so a million rows never
    exist at once. Call inside ``write_transaction()``.
    """
    if isinstance(rows, list | tuple) and not rows:
        return
    db = database.obj
    placeholders = ", ".join([db.param] * len(columns))
    quoted = ", ".join(_quoted(db, column) for column in columns)
    table = _quoted(db, model._meta.table_name)
    db.cursor().executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", rows)


def bulk_update(model: type[peewee.Model], column: str, pairs: list[tuple[Any, int]]) -> None:
    """Set ``column`` to a different value per row: ``pairs`` are (value, primary key)."""
    if not pairs:
        return
    db = database.obj
    table = _quoted(db, model._meta.table_name)
    key = _quoted(db, model._meta.primary_key.column_name)
    sql = f"UPDATE {table} SET {_quoted(db, column)} = {db.param} WHERE {key} = {db.param}"
    db.cursor().executemany(sql, pairs)


def _quoted(db: peewee.Database, name: str) -> str:
    return name.join(db.quote)


def next_ids(model: type[peewee.Model], count: int) -> range:
    """IDs for ``count`` new rows, assigned up front so related rows can be built in bulk.

    Past every ID ever handed out, not only the highest that still exists (IDs are never
    reused). Safe because writers hold the write transaction; the rows must be inserted in it.
    """
    if _backend is None:
        raise RuntimeError("database is not open")
    highest = _backend.highest_id(model._meta.table_name, model._meta.primary_key.column_name)
    return range(highest + 1, highest + 1 + count)


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """Run the block as one short write transaction; nested calls join the outer one."""
    if _backend is None:
        raise RuntimeError("database is not open")
    with _backend.write_transaction():
        yield


@contextlib.contextmanager
def unchecked_write_transaction() -> Iterator[None]:
    """A write transaction without foreign-key checks or cascades (see the backend's)."""
    if _backend is None:
        raise RuntimeError("database is not open")
    with _backend.unchecked_write_transaction():
        yield
