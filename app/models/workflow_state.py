"""Reads of a workflow's run state: is it done, complete, uninitialized; what the periodic
sweep should look at. No writes: status changes live in ``lifecycle``."""

from __future__ import annotations

from app.errors import not_found
from app.models import actions, sql
from app.models.common import get_workflow
from app.models.tables import Job
from app.shared.status import DONE_FOR_WORKFLOW, JobStatus

NOT_DONE_CODES = sorted(int(s) for s in JobStatus if s not in DONE_FOR_WORKFLOW)


def workflow_is_done(workflow_id: int) -> bool:
    """True when no job is outside the done statuses (a workflow with no jobs is done)."""
    rows = sql.fetch(
        f"SELECT 1 FROM job WHERE workflow_id = ? AND status IN ({sql.marks(len(NOT_DONE_CODES))})"
        " LIMIT 1",
        [workflow_id, *NOT_DONE_CODES],
    )
    return not rows


def is_complete(workflow_id: int) -> dict[str, bool]:
    rows = sql.fetch(
        "SELECT is_canceled, has_detected_need_to_run_completion_script FROM workflow WHERE id = ?",
        [workflow_id],
    )
    if not rows:
        raise not_found("Workflow", workflow_id)
    canceled, needs_script = (bool(value) for value in rows[0])
    return {
        "is_canceled": canceled,
        "is_complete": canceled or workflow_is_done(workflow_id),
        "needs_to_run_completion_script": needs_script,
    }


def is_uninitialized(workflow_id: int) -> bool:
    get_workflow(workflow_id)
    others = (
        Job.select(Job.id)
        .where(
            Job.workflow_id == workflow_id,
            Job.status.not_in([int(JobStatus.UNINITIALIZED), int(JobStatus.DISABLED)]),
        )
        .limit(1)
    )
    return not others.exists()


def workflows_needing_sweep() -> list[int]:
    """Workflows with blocked jobs, or complete but with on_workflow_complete not yet fired."""
    blocked = Job.select(Job.workflow_id).where(Job.status == int(JobStatus.BLOCKED)).distinct()
    waiting = actions.workflows_awaiting_completion()
    return sorted({row.workflow_id for row in blocked} | set(waiting))
