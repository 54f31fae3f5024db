"""Slurm's side of the background work: allocations that ended, and queued regenerations.

The periodic check asks squeue about every open allocation (one call for all workflows) and
hands the ended ones to the model; it does nothing on a server without Slurm's commands.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from app.models import slurm
from app.shared.slurm import SlurmError, is_alive, job_state, queue_states, sacct_json
from app.tasks import SLURM_CHECK, huey

logger = logging.getLogger(__name__)


@huey.periodic_task(SLURM_CHECK, retries=0)
def slurm_allocation_check() -> None:
    """Allocations squeue no longer runs: close them and fail the jobs they left running."""
    allocations = slurm.open_allocations()
    if not allocations or shutil.which("squeue") is None:
        return
    try:
        states = queue_states(row["scheduler_id"] for row in allocations)
    except SlurmError as exc:
        logger.warning("Slurm allocation check skipped: %s", exc)
        return
    ended: dict[int, dict[int, str | None]] = {}
    for row in allocations:
        state = states.get(row["scheduler_id"])
        if not is_alive(state):
            ended.setdefault(row["workflow_id"], {})[row["id"]] = state
    for workflow_id, observed in ended.items():
        finals = {scn_id: final_state(row_for(allocations, scn_id)) for scn_id in observed}
        report = slurm.sync_allocations(
            workflow_id, observed, final_states={k: v for k, v in finals.items() if v}
        )
        if report.failed_jobs or report.requeued_jobs or report.terminated or report.vanished:
            logger.warning(
                "workflow %d: %d Slurm allocation(s) ended; %d job(s) failed, %d requeued",
                workflow_id,
                len(report.terminated) + len(report.vanished),
                len(report.failed_jobs),
                len(report.requeued_jobs),
            )


def row_for(allocations: list[dict[str, Any]], scn_id: int) -> dict[str, Any]:
    return next(row for row in allocations if row["id"] == scn_id)


def final_state(allocation: dict[str, Any]) -> str | None:
    """sacct's last word on the job (TIMEOUT, CANCELLED ...), when accounting is available."""
    if shutil.which("sacct") is None:
        return None
    try:
        return job_state(sacct_json(allocation["scheduler_id"]))
    except SlurmError:
        return None


@huey.task(retries=0)
def regenerate_in_background(workflow_id: int, body: dict[str, Any], request_id: str) -> None:
    """``regenerate_schedulers`` for a recovery that asked for it; the outcome is recorded
    where ``GET .../slurm/regenerate/<request_id>`` finds it."""
    try:
        request = slurm.RegenerateRequest.from_json(body)
        result = slurm.regenerate_schedulers(workflow_id, request)
    except Exception as exc:  # noqa: BLE001  (every failure is reported to the requester)
        logger.warning("Slurm regeneration %s failed: %s", request_id, exc)
        slurm.record_regeneration(workflow_id, request_id, "failed", error=str(exc))
        return
    slurm.record_regeneration(workflow_id, request_id, "done", result=result)
