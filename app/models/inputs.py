"""Read-side questions about a workflow's jobs and their inputs."""

from __future__ import annotations

import hashlib

import orjson

from app.models import sql
from app.models.common import chunks, get_workflow
from app.models.tables import (
    Job,
    JobInputFile,
    JobInputUserData,
    JobOutputFile,
    JobOutputUserData,
    UserData,
)

RELATION_TABLES = (
    ("depends_on_job_ids", "job_depends_on", "depends_on_job_id"),
    ("input_file_ids", "job_input_file", "file_id"),
    ("output_file_ids", "job_output_file", "file_id"),
    ("input_user_data_ids", "job_input_user_data", "user_data_id"),
    ("output_user_data_ids", "job_output_user_data", "user_data_id"),
)


def job_relationships(job_ids: list[int]) -> dict[int, dict[str, list[int]]]:
    """The five relation lists of each job, as the wire model names them (one query)."""
    result: dict[int, dict[str, list[int]]] = {
        job_id: {key: [] for key, _, _ in RELATION_TABLES} for job_id in job_ids
    }
    for part in chunks(job_ids):
        marks = sql.marks(len(part))
        union = " UNION ALL ".join(
            f"SELECT {kind}, job_id, {column} FROM {table} WHERE job_id IN ({marks})"
            for kind, (_, table, column) in enumerate(RELATION_TABLES)
        )
        rows = sql.fetch(f"{union} ORDER BY 1, 3", [*part] * len(RELATION_TABLES))
        for kind, job_id, other_id in rows:
            result[job_id][RELATION_TABLES[kind][0]].append(other_id)
    return result


JOB_COLUMNS = [field.column_name for field in Job._meta.sorted_fields]


def job_rows(job_ids: list[int]) -> list[dict]:
    """Job rows as dicts (``.dicts()`` shape, booleans as bool), by hand-written SQL."""
    rows: list[dict] = []
    booleans = ("cancel_on_blocking_job_failure", "supports_termination", "has_failed_blocker")
    for part in chunks(job_ids):
        for values in sql.fetch(
            f"SELECT {', '.join(JOB_COLUMNS)} FROM job WHERE id IN ({sql.marks(len(part))})",
            part,
        ):
            row = dict(zip(JOB_COLUMNS, values, strict=True))
            for key in booleans:
                row[key] = bool(row[key])
            rows.append(row)
    return rows


def compute_input_hashes(job_ids: list[int]) -> dict[int, str]:
    """SHA-256 of what defines a job's run.

    Command, invocation script, relations, input user data contents and input file
    modification times: if any differs from when the job last started, it must run again.
    """
    relations = job_relationships(job_ids)
    commands = _column_by_id("job", "command, invocation_script", job_ids)
    data_ids = sorted({i for rel in relations.values() for i in rel["input_user_data_ids"]})
    data_by_id = _column_by_id("user_data", "data", data_ids)
    file_ids = sorted({i for rel in relations.values() for i in rel["input_file_ids"]})
    mtime_by_id = _column_by_id("file", "st_mtime", file_ids)
    hashes: dict[int, str] = {}
    for job_id in job_ids:
        rel = relations[job_id]
        command, script = commands[job_id]
        document = {
            "command": command,
            "invocation_script": script,
            **rel,
            "input_user_data": [data_by_id.get(i, (None,))[0] for i in rel["input_user_data_ids"]],
            "input_file_mtimes": [mtime_by_id.get(i, (None,))[0] for i in rel["input_file_ids"]],
        }
        hashes[job_id] = hashlib.sha256(
            orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
    return hashes


def _column_by_id(table: str, columns: str, ids: list[int]) -> dict[int, tuple]:
    found: dict[int, tuple] = {}
    for part in chunks(ids):
        rows = sql.fetch(
            f"SELECT id, {columns} FROM {table} WHERE id IN ({sql.marks(len(part))})", part
        )
        found.update((row[0], row[1:]) for row in rows)
    return found


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
