"""Hand-written SQL for the hot paths (claim, start, complete, release).

Peewee builds SQL text anew for every query, which costs ~0.5 ms each; a runner round trip
makes dozens of queries, so the lifecycle's per-job statements are written out here. The SQL
is standard (no SQLite dialect); ``?`` placeholders are translated for drivers that differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from app.models.db import database


@lru_cache(maxsize=512)
def _translated(sql: str, param: str) -> str:
    return sql if param == "?" else sql.replace("?", param)


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    db = database.obj
    return db.execute_sql(_translated(sql, db.param), params).fetchall()


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    """Run a statement; return the number of rows it changed."""
    db = database.obj
    return db.execute_sql(_translated(sql, db.param), params).rowcount


def marks(count: int) -> str:
    """``?, ?, ?`` for an IN list of ``count`` values."""
    return ", ".join("?" * count) if count else "NULL"


def in_list(values: Iterable[Any]) -> tuple[str, list[Any]]:
    """The placeholders and parameters of an IN list."""
    values = list(values)
    return marks(len(values)), values
