"""Workflow actions: commands or allocations triggered by workflow and job events."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.common import Blueprint
from app.api.schemas import (
    ClaimActionBody,
    ClaimActionResponse,
    PendingActionsArgs,
    WorkflowActionModel,
)
from app.errors import InvalidInput
from app.models import actions, records
from app.models.tables import WorkflowAction

blp = Blueprint("workflow_actions", __name__, description="Triggered workflow actions")


@blp.route(
    "/workflows/<int:workflow_id>/actions", methods=["POST"], endpoint="create_workflow_action"
)
@blp.arguments(WorkflowActionModel)
@blp.response(200, WorkflowActionModel)
@blp.doc(operationId="create_workflow_action")
def create_action(body: dict[str, Any], workflow_id: int) -> Response:
    if int(body["workflow_id"]) != workflow_id:
        raise InvalidInput(
            f"body workflow_id {body['workflow_id']} does not match path workflow {workflow_id}"
        )
    action_id = actions.create_action(workflow_id, body)
    row = records.get_row(WorkflowAction, action_id, "Action")
    return wire.json_response(wire.workflow_action(row))


@blp.route("/workflows/<int:workflow_id>/actions", methods=["GET"], endpoint="get_workflow_actions")
@blp.response(200, WorkflowActionModel(many=True))
@blp.doc(operationId="get_workflow_actions")
def list_actions(workflow_id: int) -> Response:
    rows = actions.list_actions(workflow_id)
    return wire.json_response([wire.workflow_action(row) for row in rows])


@blp.route(
    "/workflows/<int:workflow_id>/actions/pending",
    methods=["GET"],
    endpoint="get_pending_actions",
)
@blp.arguments(PendingActionsArgs, location="query")
@blp.response(200, WorkflowActionModel(many=True))
@blp.doc(operationId="get_pending_actions")
def pending_actions(args: dict[str, Any], workflow_id: int) -> Response:
    rows = actions.list_actions(
        workflow_id, pending_only=True, trigger_type=args.get("trigger_type")
    )
    return wire.json_response([wire.workflow_action(row) for row in rows])


@blp.route(
    "/workflows/<int:workflow_id>/actions/<int:action_id>/claim",
    methods=["POST"],
    endpoint="claim_action",
)
@blp.arguments(ClaimActionBody)
@blp.response(200, ClaimActionResponse)
@blp.doc(operationId="claim_action")
def claim_action(body: dict[str, Any], workflow_id: int, action_id: int) -> Response:
    return wire.json_response(
        actions.claim_action(workflow_id, action_id, body.get("compute_node_id"))
    )
