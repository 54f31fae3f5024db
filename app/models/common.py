"""Small helpers shared by the model-layer modules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from app.errors import InvalidInput, not_found
from app.models.tables import Job, Workflow

T = TypeVar("T")

# Keep IN (...) lists well under SQLite's bound-parameter limit.
CHUNK_SIZE = 500


def chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def utc_now_text() -> str:
    """UTC time as upstream writes it: ``2025-01-31T12:00:00.123Z``."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def get_workflow(workflow_id: int) -> Workflow:
    workflow = Workflow.get_or_none(Workflow.id == workflow_id)
    if workflow is None:
        raise not_found("Workflow", workflow_id)
    return workflow


def get_job(job_id: int) -> Job:
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise not_found("Job", job_id)
    return job


def require_same_workflow(
    model: type, ids: Iterable[int] | None, workflow_id: int, label: str
) -> list[int]:
    """Check that every ID names a row of ``model`` in ``workflow_id``; return them deduplicated.

    An ID that does not exist, or belongs to another workflow, is a 422 naming the IDs.
    """
    unique_ids = list(dict.fromkeys(int(i) for i in ids or ()))
    if not unique_ids:
        return []
    found: set[int] = set()
    for part in chunks(unique_ids):
        query = model.select(model.id).where(model.id.in_(part), model.workflow_id == workflow_id)
        found.update(row.id for row in query)
    missing = [i for i in unique_ids if i not in found]
    if missing:
        raise InvalidInput(
            f"{label} {', '.join(map(str, missing))} not found in workflow {workflow_id}",
            details={"field": label, "ids": missing},
        )
    return unique_ids
