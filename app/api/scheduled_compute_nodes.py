"""Scheduled compute nodes: allocations requested from a scheduler such as Slurm."""

from __future__ import annotations

from typing import Any

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import ListScheduledComputeNodesArgs, ScheduledComputeNodesModel
from app.models.records import SCHEDULED_COMPUTE_NODES
from app.models.tables import ScheduledComputeNode

blp = Blueprint(
    "scheduled_compute_nodes", __name__, description="Allocations requested from a scheduler"
)


def _filters(args: dict[str, Any]) -> list[Any]:
    names = ("scheduler_id", "scheduler_config_id", "status")
    return equal_filters(ScheduledComputeNode, args, names)


register_crud(
    blp,
    Crud(
        SCHEDULED_COMPUTE_NODES,
        "/scheduled_compute_nodes",
        operation_ids("scheduled_compute_node", "scheduled_compute_nodes"),
        ScheduledComputeNodesModel,
        ListScheduledComputeNodesArgs,
        _filters,
        wire.plain,
    ),
)
