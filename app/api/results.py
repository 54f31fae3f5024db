"""Results: one row per finished job attempt."""

from __future__ import annotations

from typing import Any

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import ListResultsArgs, ResultModel
from app.models.common import get_workflow
from app.models.records import RESULTS
from app.models.tables import Result, WorkflowResult
from app.shared.status import JobStatus

blp = Blueprint("results", __name__, description="Job results: return codes, times, resources")


def _filters(args: dict[str, Any]) -> list[Any]:
    names = ("job_id", "run_id", "return_code", "compute_node_id")
    conditions = equal_filters(Result, args, names)
    if args.get("status") is not None:
        conditions.append(Result.status == int(JobStatus.parse(args["status"])))
    if not args.get("all_runs") and args.get("run_id") is None:
        # The contract's "current results": each job's latest result as kept in
        # workflow_result, so jobs a partial rerun did not touch keep their result.
        get_workflow(args["workflow_id"])
        current = WorkflowResult.select(WorkflowResult.result_id).where(
            WorkflowResult.workflow_id == args["workflow_id"]
        )
        conditions.append(Result.id.in_(current))
    return conditions


register_crud(
    blp,
    Crud(
        RESULTS,
        "/results",
        operation_ids("result", "results"),
        ResultModel,
        ListResultsArgs,
        _filters,
        wire.result,
    ),
)
