"""A job runner's round trip (``runner_cycle``): report, start, claim — in one short
transaction.

A runner that calls this once per loop turn needs no other request while it works: the
answer carries the jobs it claimed, whether the workflow is complete or canceled, and the
workflow actions that have become claimable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from app.models import actions, lifecycle, sql, workflow_state
from app.models.common import chunks, get_workflow, require_same_workflow, run_state
from app.models.db import bulk_update, write_transaction
from app.models.fitting import Capacity
from app.models.tables import ComputeNode, File, Job
from app.shared.status import ACTIVE, codes

ACTION_TRIGGERS_DURING_RUN = ["on_jobs_ready", "on_jobs_complete", "on_workflow_complete"]


@dataclass
class ClaimRequest:
    limit: int
    capacity: Capacity | None = None  # None: queue depth (claim_next_jobs)
    sort_method: str = "none"
    strict_scheduler_match: bool = False


@dataclass
class RunnerCycle:
    workflow_id: int
    run_id: int
    compute_node_id: int
    completed: list[lifecycle.Report]
    started: list[int]
    retried: list[lifecycle.Retry]
    file_mtimes: list[tuple[int, float]]
    claim: ClaimRequest | None
    # After a lost answer the runner asks for every job the server has assigned to it.
    resync: bool = False


def run_runner_cycle(cycle: RunnerCycle) -> dict[str, Any]:
    with write_transaction():
        # A workflow deleted under a running runner: "Workflow N not found", so it stops.
        run_state(cycle.workflow_id)
        require_same_workflow(
            ComputeNode, [cycle.compute_node_id], cycle.workflow_id, "compute_node_id"
        )
        sql.execute(
            "UPDATE compute_node SET last_heartbeat = ? WHERE id = ?",
            [time.time(), cycle.compute_node_id],
        )
        _record_mtimes(cycle.workflow_id, cycle.file_mtimes)
        # Starts first: a job may have started and finished since the last round trip.
        started = lifecycle.start_jobs(
            cycle.workflow_id, cycle.run_id, cycle.compute_node_id, cycle.started
        )
        completed = lifecycle.complete_jobs(cycle.workflow_id, cycle.run_id, cycle.completed)
        retried = lifecycle.retry_jobs(cycle.workflow_id, cycle.run_id, cycle.retried)
        claimed, reason = _claim(cycle)
        status = workflow_state.is_complete(cycle.workflow_id)
        assigned = _assigned(cycle) if cycle.resync else []
        pending = actions.pending_actions(cycle.workflow_id, ACTION_TRIGGERS_DURING_RUN)
    return {
        "completed": completed,
        "retried": retried,
        "started": started,
        "claimed": claimed,
        "reason": reason,
        "is_complete": status["is_complete"],
        "is_canceled": status["is_canceled"],
        "pending_actions": pending,
        "assigned": assigned,
    }


def _assigned(cycle: RunnerCycle) -> list[int]:
    query = Job.select(Job.id).where(
        Job.workflow_id == cycle.workflow_id,
        Job.active_compute_node_id == cycle.compute_node_id,
        Job.status.in_(codes(ACTIVE)),
    )
    return [row.id for row in query.order_by(Job.id)]


def _record_mtimes(workflow_id: int, mtimes: list[tuple[int, float]]) -> None:
    if not mtimes:
        return
    for part in chunks([file_id for file_id, _ in mtimes]):
        require_same_workflow(File, part, workflow_id, "file_id")
    bulk_update(File, "st_mtime", [(mtime, file_id) for file_id, mtime in mtimes])


def _claim(cycle: RunnerCycle) -> tuple[list[int], str | None]:
    request = cycle.claim
    if request is None or request.limit <= 0:
        return [], None
    if request.capacity is None:
        claimed = lifecycle.claim_next_jobs(cycle.workflow_id, request.limit, cycle.compute_node_id)
        reason = None if claimed else _empty_reason(cycle.workflow_id)
        return claimed, reason
    request.capacity.compute_node_id = cycle.compute_node_id
    return lifecycle.claim_jobs_based_on_resources(
        cycle.workflow_id,
        request.limit,
        request.capacity,
        request.sort_method,
        request.strict_scheduler_match,
    )


def _empty_reason(workflow_id: int) -> str:
    return "Workflow is canceled" if get_workflow(workflow_id).is_canceled else "No ready jobs"
