"""Creating, updating and deleting jobs and their relations.

Bulk creation validates every reference of every job first, then inserts everything in one
transaction: either all jobs exist afterwards or none do.
"""

from __future__ import annotations

from typing import Any

from app.errors import InvalidInput
from app.models import lifecycle, sql
from app.models.common import chunks, get_job, get_workflow, require_same_workflow
from app.models.db import write_transaction
from app.models.events import id_list, record_event
from app.models.records import default_resource_requirements_id
from app.models.tables import (
    BaseModel,
    FailureHandler,
    File,
    Job,
    JobDependsOn,
    JobInputFile,
    JobInputUserData,
    JobOutputFile,
    JobOutputUserData,
    LocalScheduler,
    ResourceRequirements,
    SlurmScheduler,
    UserData,
)
from app.shared.status import JobStatus

# wire list field -> (relation table, its column, referenced table)
# Each relation list of the wire model: (link table, its column for the other record, that record).
RELATIONS: dict[str, tuple[type[BaseModel], str, type[BaseModel]]] = {
    "depends_on_job_ids": (JobDependsOn, "depends_on_job_id", Job),
    "input_file_ids": (JobInputFile, "file_id", File),
    "output_file_ids": (JobOutputFile, "file_id", File),
    "input_user_data_ids": (JobInputUserData, "user_data_id", UserData),
    "output_user_data_ids": (JobOutputUserData, "user_data_id", UserData),
}
SCALAR_FIELDS = (
    "name",
    "command",
    "invocation_script",
    "cancel_on_blocking_job_failure",
    "supports_termination",
    "resource_requirements_id",
    "scheduler_id",
    "failure_handler_id",
    "attempt_id",
)
CREATABLE_STATUSES = (JobStatus.UNINITIALIZED, JobStatus.DISABLED)


def create_jobs(workflow_id: int, jobs: list[dict[str, Any]]) -> list[int]:
    """Insert jobs (with their relations) into one workflow; return their IDs in order."""
    with write_transaction():
        get_workflow(workflow_id)
        for job in jobs:
            if int(job["workflow_id"]) != workflow_id:
                raise InvalidInput(
                    f"all jobs of one request must belong to one workflow; job {job['name']!r} "
                    f"names workflow {job['workflow_id']}, not {workflow_id}"
                )
        _check_references(workflow_id, jobs)
        default_rr = default_resource_requirements_id(workflow_id)
        rows = [_job_row(workflow_id, job, default_rr) for job in jobs]
        job_ids: list[int] = []
        for part in chunks(rows):
            inserted = Job.insert_many(part).returning(Job.id).execute()
            job_ids.extend(row.id for row in inserted)
        _insert_relations(workflow_id, list(zip(job_ids, jobs, strict=True)))
        record_event(workflow_id, "job", "jobs_created", **id_list(job_ids))
        return job_ids


def _job_row(workflow_id: int, job: dict[str, Any], default_rr: int) -> dict[str, Any]:
    """A complete row (every column present, so one multi-row INSERT fits all)."""

    def given(key: str, default: Any) -> Any:
        value = job.get(key)
        return default if value is None else value

    return {
        "workflow_id": workflow_id,
        "name": job["name"],
        "command": job["command"],
        "invocation_script": job.get("invocation_script"),
        "status": int(_creation_status(job)),
        "cancel_on_blocking_job_failure": bool(given("cancel_on_blocking_job_failure", True)),
        "supports_termination": bool(given("supports_termination", False)),
        "resource_requirements_id": given("resource_requirements_id", default_rr),
        "scheduler_id": job.get("scheduler_id"),
        "failure_handler_id": job.get("failure_handler_id"),
        "attempt_id": given("attempt_id", 1),
        "unfinished_blockers": 0,
        "has_failed_blocker": False,
    }


def _creation_status(job: dict[str, Any]) -> JobStatus:
    if job.get("status") is None:
        return JobStatus.UNINITIALIZED
    status = JobStatus.parse(job["status"])
    if status not in CREATABLE_STATUSES:
        raise InvalidInput(
            f"job {job.get('name')!r}: a new job's status must be uninitialized or disabled, "
            f"not {status.label}"
        )
    return status


def _check_references(workflow_id: int, jobs: list[dict[str, Any]]) -> None:
    """Every referenced ID, across all jobs, must exist in this workflow."""
    wanted: dict[str, set[int]] = {}
    for job in jobs:
        for key in (*RELATIONS, "resource_requirements_id", "failure_handler_id"):
            value = job.get(key)
            if value is None:
                continue
            ids = value if isinstance(value, list) else [value]
            wanted.setdefault(key, set()).update(int(i) for i in ids)
    tables = {key: table for key, (_, _, table) in RELATIONS.items()}
    tables["resource_requirements_id"] = ResourceRequirements
    tables["failure_handler_id"] = FailureHandler
    for key, wanted_ids in wanted.items():
        require_same_workflow(tables[key], sorted(wanted_ids), workflow_id, key)
    scheduler_ids = sorted({int(job["scheduler_id"]) for job in jobs if job.get("scheduler_id")})
    if scheduler_ids:
        _check_scheduler_ids(workflow_id, scheduler_ids)


def _check_scheduler_ids(workflow_id: int, scheduler_ids: list[int]) -> None:
    known = {
        row.id
        for model in (SlurmScheduler, LocalScheduler)
        for row in model.select(model.id).where(
            model.workflow_id == workflow_id, model.id.in_(scheduler_ids)
        )
    }
    missing = [i for i in scheduler_ids if i not in known]
    if missing:
        raise InvalidInput(
            f"scheduler_id {', '.join(map(str, missing))} not found in workflow {workflow_id}",
            details={"field": "scheduler_id", "ids": missing},
        )


def _insert_relations(workflow_id: int, created: list[tuple[int, dict[str, Any]]]) -> None:
    for key, (table, column, _) in RELATIONS.items():
        rows = [
            {"job_id": job_id, column: int(other), "workflow_id": workflow_id}
            for job_id, job in created
            for other in dict.fromkeys(job.get(key) or ())
        ]
        if key == "depends_on_job_ids":
            for row in rows:
                if row["job_id"] == row[column]:
                    raise InvalidInput(f"job {row['job_id']} cannot depend on itself")
        for part in chunks(rows):
            table.insert_many(part).on_conflict_ignore().execute()


def update_job(job_id: int, values: dict[str, Any]) -> None:
    """Replace a job's fields; relation lists that are given replace the stored ones.

    A changed ``status`` goes through the lifecycle, so its consequences follow.
    """
    with write_transaction():
        job = get_job(job_id)
        workflow_id = job.workflow_id
        if values.get("workflow_id") is not None and int(values["workflow_id"]) != workflow_id:
            raise InvalidInput(f"job {job_id} belongs to workflow {workflow_id}")
        _check_references(workflow_id, [values])
        scalars = {key: values[key] for key in SCALAR_FIELDS if values.get(key) is not None}
        if scalars:
            Job.update(**scalars).where(Job.id == job_id).execute()
        for key, (table, _column, _) in RELATIONS.items():
            if values.get(key) is not None:
                table.delete().where(table.job_id == job_id).execute()
        _insert_relations(workflow_id, [(job_id, values)])
        if values.get("status") is not None:
            status = JobStatus.parse(values["status"])
            if status != job.status:
                lifecycle.set_job_status(job_id, status)


def delete_job(job_id: int) -> dict[str, Any]:
    with write_transaction():
        job = get_job(job_id)
        row = Job.select().where(Job.id == job_id).dicts().get()
        Job.delete().where(Job.id == job_id).execute()
        record_event(job.workflow_id, "job", "job_deleted", job_id=job_id, job_name=job.name)
        return row


def delete_jobs(workflow_id: int) -> int:
    from app.models.purge import delete_owned_rows  # in chunks: other requests go between

    count = delete_owned_rows(Job, workflow_id)
    with write_transaction():
        get_workflow(workflow_id)
        record_event(workflow_id, "job", "jobs_deleted", count=count)
    return count


def link_user_data(
    user_data_id: int, workflow_id: int, consumer_job_id: int | None, producer_job_id: int | None
) -> None:
    """Record which job reads and which writes a user-data record (create_user_data)."""
    for job_id, table in (
        (consumer_job_id, JobInputUserData),
        (producer_job_id, JobOutputUserData),
    ):
        if job_id is None:
            continue
        require_same_workflow(Job, [job_id], workflow_id, "job_id")
        table.insert(
            job_id=job_id, user_data_id=user_data_id, workflow_id=workflow_id
        ).on_conflict_ignore().execute()


def status_counts(workflow_id: int) -> dict[str, int]:
    """Jobs of the workflow per status name; every status is present (zero when unused)."""
    get_workflow(workflow_id)
    rows = sql.fetch(
        "SELECT status, COUNT(*) FROM job WHERE workflow_id = ? GROUP BY status", [workflow_id]
    )
    counts = dict.fromkeys((status.label for status in JobStatus), 0)
    for code, count in rows:
        counts[JobStatus(code).label] = count
    return counts
