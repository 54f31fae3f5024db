"""Extension: create a whole expanded workflow (jobs, files, data, actions…) in one request."""

from __future__ import annotations

import orjson
from flask import Response, request

from app.api import wire
from app.api.common import Blueprint
from app.api.guards import check_json
from app.api.schemas import InitializeSpecArgs, WorkflowSpecCreated
from app.errors import BadRequest
from app.models.bulk import create_from_payload

blp = Blueprint(
    "workflow_specs",
    __name__,
    description="Extension: create a complete workflow atomically from an expanded spec",
)

PAYLOAD_DOC = {
    "required": True,
    "description": (
        "An expanded workflow: {workflow, resource_requirements, failure_handlers, "
        "slurm_schedulers, files, user_data, jobs, actions}. Records refer to each other by "
        "position in these lists (jobs[].depends_on, input_files, output_files, "
        "input_user_data, output_user_data, resource_requirements, failure_handler, scheduler; "
        "actions[].jobs, scheduler). ${user_data.input.NAME} and ${user_data.output.NAME} in "
        "commands become the record's ID. Nothing is created unless everything is valid."
    ),
    "content": {"application/json": {"schema": {"type": "object"}}},
}


@blp.route("/workflow_specs", methods=["POST"], endpoint="create_workflow_from_spec")
@blp.arguments(InitializeSpecArgs, location="query")
@blp.response(200, WorkflowSpecCreated)
@blp.doc(operationId="create_workflow_from_spec", requestBody=PAYLOAD_DOC)
def create_from_spec(args: dict) -> Response:
    raw = request.get_data(cache=False)  # not kept twice
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Invalid JSON body: {exc}") from None
    check_json(raw, payload)
    del raw
    # waitress tells a handler whether its client is still connected.
    client_gone = request.environ.get("waitress.client_disconnected")
    created = create_from_payload(payload, initialize=args["initialize"], client_gone=client_gone)
    return wire.json_response(created)
