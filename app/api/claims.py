"""Claiming ready jobs: by queue depth, or by the resources a runner offers."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.common import Blueprint
from app.api.schemas import (
    ClaimByResourcesArgs,
    ClaimJobsResponse,
    ClaimNextJobsArgs,
    ComputeNodesResources,
    GetReadyJobRequirementsResponse,
    ReadyJobRequirementsArgs,
)
from app.errors import InvalidInput
from app.models import fitting, inputs, lifecycle
from app.models.fitting import Capacity
from app.shared.units import parse_runtime

blp = Blueprint("claims", __name__, description="Hand ready jobs to job runners")


def claimed_jobs(job_ids: list[int]) -> list[dict[str, Any]]:
    """Full wire jobs (with their relations) in the order given."""
    by_id = {row["id"]: row for row in wire.jobs(inputs.job_rows(job_ids))}
    return [by_id[job_id] for job_id in job_ids if job_id in by_id]


@blp.route(
    "/workflows/<int:workflow_id>/claim_next_jobs", methods=["POST"], endpoint="claim_next_jobs"
)
@blp.arguments(ClaimNextJobsArgs, location="query")
@blp.response(200, ClaimJobsResponse)
@blp.doc(operationId="claim_next_jobs")
def claim_next_jobs(args: dict[str, Any], workflow_id: int) -> Response:
    job_ids = lifecycle.claim_next_jobs(workflow_id, args["limit"])
    return wire.json_response({"jobs": claimed_jobs(job_ids)})


@blp.route(
    "/workflows/<int:workflow_id>/claim_jobs_based_on_resources/<int:limit>",
    methods=["POST"],
    endpoint="claim_jobs_based_on_resources",
)
@blp.arguments(ClaimByResourcesArgs, location="query")
@blp.arguments(ComputeNodesResources)
@blp.response(200, ClaimJobsResponse)
@blp.doc(operationId="claim_jobs_based_on_resources")
def claim_jobs_based_on_resources(
    args: dict[str, Any], resources: dict[str, Any], workflow_id: int, limit: int
) -> Response:
    job_ids, reason = lifecycle.claim_jobs_based_on_resources(
        workflow_id,
        limit,
        capacity_of(resources),
        sort_method=args["sort_method"] or "none",
        strict_scheduler_match=args["strict_scheduler_match"],
    )
    return wire.json_response({"jobs": claimed_jobs(job_ids), "reason": reason})


def capacity_of(resources: dict[str, Any]) -> Capacity:
    time_limit = resources.get("time_limit")
    try:
        seconds = parse_runtime(time_limit) if time_limit else None
    except ValueError as exc:
        raise InvalidInput(f"time_limit: {exc}") from None
    return Capacity(
        num_cpus=resources["num_cpus"],
        memory_bytes=int(resources["memory_gb"] * 1024**3),
        num_gpus=resources["num_gpus"],
        num_nodes=resources["num_nodes"],
        time_limit_seconds=seconds,
        scheduler_config_id=resources.get("scheduler_config_id"),
        compute_node_id=resources.get("id"),
    )


@blp.route(
    "/workflows/<int:workflow_id>/ready_job_requirements",
    methods=["GET"],
    endpoint="get_ready_job_requirements",
)
@blp.arguments(ReadyJobRequirementsArgs, location="query")
@blp.response(200, GetReadyJobRequirementsResponse)
@blp.doc(operationId="get_ready_job_requirements")
def ready_job_requirements(args: dict[str, Any], workflow_id: int) -> Response:
    totals = fitting.ready_job_requirements(workflow_id, args.get("scheduler_config_id"))
    return wire.json_response(totals)
