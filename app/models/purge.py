"""Deleting a workflow without holding the database: hide it at once, remove its rows in chunks.

One ``DELETE`` cascading through a workflow of a million jobs ran for minutes in a single
transaction, and every other write of every user waited for it. Here the delete is two steps:

1. one short transaction removes the workflow row (so every request about it answers "not
   found" from then on), its compute nodes (the orphan check reads those across workflows)
   and records the workflow in ``workflow_purge``;
2. a background task (``app.tasks.checks.purge_deleted_workflows``, every second) removes
   its remaining rows table by table in chunks of about 50 ms each, every chunk its own
   transaction, so other requests get the database between chunks; after a restart it
   finishes what a crash interrupted.

Both steps run with foreign keys switched off: the rows removed belong to a workflow that no
longer exists, so there is nothing to check, and SQLite would otherwise probe every child
table for every deleted job. IDs are never reused (AUTOINCREMENT), so no new workflow can
meet a leftover row, and a leftover row asked for by its own ID is "not found"
(``records.get_row`` requires its workflow to exist).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from app.models import sql
from app.models.common import get_workflow
from app.models.db import unchecked_write_transaction, write_transaction
from app.models.records import get_row
from app.models.tables import (
    ALL_MODELS,
    BaseModel,
    ComputeNode,
    Job,
    ScheduledComputeNode,
    Workflow,
)

logger = logging.getLogger(__name__)

TARGET_CHUNK_SECONDS = 0.05
MIN_CHUNK, MAX_CHUNK = 200, 100_000

# Read across workflows by the background checks, so removed with the workflow row.
_AT_ONCE = (ComputeNode, ScheduledComputeNode)
# Action-job links have no workflow_id: they are found through the workflow's actions and
# must go before them.
_ACTION_JOBS = (
    "DELETE FROM workflow_action_job WHERE rowid IN (SELECT link.rowid"
    " FROM workflow_action_job link JOIN workflow_action action ON action.id = link.action_id"
    " WHERE action.workflow_id = ? LIMIT ?)"
)


def _chunk_statement(table: str) -> str:
    return (
        f'DELETE FROM "{table}" WHERE rowid IN '
        f'(SELECT rowid FROM "{table}" WHERE workflow_id = ? LIMIT ?)'
    )


def _purge_statements() -> list[str]:
    """Jobs first (the completion check looks for blocked jobs across workflows), then the
    action links, then every other table that has a workflow_id."""
    owned = [
        model._meta.table_name
        for model in ALL_MODELS
        if "workflow_id" in model._meta.fields and model not in (Workflow, Job, *_AT_ONCE)
    ]
    return [_chunk_statement(Job._meta.table_name), _ACTION_JOBS, *map(_chunk_statement, owned)]


class _ChunkSizes:
    """Rows per chunk for each statement, steered so a chunk takes about
    ``TARGET_CHUNK_SECONDS`` (a row of one table can cost ten times one of another)."""

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}

    def get(self, statement: str) -> int:
        return self._rows.get(statement, 2_000)

    def adjust(self, statement: str, rows: int, seconds: float) -> None:
        # Proportional, but at most doubling or quartering per step.
        factor = min(2.0, max(0.25, TARGET_CHUNK_SECONDS / max(seconds, 1e-4)))
        self._rows[statement] = int(min(MAX_CHUNK, max(MIN_CHUNK, rows * factor)))


_chunks = _ChunkSizes()


def delete_workflow(workflow_id: int) -> dict[str, Any]:
    """Delete a workflow: gone at once for every request; ``purge`` removes its rows.

    Returns the workflow as it was.
    """
    with unchecked_write_transaction():
        row = get_row(Workflow, workflow_id, "Workflow")
        sql.execute("DELETE FROM workflow WHERE id = ?", [workflow_id])
        for model in _AT_ONCE:
            sql.execute(
                f'DELETE FROM "{model._meta.table_name}" WHERE workflow_id = ?', [workflow_id]
            )
        sql.execute(
            "INSERT INTO workflow_purge (workflow_id, deleted_at) VALUES (?, ?)",
            [workflow_id, time.time()],
        )
    return row


def purging() -> set[int]:
    """Workflows deleted whose rows are still being removed."""
    return {row[0] for row in sql.fetch("SELECT workflow_id FROM workflow_purge")}


def purge(budget_seconds: float) -> int:
    """Remove rows of deleted workflows for about ``budget_seconds``; return rows removed."""
    deadline = time.monotonic() + budget_seconds
    removed = 0
    for workflow_id in sorted(purging()):
        started = time.monotonic()
        for statement in _purge_statements():
            while True:
                if time.monotonic() >= deadline:
                    return removed
                count, limit = _purge_chunk(statement, workflow_id)
                removed += count
                if count < limit:
                    break
        with write_transaction():
            sql.execute("DELETE FROM workflow_purge WHERE workflow_id = ?", [workflow_id])
        logger.info(
            "removed the rows of deleted workflow %d (last pass %.1f s)",
            workflow_id,
            time.monotonic() - started,
        )
    return removed


def _purge_chunk(statement: str, workflow_id: int) -> tuple[int, int]:
    """Remove up to one chunk of rows; return how many went and the chunk size asked for."""
    limit = _chunks.get(statement)
    started = time.monotonic()
    with unchecked_write_transaction():
        count = sql.execute(statement, [workflow_id, limit])
    if count == limit:  # a partial chunk says nothing about the rate
        _chunks.adjust(statement, limit, time.monotonic() - started)
    return count, limit


def delete_owned_rows(model: type[BaseModel], workflow_id: int) -> int:
    """Delete every ``model`` row of an existing workflow, in chunks of about 50 ms each
    (foreign keys on: deleting jobs takes their links and results with them), so deleting
    a million jobs does not hold the database. Returns how many went."""
    statement = _chunk_statement(model._meta.table_name)
    removed = 0
    while True:
        limit = _chunks.get(statement)
        started = time.monotonic()
        with write_transaction():
            get_workflow(workflow_id)
            count = sql.execute(statement, [workflow_id, limit])
        removed += count
        if count < limit:
            return removed
        _chunks.adjust(statement, limit, time.monotonic() - started)
