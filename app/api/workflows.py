"""Workflows: records, run state, initialization, cancel and reset."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.common import Blueprint, equal_filters, listed, page_of
from app.api.schemas import (
    DryRunArgs,
    FailedOnlyArgs,
    ForceArgs,
    InitializeJobsArgs,
    InitializeJobsResponse,
    IsCompleteResponse,
    IsUninitializedResponse,
    JobStatusCountsResponse,
    LatestEventTimestampResponse,
    ListWorkflowsArgs,
    MessageResponse,
    ProcessChangedJobInputsResponse,
    ResetJobStatusResponse,
    WorkflowModel,
    WorkflowStatusModel,
    list_response,
)
from app.models import jobs as job_records
from app.models import lifecycle, purge, records, workflow_state
from app.models.common import get_workflow
from app.models.run_start import initialize_if_new
from app.models.tables import Event, Workflow

blp = Blueprint("workflows", __name__, description="Workflows and their run state")

SORTABLE = {"id", "name", "user", "description", "timestamp"}


def workflow_response(workflow_id: int) -> Response:
    return wire.json_response(wire.workflow(records.get_row(Workflow, workflow_id, "Workflow")))


@blp.route("/workflows", methods=["POST"], endpoint="create_workflow")
@blp.arguments(WorkflowModel)
@blp.response(200, WorkflowModel)
@blp.doc(operationId="create_workflow")
def create_workflow(body: dict[str, Any]) -> Response:
    return workflow_response(records.create_workflow(body))


@blp.route("/workflows", methods=["GET"], endpoint="list_workflows")
@blp.arguments(ListWorkflowsArgs, location="query")
@blp.response(200, list_response(WorkflowModel, "ListWorkflowsResponse"))
@blp.doc(operationId="list_workflows")
def list_workflows(args: dict[str, Any]) -> Response:
    page = page_of(args)
    conditions = equal_filters(Workflow, args, ("name", "user", "description", "is_archived"))
    rows, total = records.list_page(Workflow, conditions, page, SORTABLE)
    return listed(rows, wire.workflow, page, total)


@blp.route("/workflows/<int:workflow_id>", methods=["GET"], endpoint="get_workflow")
@blp.response(200, WorkflowModel)
@blp.doc(operationId="get_workflow")
def get_workflow_route(workflow_id: int) -> Response:
    return workflow_response(workflow_id)


@blp.route("/workflows/<int:workflow_id>", methods=["PUT"], endpoint="update_workflow")
@blp.arguments(WorkflowModel)
@blp.response(200, WorkflowModel)
@blp.doc(operationId="update_workflow")
def update_workflow(body: dict[str, Any], workflow_id: int) -> Response:
    records.update_workflow(workflow_id, body)
    return workflow_response(workflow_id)


@blp.route("/workflows/<int:workflow_id>", methods=["DELETE"], endpoint="delete_workflow")
@blp.response(200, WorkflowModel)
@blp.doc(operationId="delete_workflow")
def delete_workflow(workflow_id: int) -> Response:
    return wire.json_response(wire.workflow(purge.delete_workflow(workflow_id)))


@blp.route("/workflows/<int:workflow_id>/cancel", methods=["PUT"], endpoint="cancel_workflow")
@blp.response(200, MessageResponse)
@blp.doc(operationId="cancel_workflow")
def cancel_workflow(workflow_id: int) -> Response:
    lifecycle.cancel_workflow(workflow_id)
    return wire.json_response({"message": f"Canceled workflow {workflow_id}"})


@blp.route(
    "/workflows/<int:workflow_id>/initialize_jobs", methods=["POST"], endpoint="initialize_jobs"
)
@blp.arguments(InitializeJobsArgs, location="query")
@blp.response(200, InitializeJobsResponse)
@blp.doc(operationId="initialize_jobs")
def initialize_jobs(args: dict[str, Any], workflow_id: int) -> Response:
    if args["if_uninitialized"]:
        answer = initialize_if_new(workflow_id)
        message = "Initialized job status" if answer["initialized"] else "Already initialized"
        return wire.json_response({"message": message, **answer})
    counts = lifecycle.initialize_jobs(workflow_id, args["only_uninitialized"])
    return wire.json_response({"message": "Initialized job status", **counts})


@blp.route(
    "/workflows/<int:workflow_id>/is_complete", methods=["GET"], endpoint="is_workflow_complete"
)
@blp.response(200, IsCompleteResponse)
@blp.doc(operationId="is_workflow_complete")
def is_complete(workflow_id: int) -> Response:
    return wire.json_response(workflow_state.is_complete(workflow_id))


@blp.route(
    "/workflows/<int:workflow_id>/is_uninitialized",
    methods=["GET"],
    endpoint="is_workflow_uninitialized",
)
@blp.response(200, IsUninitializedResponse)
@blp.doc(operationId="is_workflow_uninitialized")
def is_uninitialized(workflow_id: int) -> Response:
    return wire.json_response({"is_uninitialized": workflow_state.is_uninitialized(workflow_id)})


@blp.route(
    "/workflows/<int:workflow_id>/job_status_counts",
    methods=["GET"],
    endpoint="get_job_status_counts",
)
@blp.response(200, JobStatusCountsResponse)
@blp.doc(operationId="get_job_status_counts")
def job_status_counts(workflow_id: int) -> Response:
    """Extension: how many jobs the workflow has in each status (one query)."""
    counts = job_records.status_counts(workflow_id)
    return wire.json_response(
        {"workflow_id": workflow_id, "total": sum(counts.values()), "counts": counts}
    )


@blp.route(
    "/workflows/<int:workflow_id>/latest_event_timestamp",
    methods=["GET"],
    endpoint="get_latest_event_timestamp",
)
@blp.response(200, LatestEventTimestampResponse)
@blp.doc(operationId="get_latest_event_timestamp")
def latest_event_timestamp(workflow_id: int) -> Response:
    get_workflow(workflow_id)
    latest = (
        Event.select(Event.timestamp)
        .where(Event.workflow_id == workflow_id)
        .order_by(Event.timestamp.desc())
        .first()
    )
    return wire.json_response({"timestamp": latest.timestamp if latest else None})


@blp.route(
    "/workflows/<int:workflow_id>/process_changed_job_inputs",
    methods=["POST"],
    endpoint="process_changed_job_inputs",
)
@blp.arguments(DryRunArgs, location="query")
@blp.response(200, ProcessChangedJobInputsResponse)
@blp.doc(operationId="process_changed_job_inputs")
def process_changed_job_inputs(args: dict[str, Any], workflow_id: int) -> Response:
    names = lifecycle.process_changed_job_inputs(workflow_id, args["dry_run"])
    return wire.json_response({"reinitialized_jobs": names})


@blp.route(
    "/workflows/<int:workflow_id>/reset_status", methods=["POST"], endpoint="reset_workflow_status"
)
@blp.arguments(ForceArgs, location="query")
@blp.response(200, MessageResponse)
@blp.doc(operationId="reset_workflow_status")
def reset_status(args: dict[str, Any], workflow_id: int) -> Response:
    lifecycle.reset_workflow_status(workflow_id, args["force"])
    return wire.json_response({"message": f"Reset status of workflow {workflow_id}"})


@blp.route(
    "/workflows/<int:workflow_id>/reset_job_status", methods=["POST"], endpoint="reset_job_status"
)
@blp.arguments(FailedOnlyArgs, location="query")
@blp.response(200, ResetJobStatusResponse)
@blp.doc(operationId="reset_job_status")
def reset_job_status(args: dict[str, Any], workflow_id: int) -> Response:
    count = lifecycle.reset_job_status(workflow_id, args["failed_only"])
    return wire.json_response(
        {
            "workflow_id": workflow_id,
            "updated_count": count,
            "status": "uninitialized",
            "reset_type": "failed_only" if args["failed_only"] else "all",
        }
    )


@blp.route("/workflows/<int:workflow_id>/status", methods=["GET"], endpoint="get_workflow_status")
@blp.response(200, WorkflowStatusModel)
@blp.doc(operationId="get_workflow_status")
def get_status(workflow_id: int) -> Response:
    return _status_response(workflow_id)


def _status_response(workflow_id: int) -> Response:
    return wire.json_response(
        wire.workflow_status(records.get_row(Workflow, workflow_id, "Workflow"))
    )


@blp.route(
    "/workflows/<int:workflow_id>/status", methods=["PUT"], endpoint="update_workflow_status"
)
@blp.arguments(WorkflowStatusModel)
@blp.response(200, WorkflowStatusModel)
@blp.doc(operationId="update_workflow_status")
def update_status(body: dict[str, Any], workflow_id: int) -> Response:
    lifecycle.update_workflow_status(workflow_id, body)
    return _status_response(workflow_id)
