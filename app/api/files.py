"""Files: paths that jobs read and write."""

from __future__ import annotations

from typing import Any

from app.api import wire
from app.api.common import Blueprint, Crud, equal_filters, operation_ids, register_crud
from app.api.schemas import FileModel, ListFilesArgs
from app.models.records import FILES
from app.models.tables import File, JobOutputFile

blp = Blueprint("files", __name__, description="Files that jobs read and write")


def _filters(args: dict[str, Any]) -> list[Any]:
    conditions = equal_filters(File, args, ("name", "path"))
    if args.get("produced_by_job_id") is not None:
        produced = JobOutputFile.select(JobOutputFile.file_id).where(
            JobOutputFile.job_id == args["produced_by_job_id"]
        )
        conditions.append(File.id.in_(produced))
    if args.get("is_output") is not None:
        outputs = JobOutputFile.select(JobOutputFile.file_id).where(
            JobOutputFile.workflow_id == args["workflow_id"]
        )
        conditions.append(File.id.in_(outputs) if args["is_output"] else File.id.not_in(outputs))
    return conditions


register_crud(
    blp,
    Crud(
        FILES,
        "/files",
        operation_ids("file", "files"),
        FileModel,
        ListFilesArgs,
        _filters,
        wire.plain,
    ),
)
