"""Remote workers: the SSH hosts a workflow runs on."""

from __future__ import annotations

from flask import Response, request

from app.api import wire
from app.api.common import Blueprint
from app.api.schemas import RemoteWorkerModel
from app.errors import BadRequest, NotFound
from app.models.common import get_workflow
from app.models.db import write_transaction
from app.models.tables import RemoteWorker

blp = Blueprint("remote_workers", __name__, description="SSH hosts that run a workflow")

WORKER_LIST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Worker addresses: [user@]host[:port]",
            }
        }
    },
}


def _workers(workflow_id: int) -> list[dict]:
    query = RemoteWorker.select().where(RemoteWorker.workflow_id == workflow_id)
    return list(query.order_by(RemoteWorker.worker).dicts())


@blp.route(
    "/workflows/<int:workflow_id>/remote_workers",
    methods=["POST"],
    endpoint="create_remote_workers",
)
@blp.response(200, RemoteWorkerModel(many=True))
@blp.doc(operationId="create_remote_workers", requestBody=WORKER_LIST_BODY)
def create_workers(workflow_id: int) -> Response:
    workers = request.get_json(silent=True)
    if not isinstance(workers, list) or not all(isinstance(w, str) and w.strip() for w in workers):
        raise BadRequest("body must be a JSON array of worker addresses ([user@]host[:port])")
    with write_transaction():
        get_workflow(workflow_id)
        rows = [{"workflow_id": workflow_id, "worker": w.strip()} for w in dict.fromkeys(workers)]
        if rows:
            RemoteWorker.insert_many(rows).on_conflict_ignore().execute()
    return wire.json_response(_workers(workflow_id))


@blp.route(
    "/workflows/<int:workflow_id>/remote_workers", methods=["GET"], endpoint="list_remote_workers"
)
@blp.response(200, RemoteWorkerModel(many=True))
@blp.doc(operationId="list_remote_workers")
def list_workers(workflow_id: int) -> Response:
    get_workflow(workflow_id)
    return wire.json_response(_workers(workflow_id))


@blp.route(
    "/workflows/<int:workflow_id>/remote_workers/<path:worker>",
    methods=["DELETE"],
    endpoint="delete_remote_worker",
)
@blp.response(200, RemoteWorkerModel)
@blp.doc(operationId="delete_remote_worker")
def delete_worker(workflow_id: int, worker: str) -> Response:
    with write_transaction():
        get_workflow(workflow_id)
        removed = (
            RemoteWorker.delete()
            .where(RemoteWorker.workflow_id == workflow_id, RemoteWorker.worker == worker)
            .execute()
        )
    if not removed:
        raise NotFound(f"Remote worker {worker!r} not found in workflow {workflow_id}")
    return wire.json_response({"workflow_id": workflow_id, "worker": worker})
