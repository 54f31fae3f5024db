"""Compute nodes: the job runners that have worked on a workflow."""

from __future__ import annotations

import time
from typing import Any

from flask import Response

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import (
    ComputeNodeModel,
    DetectOrphansBody,
    DetectOrphansResponse,
    HeartbeatResponse,
    ListComputeNodesArgs,
)
from app.models import orphans, records
from app.models.records import COMPUTE_NODES
from app.models.tables import ComputeNode
from app.tasks import settings as task_settings

blp = Blueprint("compute_nodes", __name__, description="Job runners and their resources")


def _filters(args: dict[str, Any]) -> list[Any]:
    return equal_filters(ComputeNode, args, ("hostname", "is_active", "scheduled_compute_node_id"))


register_crud(
    blp,
    Crud(
        COMPUTE_NODES,
        "/compute_nodes",
        operation_ids("compute_node", "compute_nodes"),
        ComputeNodeModel,
        ListComputeNodesArgs,
        _filters,
        wire.compute_node,
    ),
)


@blp.route(
    "/compute_nodes/<int:record_id>/heartbeat", methods=["POST"], endpoint="compute_node_heartbeat"
)
@blp.response(200, HeartbeatResponse)
@blp.doc(operationId="compute_node_heartbeat")
def heartbeat(record_id: int) -> Response:
    """Extension: a runner's sign of life. Silent runners' jobs become orphans."""
    return wire.json_response({"id": record_id, "last_heartbeat": records.heartbeat(record_id)})


@blp.route(
    "/workflows/<int:workflow_id>/detect_orphans", methods=["POST"], endpoint="detect_orphans"
)
@blp.arguments(DetectOrphansBody, required=False)
@blp.response(200, DetectOrphansResponse)
@blp.doc(operationId="detect_orphans")
def detect_orphans(body: dict[str, Any], workflow_id: int) -> Response:
    """Extension: find this workflow's orphaned jobs now (``torc recover`` runs it first)."""
    counts = orphans.detect_orphans(
        workflow_id,
        body.get("lost_compute_node_ids") or [],
        time.time(),
        task_settings.heartbeat_timeout_seconds,
        task_settings.started_at,
    )
    return wire.json_response(counts)
