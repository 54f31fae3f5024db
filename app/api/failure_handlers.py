"""Failure handlers: exit-code rules that decide whether a failed job is retried."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.common import RECORD_ID_LABELS, RECORD_MODELS, Blueprint, listed, page_of
from app.api.schemas import FailureHandlerModel, OffsetLimitArgs, list_response
from app.models import records
from app.models.common import get_workflow
from app.models.records import FAILURE_HANDLERS
from app.models.tables import FailureHandler

blp = Blueprint("failure_handlers", __name__, description="Retry rules for failed jobs")
RECORD_ID_LABELS["failure_handlers"] = FAILURE_HANDLERS.label
RECORD_MODELS["failure_handlers"] = FailureHandler


@blp.route("/failure_handlers", methods=["POST"], endpoint="create_failure_handler")
@blp.arguments(FailureHandlerModel)
@blp.response(200, FailureHandlerModel)
@blp.doc(operationId="create_failure_handler")
def create(body: dict[str, Any]) -> Response:
    record_id = records.create_record(FAILURE_HANDLERS, body)
    return _one(record_id)


@blp.route("/failure_handlers/<int:record_id>", methods=["GET"], endpoint="get_failure_handler")
@blp.response(200, FailureHandlerModel)
@blp.doc(operationId="get_failure_handler")
def get(record_id: int) -> Response:
    return _one(record_id)


@blp.route(
    "/failure_handlers/<int:record_id>", methods=["DELETE"], endpoint="delete_failure_handler"
)
@blp.response(200, FailureHandlerModel)
@blp.doc(operationId="delete_failure_handler")
def delete(record_id: int) -> Response:
    return wire.json_response(records.delete_record(FAILURE_HANDLERS, record_id))


@blp.route(
    "/workflows/<int:workflow_id>/failure_handlers",
    methods=["GET"],
    endpoint="list_failure_handlers",
)
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(200, list_response(FailureHandlerModel, "ListFailureHandlersResponse"))
@blp.doc(operationId="list_failure_handlers")
def list_all(args: dict[str, Any], workflow_id: int) -> Response:
    get_workflow(workflow_id)
    page = page_of(args)
    rows, total = records.list_page(
        FailureHandler, [FailureHandler.workflow_id == workflow_id], page
    )
    return listed(rows, wire.plain, page, total)


def _one(record_id: int) -> Response:
    return wire.json_response(records.get_row(FailureHandler, record_id, FAILURE_HANDLERS.label))
