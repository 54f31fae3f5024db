"""How a workflow's jobs connect: job-to-job edges and shared files and user data."""

from __future__ import annotations

from typing import Any

import peewee
from flask import Response

from app.api import wire
from app.api.common import Blueprint, page_of
from app.api.schemas import (
    JobDependencyModel,
    JobFileRelationshipModel,
    JobUserDataRelationshipModel,
    ListJobIdsResponse,
    ListMissingUserDataResponse,
    ListRequiredExistingFilesResponse,
    OffsetLimitArgs,
    list_response,
)
from app.models import inputs
from app.models.common import get_workflow
from app.models.records import Page
from app.models.tables import (
    BaseModel,
    File,
    Job,
    JobDependsOn,
    JobInputFile,
    JobInputUserData,
    JobOutputFile,
    JobOutputUserData,
    UserData,
)

blp = Blueprint("relationships", __name__, description="Edges between jobs, files and user data")


def paged(query: peewee.Query, page: Page, keys: tuple[str, ...], workflow_id: int) -> Response:
    total = query.count()
    rows = [
        {**dict(zip(keys, values, strict=True)), "workflow_id": workflow_id}
        for values in query.offset(page.offset).limit(page.limit).tuples()
    ]
    return wire.json_response(wire.list_envelope(rows, page, total))


@blp.route(
    "/workflows/<int:workflow_id>/job_dependencies",
    methods=["GET"],
    endpoint="list_job_dependencies",
)
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(200, list_response(JobDependencyModel, "ListJobDependenciesResponse"))
@blp.doc(operationId="list_job_dependencies")
def job_dependencies(args: dict[str, Any], workflow_id: int) -> Response:
    get_workflow(workflow_id)
    job, blocker = Job.alias("job"), Job.alias("blocker")
    query = (
        JobDependsOn.select(job.id, job.name, blocker.id, blocker.name)
        .join(job, on=(job.id == JobDependsOn.job_id))
        .switch(JobDependsOn)
        .join(blocker, on=(blocker.id == JobDependsOn.depends_on_job_id))
        .where(JobDependsOn.workflow_id == workflow_id)
        .order_by(JobDependsOn.job_id, JobDependsOn.depends_on_job_id)
    )
    keys = ("job_id", "job_name", "depends_on_job_id", "depends_on_job_name")
    return paged(query, page_of(args), keys, workflow_id)


def _producer_consumer_query(
    target: type[BaseModel],
    output_link: type[BaseModel],
    input_link: type[BaseModel],
    column: str,
    workflow_id: int,
    *extra: Any,
) -> peewee.Query:
    """One row per (record, producer, consumer); records that no job touches are left out."""
    producer, consumer = Job.alias("producer"), Job.alias("consumer")
    out_link, in_link = output_link.alias("out_link"), input_link.alias("in_link")
    return (
        target.select(
            target.id,
            target.name,
            *extra,
            out_link.job_id,
            producer.name,
            in_link.job_id,
            consumer.name,
        )
        .join(out_link, peewee.JOIN.LEFT_OUTER, on=(getattr(out_link, column) == target.id))
        .join(producer, peewee.JOIN.LEFT_OUTER, on=(producer.id == out_link.job_id))
        .switch(target)
        .join(in_link, peewee.JOIN.LEFT_OUTER, on=(getattr(in_link, column) == target.id))
        .join(consumer, peewee.JOIN.LEFT_OUTER, on=(consumer.id == in_link.job_id))
        .where(
            target.workflow_id == workflow_id,
            out_link.job_id.is_null(False) | in_link.job_id.is_null(False),
        )
        .order_by(target.id, out_link.job_id, in_link.job_id)
    )


LINK_KEYS = ("producer_job_id", "producer_job_name", "consumer_job_id", "consumer_job_name")


@blp.route(
    "/workflows/<int:workflow_id>/job_file_relationships",
    methods=["GET"],
    endpoint="list_job_file_relationships",
)
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(200, list_response(JobFileRelationshipModel, "ListJobFileRelationshipsResponse"))
@blp.doc(operationId="list_job_file_relationships")
def job_file_relationships(args: dict[str, Any], workflow_id: int) -> Response:
    get_workflow(workflow_id)
    query = _producer_consumer_query(
        File, JobOutputFile, JobInputFile, "file_id", workflow_id, File.path
    )
    keys = ("file_id", "file_name", "file_path", *LINK_KEYS)
    return paged(query, page_of(args), keys, workflow_id)


@blp.route(
    "/workflows/<int:workflow_id>/job_user_data_relationships",
    methods=["GET"],
    endpoint="list_job_user_data_relationships",
)
@blp.arguments(OffsetLimitArgs, location="query")
@blp.response(
    200, list_response(JobUserDataRelationshipModel, "ListJobUserDataRelationshipsResponse")
)
@blp.doc(operationId="list_job_user_data_relationships")
def job_user_data_relationships(args: dict[str, Any], workflow_id: int) -> Response:
    get_workflow(workflow_id)
    query = _producer_consumer_query(
        UserData, JobOutputUserData, JobInputUserData, "user_data_id", workflow_id
    )
    keys = ("user_data_id", "user_data_name", *LINK_KEYS)
    return paged(query, page_of(args), keys, workflow_id)


@blp.route("/workflows/<int:workflow_id>/job_ids", methods=["GET"], endpoint="list_job_ids")
@blp.response(200, ListJobIdsResponse)
@blp.doc(operationId="list_job_ids")
def job_ids(workflow_id: int) -> Response:
    ids = inputs.job_ids(workflow_id)
    return wire.json_response({"job_ids": ids, "count": len(ids)})


@blp.route(
    "/workflows/<int:workflow_id>/required_existing_files",
    methods=["GET"],
    endpoint="list_required_existing_files",
)
@blp.response(200, ListRequiredExistingFilesResponse)
@blp.doc(operationId="list_required_existing_files")
def required_existing_files(workflow_id: int) -> Response:
    return wire.json_response({"files": inputs.required_existing_files(workflow_id)})


@blp.route(
    "/workflows/<int:workflow_id>/missing_user_data",
    methods=["GET"],
    endpoint="list_missing_user_data",
)
@blp.response(200, ListMissingUserDataResponse)
@blp.doc(operationId="list_missing_user_data")
def missing_user_data(workflow_id: int) -> Response:
    return wire.json_response({"user_data": inputs.missing_user_data(workflow_id)})
