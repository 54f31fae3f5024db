"""Read-side questions about a workflow's jobs and their inputs."""

from __future__ import annotations

import hashlib

import orjson

from app.models.common import chunks, get_workflow
from app.models.tables import (
    File,
    Job,
    JobDependsOn,
    JobInputFile,
    JobInputUserData,
    JobOutputFile,
    JobOutputUserData,
    UserData,
)


def job_relationships(job_ids: list[int]) -> dict[int, dict[str, list[int]]]:
    """The five relation lists of each job, as the wire model names them."""
    result: dict[int, dict[str, list[int]]] = {
        job_id: {
            "depends_on_job_ids": [],
            "input_file_ids": [],
            "output_file_ids": [],
            "input_user_data_ids": [],
            "output_user_data_ids": [],
        }
        for job_id in job_ids
    }
    for model, column, key in (
        (JobDependsOn, "depends_on_job_id", "depends_on_job_ids"),
        (JobInputFile, "file_id", "input_file_ids"),
        (JobOutputFile, "file_id", "output_file_ids"),
        (JobInputUserData, "user_data_id", "input_user_data_ids"),
        (JobOutputUserData, "user_data_id", "output_user_data_ids"),
    ):
        other = getattr(model, column)
        for part in chunks(job_ids):
            query = model.select(model.job_id, other).where(model.job_id.in_(part)).order_by(other)
            for job_id, other_id in query.tuples():
                result[job_id][key].append(other_id)
    return result


def compute_input_hashes(job_ids: list[int]) -> dict[int, str]:
    """SHA-256 of what defines a job's run.

    Command, invocation script, relations, input user data contents and input file
    modification times: if any differs from when the job last started, it must run again.
    """
    relations = job_relationships(job_ids)
    jobs = {
        row["id"]: row
        for part in chunks(job_ids)
        for row in Job.select(Job.id, Job.command, Job.invocation_script)
        .where(Job.id.in_(part))
        .dicts()
    }
    data_ids = sorted({i for rel in relations.values() for i in rel["input_user_data_ids"]})
    data_by_id = {
        row.id: row.data
        for part in chunks(data_ids)
        for row in UserData.select(UserData.id, UserData.data).where(UserData.id.in_(part))
    }
    file_ids = sorted({i for rel in relations.values() for i in rel["input_file_ids"]})
    mtime_by_id = {
        row.id: row.st_mtime
        for part in chunks(file_ids)
        for row in File.select(File.id, File.st_mtime).where(File.id.in_(part))
    }
    hashes: dict[int, str] = {}
    for job_id in job_ids:
        rel = relations[job_id]
        document = {
            "command": jobs[job_id]["command"],
            "invocation_script": jobs[job_id]["invocation_script"],
            **rel,
            "input_user_data": [data_by_id.get(i) for i in rel["input_user_data_ids"]],
            "input_file_mtimes": [mtime_by_id.get(i) for i in rel["input_file_ids"]],
        }
        hashes[job_id] = hashlib.sha256(
            orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
    return hashes


def required_existing_files(workflow_id: int) -> list[int]:
    """Files some job reads that no job writes: they must exist before the run."""
    get_workflow(workflow_id)
    produced = JobOutputFile.select(JobOutputFile.file_id).where(
        JobOutputFile.workflow_id == workflow_id
    )
    query = (
        JobInputFile.select(JobInputFile.file_id)
        .where(JobInputFile.workflow_id == workflow_id, JobInputFile.file_id.not_in(produced))
        .distinct()
        .order_by(JobInputFile.file_id)
    )
    return [row.file_id for row in query]


def missing_user_data(workflow_id: int) -> list[int]:
    """User data some job reads that holds no data and that no job writes."""
    get_workflow(workflow_id)
    produced = JobOutputUserData.select(JobOutputUserData.user_data_id).where(
        JobOutputUserData.workflow_id == workflow_id
    )
    query = (
        JobInputUserData.select(JobInputUserData.user_data_id)
        .join(UserData, on=(UserData.id == JobInputUserData.user_data_id))
        .where(
            JobInputUserData.workflow_id == workflow_id,
            JobInputUserData.user_data_id.not_in(produced),
            UserData.data.is_null() | (UserData.data == "null"),
        )
        .distinct()
        .order_by(JobInputUserData.user_data_id)
    )
    return [row.user_data_id for row in query]


def job_ids(workflow_id: int) -> list[int]:
    get_workflow(workflow_id)
    return [
        row.id for row in Job.select(Job.id).where(Job.workflow_id == workflow_id).order_by(Job.id)
    ]
