"""Extension: the job runner's round trip (report finished jobs, start, claim) in one call."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.claims import capacity_of, claimed_jobs
from app.api.common import Blueprint
from app.api.schemas import RunnerCycleBody, RunnerCycleResponse
from app.models.lifecycle import Outcomes, Report, Retry
from app.models.runner_cycle import ClaimRequest, RunnerCycle, run_runner_cycle
from app.shared.status import JobStatus

blp = Blueprint(
    "runners",
    __name__,
    description="Extension: one request per job-runner loop turn (report, start, claim)",
)


@blp.route(
    "/workflows/<int:workflow_id>/runner_cycle/<int:run_id>",
    methods=["POST"],
    endpoint="runner_cycle",
)
@blp.arguments(RunnerCycleBody)
@blp.response(200, RunnerCycleResponse)
@blp.doc(operationId="runner_cycle")
def runner_cycle(body: dict[str, Any], workflow_id: int, run_id: int) -> Response:
    """Apply finished jobs, then started jobs, then claim; return what changed.

    Each finished or started job gets its own outcome: one rejected job (for example one
    that a workflow cancel already finished) does not stop the others.
    """
    outcome = run_runner_cycle(_cycle(body, workflow_id, run_id))
    return wire.json_response(
        {
            "completed": _outcomes(outcome["completed"]),
            "retried": _outcomes(outcome["retried"]),
            "started": _outcomes(outcome["started"]),
            "jobs": claimed_jobs(outcome["claimed"]),
            "reason": outcome["reason"],
            "is_complete": outcome["is_complete"],
            "is_canceled": outcome["is_canceled"],
            "pending_actions": [wire.workflow_action(a) for a in outcome["pending_actions"]],
            "assigned": claimed_jobs(outcome["assigned"]),
        }
    )


def _cycle(body: dict[str, Any], workflow_id: int, run_id: int) -> RunnerCycle:
    claim = body.get("claim")
    request = None
    if claim is not None:
        resources = claim.get("resources")
        request = ClaimRequest(
            limit=claim["limit"],
            capacity=capacity_of(resources) if resources else None,
            sort_method=claim["sort_method"],
            strict_scheduler_match=claim["strict_scheduler_match"],
        )
    return RunnerCycle(
        workflow_id=workflow_id,
        run_id=run_id,
        compute_node_id=body["compute_node_id"],
        completed=[
            Report(
                item["job_id"],
                JobStatus.parse(item["status"]),
                {**item, "compute_node_id": body["compute_node_id"]},
            )
            for item in body["completed"]
        ],
        started=body["started"],
        retried=[
            Retry(
                item["job_id"],
                item["max_retries"],
                None
                if item["result"] is None
                else {**item["result"], "compute_node_id": body["compute_node_id"]},
            )
            for item in body["retried"]
        ],
        file_mtimes=[(item["file_id"], item["st_mtime"]) for item in body["file_mtimes"]],
        claim=request,
        resync=body["resync"],
    )


def _outcomes(outcomes: Outcomes) -> list[dict[str, Any]]:
    return [
        {"job_id": job_id, "ok": error is None, "error": None if error is None else str(error)}
        for job_id, error in outcomes.items()
    ]
