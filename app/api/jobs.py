"""Jobs: creation, listing, and the per-job lifecycle calls a runner makes."""

from __future__ import annotations

from typing import Any

from flask import Response

from app.api import wire
from app.api.common import Blueprint, listed, page_of
from app.api.schemas import (
    CreateJobsResponse,
    FailedAttempt,
    JobModel,
    JobsModel,
    ListJobsArgs,
    ResultModel,
    RetryArgs,
    WorkflowIdArgs,
    list_response,
)
from app.errors import InvalidInput
from app.models import jobs as job_records
from app.models import lifecycle, records
from app.models.tables import Job, JobDependsOn, JobInputFile
from app.shared.status import JobStatus

blp = Blueprint("jobs", __name__, description="Jobs and their lifecycle")

SORTABLE = {
    "id",
    "name",
    "command",
    "status",
    "resource_requirements_id",
    "scheduler_id",
    "failure_handler_id",
    "attempt_id",
}


def job_response(job_id: int) -> Response:
    row = records.get_row(Job, job_id, "Job")
    return wire.json_response(wire.jobs([row])[0])


def _status_arg(value: str) -> JobStatus:
    try:
        return JobStatus.parse(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


@blp.route("/jobs", methods=["POST"], endpoint="create_job")
@blp.arguments(JobModel)
@blp.response(200, JobModel)
@blp.doc(operationId="create_job")
def create_job(body: dict[str, Any]) -> Response:
    [job_id] = job_records.create_jobs(body["workflow_id"], [body])
    return job_response(job_id)


@blp.route("/bulk_jobs", methods=["POST"], endpoint="create_jobs")
@blp.arguments(JobsModel)
@blp.response(200, CreateJobsResponse)
@blp.doc(operationId="create_jobs")
def create_jobs(body: dict[str, Any]) -> Response:
    jobs = body["jobs"]
    if not jobs:
        return wire.json_response({"jobs": []})
    job_ids = job_records.create_jobs(jobs[0]["workflow_id"], jobs)
    rows = list(Job.select().where(Job.id.in_(job_ids)).order_by(Job.id).dicts())
    return wire.json_response({"jobs": wire.jobs(rows)})


@blp.route("/jobs", methods=["GET"], endpoint="list_jobs")
@blp.arguments(ListJobsArgs, location="query")
@blp.response(200, list_response(JobModel, "ListJobsResponse"))
@blp.doc(operationId="list_jobs")
def list_jobs(args: dict[str, Any]) -> Response:
    page = page_of(args)
    conditions = [Job.workflow_id == args["workflow_id"]]
    if args.get("status"):
        conditions.append(Job.status == int(_status_arg(args["status"])))
    if args.get("active_compute_node_id") is not None:
        conditions.append(Job.active_compute_node_id == args["active_compute_node_id"])
    if args.get("needs_file_id") is not None:
        readers = JobInputFile.select(JobInputFile.job_id).where(
            JobInputFile.file_id == args["needs_file_id"]
        )
        conditions.append(Job.id.in_(readers))
    if args.get("upstream_job_id") is not None:
        dependents = JobDependsOn.select(JobDependsOn.job_id).where(
            JobDependsOn.depends_on_job_id == args["upstream_job_id"]
        )
        conditions.append(Job.id.in_(dependents))
    rows, total = records.list_page(Job, conditions, page, SORTABLE)
    items = wire.jobs(rows, with_relations=bool(args.get("include_relationships")))
    return wire.json_response(wire.list_envelope(items, page, total))


@blp.route("/jobs", methods=["DELETE"], endpoint="delete_jobs")
@blp.arguments(WorkflowIdArgs, location="query")
@blp.response(200)
@blp.doc(operationId="delete_jobs")
def delete_jobs(args: dict[str, Any]) -> Response:
    return wire.json_response({"count": job_records.delete_jobs(args["workflow_id"])})


@blp.route("/jobs/<int:job_id>", methods=["GET"], endpoint="get_job")
@blp.response(200, JobModel)
@blp.doc(operationId="get_job")
def get_job(job_id: int) -> Response:
    return job_response(job_id)


@blp.route("/jobs/<int:job_id>", methods=["PUT"], endpoint="update_job")
@blp.arguments(JobModel)
@blp.response(200, JobModel)
@blp.doc(operationId="update_job")
def update_job(body: dict[str, Any], job_id: int) -> Response:
    job_records.update_job(job_id, body)
    return job_response(job_id)


@blp.route("/jobs/<int:job_id>", methods=["DELETE"], endpoint="delete_job")
@blp.response(200, JobModel)
@blp.doc(operationId="delete_job")
def delete_job(job_id: int) -> Response:
    return wire.json_response(wire.job(job_records.delete_job(job_id)))


@blp.route(
    "/jobs/<int:job_id>/start_job/<int:run_id>/<int:compute_node_id>",
    methods=["PUT"],
    endpoint="start_job",
)
@blp.response(200, JobModel)
@blp.doc(operationId="start_job")
def start_job(job_id: int, run_id: int, compute_node_id: int) -> Response:
    lifecycle.start_job(job_id, run_id, compute_node_id)
    return job_response(job_id)


@blp.route(
    "/jobs/<int:job_id>/complete_job/<status>/<int:run_id>",
    methods=["POST"],
    endpoint="complete_job",
)
@blp.arguments(ResultModel)
@blp.response(200, JobModel)
@blp.doc(operationId="complete_job")
def complete_job(result: dict[str, Any], job_id: int, status: str, run_id: int) -> Response:
    lifecycle.complete_job(job_id, _status_arg(status), run_id, result)
    return job_response(job_id)


@blp.route(
    "/jobs/<int:job_id>/manage_status_change/<status>/<int:run_id>",
    methods=["PUT"],
    endpoint="manage_status_change",
)
@blp.response(200, JobModel)
@blp.doc(operationId="manage_status_change")
def manage_status_change(job_id: int, status: str, run_id: int) -> Response:
    lifecycle.manage_status_change(job_id, _status_arg(status), run_id)
    return job_response(job_id)


@blp.route("/jobs/<int:job_id>/retry/<int:run_id>", methods=["POST"], endpoint="retry_job")
@blp.arguments(RetryArgs, location="query")
@blp.arguments(FailedAttempt, required=False)
@blp.response(200, JobModel)
@blp.doc(operationId="retry_job")
def retry_job(args: dict[str, Any], failed: dict[str, Any], job_id: int, run_id: int) -> Response:
    """Reserve another attempt; a body, if given, is recorded as the failed attempt's result."""
    lifecycle.retry_job(job_id, run_id, args["max_retries"], failed or None)
    return job_response(job_id)


def listed_jobs(rows: list[dict[str, Any]], page: records.Page, total: int) -> Response:
    return listed(rows, wire.job, page, total)
