"""``torc workflows sync-status`` and the first step of ``torc recover``: ask squeue about the
workflow's open allocations and let the server close the ones that ended (their running jobs
become failed orphans), or, with ``dry_run``, say what it would do."""

from __future__ import annotations

import logging
from typing import Any

from app.shared.slurm import SlurmError, is_alive, job_state, queue_states, sacct_json
from cli.client import TorcClient

logger = logging.getLogger("torc.slurm")

OPEN = ("pending", "active")


def open_allocations(client: TorcClient, workflow_id: int) -> list[dict[str, Any]]:
    """The workflow's submitted Slurm allocations that are pending or active."""
    return [
        node
        for node in client.list_scheduled_compute_nodes(workflow_id)
        if node.get("scheduler_type") == "slurm"
        and node.get("status") in OPEN
        and int(node.get("scheduler_id") or 0) > 0
    ]


def observe(allocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """squeue's state for each allocation (None when it has left the queue) and, for those
    that ended, sacct's final state when accounting answers."""
    if not allocations:
        return []
    states = queue_states(node["scheduler_id"] for node in allocations)
    observed = []
    for node in allocations:
        state = states.get(int(node["scheduler_id"]))
        final = None if is_alive(state) else _final_state(int(node["scheduler_id"]))
        observed.append(
            {"scheduled_compute_node_id": node["id"], "state": state, "final_state": final}
        )
    return observed


def _final_state(slurm_job_id: int) -> str | None:
    try:
        return job_state(sacct_json(slurm_job_id))
    except SlurmError as exc:
        logger.debug("sacct has no state for Slurm job %s: %s", slurm_job_id, exc)
        return None


def sync_status(client: TorcClient, workflow_id: int, dry_run: bool = False) -> dict[str, Any]:
    """Close ended allocations and fail their orphaned jobs; the server's report."""
    allocations = open_allocations(client, workflow_id)
    observed = observe(allocations) if allocations else []
    return client.sync_slurm_allocations(workflow_id, observed, dry_run)


def slurm_unavailable_reason(client: TorcClient, workflow_id: int) -> str | None:
    """Why squeue cannot be asked here while the workflow has open allocations, if so."""
    if not open_allocations(client, workflow_id):
        return None
    try:
        queue_states([])
    except SlurmError as exc:
        return str(exc)
    return None
