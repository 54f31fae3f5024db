"""Results: one row per finished attempt, and the latest per job (``workflow_result``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.models import sql
from app.models.common import chunks
from app.models.db import bulk_insert, next_ids
from app.models.tables import Job, Result, WorkflowResult
from app.shared.status import COMPLETE, JobStatus, codes

RESULT_FIELDS = (
    "compute_node_id",
    "return_code",
    "exec_time_minutes",
    "completion_time",
    "peak_memory_bytes",
    "avg_memory_bytes",
    "peak_cpu_percent",
    "avg_cpu_percent",
)
RESULT_COLUMNS = ["id", "job_id", "workflow_id", "run_id", "status", "attempt_id", *RESULT_FIELDS]


@dataclass(frozen=True)
class Attempt:
    """One finished attempt to store: its job, status, attempt number and result fields."""

    job_id: int
    status: JobStatus
    attempt_id: int
    result: dict[str, Any]


def store_results(workflow_id: int, run_id: int, attempts: list[Attempt]) -> None:
    """Insert the results, and make each the job's latest (workflow_result)."""
    ids = list(next_ids(Result, len(attempts)))
    rows = [
        (
            result_id,
            attempt.job_id,
            workflow_id,
            run_id,
            int(attempt.status),
            attempt.attempt_id,
            *(attempt.result.get(key) for key in RESULT_FIELDS),
        )
        for result_id, attempt in zip(ids, attempts, strict=True)
    ]
    bulk_insert(Result, RESULT_COLUMNS, rows)
    job_ids = [attempt.job_id for attempt in attempts]
    for part in chunks(job_ids):
        sql.execute(f"DELETE FROM workflow_result WHERE job_id IN ({sql.marks(len(part))})", part)
    bulk_insert(
        WorkflowResult,
        ["workflow_id", "job_id", "result_id"],
        [(workflow_id, job_id, result_id) for job_id, result_id in zip(job_ids, ids, strict=True)],
    )


def drop_results_of_unfinished_jobs(workflow_id: int) -> None:
    """A job that will run again has no latest result until it does."""
    unfinished = Job.select(Job.id).where(
        Job.workflow_id == workflow_id, Job.status.not_in(codes(COMPLETE))
    )
    WorkflowResult.delete().where(
        WorkflowResult.workflow_id == workflow_id, WorkflowResult.job_id.in_(unfinished)
    ).execute()


def latest_result_of_run(job_id: int, run_id: int) -> Result | None:
    """The job's last result in ``run_id`` (what a manual move to a done status needs)."""
    return (
        Result.select()
        .where(Result.job_id == job_id, Result.run_id == run_id)
        .order_by(Result.id.desc())
        .first()
    )
