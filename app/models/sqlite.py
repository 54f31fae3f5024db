"""SQLite-only details: pragmas, ``BEGIN IMMEDIATE`` and the in-process write lock.

Durability choice: WAL journal with ``synchronous=NORMAL``. A crash of the server process
(including ``kill -9``) loses no committed transaction; a power loss or kernel crash can lose
the last transactions committed since the previous WAL sync, but never corrupts the file.
Set ``TORC_SQLITE_SYNCHRONOUS=FULL`` to make every commit survive power loss as well, at the
cost of one fsync per write transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import peewee

BUSY_TIMEOUT_MS = 60_000


SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


def synchronous_level() -> str:
    """``TORC_SQLITE_SYNCHRONOUS`` checked: SQLite silently ignores a value it does not know,
    which would leave a user believing they had asked for FULL."""
    level = os.environ.get("TORC_SQLITE_SYNCHRONOUS", "NORMAL").strip().upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise ValueError(
            f"TORC_SQLITE_SYNCHRONOUS={level!r}: expected one of {', '.join(SYNCHRONOUS_LEVELS)}"
        )
    return level


def sqlite_pragmas() -> dict[str, object]:
    return {
        "journal_mode": "wal",
        "synchronous": synchronous_level(),
        "foreign_keys": 1,
        "busy_timeout": BUSY_TIMEOUT_MS,
        "cache_size": -64_000,
        "temp_store": "memory",
    }


@contextlib.contextmanager
def _original_error() -> Iterator[None]:
    """Re-raise the error SQLite rolled back for, not the failed rollback that follows it.

    On some errors (a full disk, an I/O error) SQLite ends the transaction itself; the
    rollback Peewee then sends fails with "cannot rollback - no transaction is active", and
    that would hide the cause ("database or disk is full") from the client and the log.
    """
    try:
        yield
    except (peewee.OperationalError, sqlite3.OperationalError) as exc:
        cause: BaseException | None = exc
        # Peewee re-raises the driver's error as its own: walk back past both.
        while cause is not None and "no transaction is active" in str(cause):
            cause = cause.__context__
        if cause is not None and cause is not exc:
            raise cause from None
        raise


@contextlib.contextmanager
def schema_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<database>.lock`` while the schema is created or migrated.

    SQLite's own locking is not enough here: switching a new file to WAL and creating its
    tables are several steps, and a second process in between fails with "database is
    locked" or a duplicate migration. An in-memory database needs no lock.
    """
    if path == ":memory:" or os.name != "posix":
        yield
        return
    import fcntl

    lock_path = Path(path).with_name(Path(path).name + ".lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SqliteBackend:
    """One SQLite file shared by every request thread and the Huey workers of this process.

    SQLite allows one writer at a time. Letting threads race for the file lock makes them
    sleep in SQLite's busy handler; a process-wide lock queues them instead, so a write waits
    only as long as the write in front of it. Other processes still meet the busy timeout.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = peewee.SqliteDatabase(
            path,
            pragmas=sqlite_pragmas(),
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
        self._write_lock = threading.RLock()

    def synchronous(self) -> str:
        """The durability level in force (read back from SQLite, not from the setting)."""
        (code,) = self.db.execute_sql("PRAGMA synchronous").fetchone()
        return SYNCHRONOUS_LEVELS[code]

    def highest_id(self, table: str, key: str) -> int:
        """The highest ID ``table`` ever gave out: AUTOINCREMENT's counter in sqlite_sequence
        (which inserts with explicit IDs advance too), or the highest present."""
        (highest,) = self.db.execute_sql(
            f'SELECT MAX(COALESCE((SELECT MAX("{key}") FROM "{table}"), 0),'
            " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))",
            [table],
        ).fetchone()
        return int(highest)

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[None]:
        with self._write_lock:
            if self.db.in_transaction():
                # A nested call joins the open transaction. An error raised inside aborts the
                # whole unit of work, so a savepoint (two statements and a uuid per call; a
                # runner round trip nests about ten) would serve only a caller that caught
                # the error and went on, and none does.
                yield
            else:
                with _original_error():
                    with self.db.atomic("IMMEDIATE"):
                        yield

    @contextlib.contextmanager
    def unchecked_write_transaction(self) -> Iterator[None]:
        """A write transaction in which foreign keys are neither checked nor cascaded.

        For removing rows whose owner is already gone, table by table, without SQLite
        probing every child table for each deleted row. The switch is per connection and
        only possible outside a transaction; it is switched back on before the lock is freed.
        """
        with self._write_lock:
            if self.db.in_transaction():
                raise RuntimeError("foreign keys cannot be switched off inside a transaction")
            self.db.execute_sql("PRAGMA foreign_keys = OFF")
            try:
                with _original_error(), self.db.atomic("IMMEDIATE"):
                    yield
            finally:
                self.db.execute_sql("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()
