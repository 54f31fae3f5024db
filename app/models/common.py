"""Small helpers shared by the model-layer modules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from app.errors import InvalidInput, not_found
from app.models.tables import BaseModel, Job, Workflow

T = TypeVar("T")

# Keep IN (...) lists well under SQLite's bound-parameter limit.
CHUNK_SIZE = 500


def chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def get_workflow(workflow_id: int) -> Workflow:
    workflow = Workflow.get_or_none(Workflow.id == workflow_id)
    if workflow is None:
        raise not_found("Workflow", workflow_id)
    return workflow


def run_state(workflow_id: int) -> tuple[int, bool]:
    """The workflow's current ``run_id`` and whether it is canceled (one cheap query)."""
    from app.models import sql

    rows = sql.fetch("SELECT run_id, is_canceled FROM workflow WHERE id = ?", [workflow_id])
    if not rows:
        raise not_found("Workflow", workflow_id)
    return rows[0][0], bool(rows[0][1])


def job_workflow_id(job_id: int) -> int:
    """The workflow a job belongs to (one cheap query; 404 when there is no such job)."""
    from app.models import sql

    rows = sql.fetch("SELECT workflow_id FROM job WHERE id = ?", [job_id])
    if not rows:
        raise not_found("Job", job_id)
    return rows[0][0]


def get_job(job_id: int) -> Job:
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise not_found("Job", job_id)
    return job


def require_same_workflow(
    model: type[BaseModel], ids: Iterable[int] | None, workflow_id: int, label: str
) -> list[int]:
    """Check that every ID names a row of ``model`` in ``workflow_id``; return them deduplicated.

    An ID that does not exist, or belongs to another workflow, is a 422 naming the IDs.
    """
    from app.models import sql

    unique_ids = list(dict.fromkeys(int(i) for i in ids or ()))
    if not unique_ids:
        return []
    found: set[int] = set()
    table = model._meta.table_name
    for part in chunks(unique_ids):
        rows = sql.fetch(
            f"SELECT id FROM {table} WHERE workflow_id = ? AND id IN ({sql.marks(len(part))})",
            [workflow_id, *part],
        )
        found.update(row[0] for row in rows)
    missing = [i for i in unique_ids if i not in found]
    if missing:
        raise InvalidInput(
            f"{label} {', '.join(map(str, missing))} not found in workflow {workflow_id}",
            details={"field": label, "ids": missing},
        )
    return unique_ids
