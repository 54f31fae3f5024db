"""Extension: Slurm allocations of a workflow (status sync) and scheduler regeneration."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate

from app.api import wire
from app.api.common import Blueprint
from app.api.schemas import Integer
from app.models import slurm
from app.shared.scheduler_plan import GROUP_BY, WALLTIME_STRATEGIES

blp = Blueprint(
    "slurm",
    __name__,
    description="Extension: Slurm allocations (status sync) and scheduler regeneration",
)


class ObservedAllocation(Schema):
    scheduled_compute_node_id = Integer(required=True)
    state = fields.String(
        allow_none=True,
        load_default=None,
        metadata={"description": "squeue's state; null when squeue no longer lists the job."},
    )
    final_state = fields.String(
        allow_none=True, load_default=None, metadata={"description": "sacct's final state."}
    )


class SyncStatusBody(Schema):
    allocations = fields.List(fields.Nested(ObservedAllocation), load_default=list)
    dry_run = fields.Boolean(load_default=False)


class RegenerateBody(Schema):
    profile = fields.Dict(
        required=True,
        metadata={"description": "The HPC profile (name, partitions) the client resolved."},
    )
    account = fields.String(allow_none=True, load_default=None)
    group_by = fields.String(
        load_default="resource-requirements", validate=validate.OneOf(GROUP_BY)
    )
    walltime_strategy = fields.String(
        load_default="max-job-runtime", validate=validate.OneOf(WALLTIME_STRATEGIES)
    )
    walltime_multiplier = fields.Float(load_default=1.5, validate=validate.Range(min=0.01))
    single_allocation = fields.Boolean(load_default=False)
    include_job_ids = fields.List(Integer(), load_default=list)
    dry_run = fields.Boolean(load_default=False)
    background = fields.Boolean(
        load_default=False,
        metadata={"description": "Queue the regeneration as a background task (202)."},
    )


class RegenerationState(Schema):
    request_id = fields.String()
    status = fields.String(metadata={"description": "queued, done or failed"})
    result = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)


@blp.route(
    "/workflows/<int:workflow_id>/slurm/sync_status",
    methods=["POST"],
    endpoint="sync_slurm_allocations",
)
@blp.arguments(SyncStatusBody)
@blp.response(200, fields.Dict())
@blp.doc(operationId="sync_slurm_allocations")
def sync_status(body: dict[str, Any], workflow_id: int) -> Response:
    """Close the allocations the caller saw end (squeue), failing the jobs left running."""
    states = {a["scheduled_compute_node_id"]: a["state"] for a in body["allocations"]}
    finals = {
        a["scheduled_compute_node_id"]: a["final_state"]
        for a in body["allocations"]
        if a["final_state"]
    }
    report = slurm.sync_allocations(workflow_id, states, body["dry_run"], finals)
    return wire.json_response(report.as_json())


@blp.route(
    "/workflows/<int:workflow_id>/slurm/regenerate",
    methods=["POST"],
    endpoint="regenerate_slurm_schedulers",
)
@blp.arguments(RegenerateBody)
@blp.response(200, fields.Dict())
@blp.doc(operationId="regenerate_slurm_schedulers")
def regenerate(body: dict[str, Any], workflow_id: int) -> Response:
    """New schedulers and recovery actions for the jobs still to run (see
    ``app.models.slurm.regenerate_schedulers``); with ``background`` a queued task does it
    and the answer (202) names the request to poll."""
    request = slurm.RegenerateRequest.from_json(body)
    if body["background"]:
        from app.tasks.slurm import regenerate_in_background

        request_id = uuid.uuid4().hex
        slurm.record_regeneration(workflow_id, request_id, "queued")
        regenerate_in_background(workflow_id, body, request_id)
        return wire.json_response({"request_id": request_id, "status": "queued"}, status=202)
    return wire.json_response(slurm.regenerate_schedulers(workflow_id, request))


@blp.route(
    "/workflows/<int:workflow_id>/slurm/regenerate/<request_id>",
    methods=["GET"],
    endpoint="get_slurm_regeneration",
)
@blp.response(200, RegenerationState)
@blp.doc(operationId="get_slurm_regeneration")
def regeneration_state(workflow_id: int, request_id: str) -> Response:
    """Where a background regeneration stands: queued, done (with its result) or failed."""
    return wire.json_response(slurm.regeneration_state(workflow_id, request_id))
