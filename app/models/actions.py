"""Workflow actions: trigger counting and claiming.

An action is *pending* (claimable) when ``trigger_count >= required_triggers`` and it has not
been executed. Job-triggered actions count each selected job once per run, the first time it
reaches a satisfying status (``workflow_action_job.triggered``), so counting is O(1) per job
transition. Non-persistent actions are claimed once, by a conditional UPDATE; persistent
actions may be claimed by every worker.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.errors import Conflict, InvalidInput, NotFound
from app.models import sql
from app.models.common import chunks, get_workflow, require_same_workflow
from app.models.db import write_transaction
from app.models.events import record_event
from app.models.tables import ComputeNode, Job, WorkflowAction, WorkflowActionJob
from app.shared.contract import ACTION_TYPES, TRIGGER_TYPES, WORKER_TRIGGERS
from app.shared.status import ACTION_COMPLETE_STATES, ACTION_READY_STATES, JobStatus, codes
from app.shared.units import utc_now_text

JOB_TRIGGERS = {"on_jobs_ready": ACTION_READY_STATES, "on_jobs_complete": ACTION_COMPLETE_STATES}
# Triggers that hold as soon as the workflow is initialized.
START_TRIGGERS = ("on_workflow_start", "on_worker_start", "on_worker_complete")


def create_action(workflow_id: int, fields: dict[str, Any]) -> int:
    trigger_type = fields["trigger_type"]
    action_type = fields["action_type"]
    if trigger_type not in TRIGGER_TYPES:
        raise InvalidInput(
            f"unknown trigger_type {trigger_type!r}; expected one of {', '.join(TRIGGER_TYPES)}"
        )
    if action_type not in ACTION_TYPES:
        raise InvalidInput(
            f"unknown action_type {action_type!r}; expected one of {', '.join(ACTION_TYPES)}"
        )
    with write_transaction():
        get_workflow(workflow_id)
        job_ids = require_same_workflow(Job, fields.get("job_ids"), workflow_id, "job_ids")
        if trigger_type in JOB_TRIGGERS and not job_ids:
            raise InvalidInput(f"a {trigger_type} action needs at least one job in job_ids")
        action_id = WorkflowAction.insert(
            workflow_id=workflow_id,
            trigger_type=trigger_type,
            action_type=action_type,
            action_config=orjson.dumps(fields.get("action_config") or {}).decode(),
            job_ids=orjson.dumps(job_ids).decode() if job_ids else None,
            required_triggers=len(job_ids) if trigger_type in JOB_TRIGGERS else 1,
            persistent=is_persistent(trigger_type, fields.get("persistent")),
            is_recovery=bool(fields.get("is_recovery")),
        ).execute()
        if trigger_type in JOB_TRIGGERS:
            for part in chunks(job_ids):
                WorkflowActionJob.insert_many(
                    [{"action_id": action_id, "job_id": job_id} for job_id in part]
                ).execute()
            _recount(workflow_id, action_id, trigger_type)
        return action_id


def is_persistent(trigger_type: str, given: bool | None) -> bool:
    """A worker trigger runs for every worker unless ``persistent: false``.

    D15 (docs/decisions.md)."""
    return trigger_type in WORKER_TRIGGERS if given is None else bool(given)


def pending_actions(workflow_id: int, trigger_types: list[str]) -> list[dict]:
    """Claimable actions of these triggers (hand-written SQL: runners ask every round trip)."""
    rows = sql.fetch(
        "SELECT id FROM workflow_action WHERE workflow_id = ? AND executed = ?"
        " AND trigger_count >= required_triggers"
        f" AND trigger_type IN ({sql.marks(len(trigger_types))})",
        [workflow_id, False, *trigger_types],
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    return list(WorkflowAction.select().where(WorkflowAction.id.in_(ids)).dicts())


def list_actions(workflow_id: int, pending_only: bool = False, trigger_type: str | None = None):
    get_workflow(workflow_id)
    query = WorkflowAction.select().where(WorkflowAction.workflow_id == workflow_id)
    if pending_only:
        query = query.where(
            WorkflowAction.executed == False,  # noqa: E712  (SQL comparison)
            WorkflowAction.trigger_count >= WorkflowAction.required_triggers,
        )
    if trigger_type:
        query = query.where(WorkflowAction.trigger_type == trigger_type)
    return list(query.order_by(WorkflowAction.id).dicts())


def claim_action(workflow_id: int, action_id: int, compute_node_id: int | None) -> dict[str, Any]:
    """Claim an action for one worker; a second claim of a one-shot action is a conflict."""
    with write_transaction():
        action = WorkflowAction.get_or_none(WorkflowAction.id == action_id)
        if action is None or action.workflow_id != workflow_id:
            raise NotFound(f"Action {action_id} not found in workflow {workflow_id}")
        if compute_node_id is not None:
            require_same_workflow(ComputeNode, [compute_node_id], workflow_id, "compute_node_id")
        if action.trigger_count < action.required_triggers:
            raise Conflict(
                f"Action {action_id} is not ready: {action.trigger_count} of "
                f"{action.required_triggers} triggers have occurred"
            )
        now = utc_now_text()
        if action.persistent:
            WorkflowAction.update(executed_at=now, executed_by=compute_node_id).where(
                WorkflowAction.id == action_id
            ).execute()
        else:
            claimed = (
                WorkflowAction.update(executed=True, executed_at=now, executed_by=compute_node_id)
                .where(WorkflowAction.id == action_id, WorkflowAction.executed == False)  # noqa: E712
                .execute()
            )
            if claimed != 1:
                raise Conflict(f"Action {action_id} already claimed")
        record_event(
            workflow_id,
            "action",
            "action_claimed",
            action_id=action_id,
            trigger_type=action.trigger_type,
            compute_node_id=compute_node_id,
        )
        return {"claimed": True, "action_id": action_id}


def count_job_triggers(workflow_id: int, job_ids: list[int], status: JobStatus) -> None:
    """Count jobs that just reached ``status`` toward the job-triggered actions watching them."""
    trigger_types = [name for name, states in JOB_TRIGGERS.items() if status in states]
    if not trigger_types or not _has_actions(workflow_id, trigger_types):
        return
    hits: list[tuple[int, int]] = []
    for part in chunks(job_ids):
        query = (
            WorkflowActionJob.select(WorkflowActionJob.action_id, WorkflowActionJob.job_id)
            .join(WorkflowAction, on=(WorkflowAction.id == WorkflowActionJob.action_id))
            .where(
                WorkflowActionJob.job_id.in_(part),
                WorkflowActionJob.triggered == False,  # noqa: E712
                WorkflowAction.trigger_type.in_(trigger_types),
            )
        )
        hits.extend(query.tuples())
    jobs_by_action: dict[int, list[int]] = {}
    for action_id, job_id in hits:
        jobs_by_action.setdefault(action_id, []).append(job_id)
    for action_id, hit_jobs in jobs_by_action.items():
        for part in chunks(hit_jobs):
            WorkflowActionJob.update(triggered=True).where(
                WorkflowActionJob.action_id == action_id, WorkflowActionJob.job_id.in_(part)
            ).execute()
        WorkflowAction.update(trigger_count=WorkflowAction.trigger_count + len(hit_jobs)).where(
            WorkflowAction.id == action_id
        ).execute()


def _has_actions(workflow_id: int, trigger_types: list[str]) -> bool:
    rows = sql.fetch(
        "SELECT 1 FROM workflow_action WHERE workflow_id = ?"
        f" AND trigger_type IN ({sql.marks(len(trigger_types))}) LIMIT 1",
        [workflow_id, *trigger_types],
    )
    return bool(rows)


def trigger_workflow_complete(workflow_id: int) -> bool:
    """Make on_workflow_complete actions claimable; True if any became so just now."""
    updated = sql.execute(
        "UPDATE workflow_action SET trigger_count = required_triggers WHERE workflow_id = ?"
        " AND trigger_type = ? AND trigger_count < required_triggers",
        [workflow_id, "on_workflow_complete"],
    )
    return updated > 0


def reset_for_initialize(workflow_id: int) -> None:
    """A new run: recovery actions go, the others are re-armed and recounted."""
    WorkflowAction.delete().where(
        WorkflowAction.workflow_id == workflow_id,
        WorkflowAction.is_recovery == True,  # noqa: E712
    ).execute()
    WorkflowAction.update(
        executed=False, executed_at=None, executed_by=None, trigger_count=0
    ).where(WorkflowAction.workflow_id == workflow_id).execute()
    WorkflowAction.update(trigger_count=WorkflowAction.required_triggers).where(
        WorkflowAction.workflow_id == workflow_id,
        WorkflowAction.trigger_type.in_(START_TRIGGERS),
    ).execute()
    for action in WorkflowAction.select(WorkflowAction.id, WorkflowAction.trigger_type).where(
        WorkflowAction.workflow_id == workflow_id,
        WorkflowAction.trigger_type.in_(list(JOB_TRIGGERS)),
    ):
        _recount(workflow_id, action.id, action.trigger_type)


def _recount(workflow_id: int, action_id: int, trigger_type: str) -> None:
    """Set each watched job's ``triggered`` flag and the count from current job statuses."""
    satisfying = codes(JOB_TRIGGERS[trigger_type])
    satisfied_jobs = Job.select(Job.id).where(
        Job.workflow_id == workflow_id, Job.status.in_(satisfying)
    )
    WorkflowActionJob.update(triggered=WorkflowActionJob.job_id.in_(satisfied_jobs)).where(
        WorkflowActionJob.action_id == action_id
    ).execute()
    count = (
        WorkflowActionJob.select()
        .where(WorkflowActionJob.action_id == action_id, WorkflowActionJob.triggered == True)  # noqa: E712
        .count()
    )
    WorkflowAction.update(trigger_count=count).where(WorkflowAction.id == action_id).execute()


def workflows_awaiting_completion() -> list[int]:
    """Workflows with an on_workflow_complete action that has not fired yet."""
    query = (
        WorkflowAction.select(WorkflowAction.workflow_id)
        .where(
            WorkflowAction.trigger_type == "on_workflow_complete",
            WorkflowAction.trigger_count < WorkflowAction.required_triggers,
        )
        .distinct()
    )
    return [row.workflow_id for row in query]
