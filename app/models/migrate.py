"""Schema versions: numbered migration scripts in ``migrations/``, applied in place at start-up.

A fresh database gets every migration; an older one gets only the ones it lacks; nothing is
ever dropped to "start over". A database that records migrations this version does not know
was written by a newer Torc, and opening it is refused rather than guessed at.
"""

from __future__ import annotations

import logging

import peewee
from playhouse.migrations import Runner

from app.models.db import MIGRATIONS_DIR

logger = logging.getLogger(__name__)

HISTORY_TABLE = "schema_migration"


class SchemaError(RuntimeError):
    """The database schema cannot be brought up to this version."""


def migration_runner(db: peewee.Database) -> Runner:
    return Runner(db, directory=str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)


def migrate(db: peewee.Database) -> list[str]:
    """Apply pending migrations; return their names."""
    runner = migration_runner(db)
    unknown = [m.name for m in runner.status() if m.path is None]
    if unknown:
        raise SchemaError(
            "database was written by a newer version of torc (unknown migrations: "
            + ", ".join(sorted(unknown))
            + "); upgrade torc-server"
        )
    applied = runner.up()
    for name in applied:
        logger.info("applied schema migration %s", name)
    return applied
