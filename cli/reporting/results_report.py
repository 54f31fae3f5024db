"""The ``reports results`` report: each result with the paths of every log that belongs to it."""

from __future__ import annotations

import os
from typing import Any

from app.shared.status import status_title
from cli.reporting.log_paths import (
    job_stdio_path,
    local_runner_log_path,
    slurm_job_id,
    slurm_output_path,
    slurm_runner_log_path,
)

LogCheck = tuple[str, int, str]  # (kind, job ID, path)


def node_log_fields(
    node: dict[str, Any] | None, output_dir: str, workflow_id: int, run_id: int
) -> dict[str, Any]:
    """compute_node_type, job_runner_log and the Slurm fields for the node that ran a job."""
    fields: dict[str, Any] = dict.fromkeys(
        ("compute_node_type", "job_runner_log", "slurm_job_id", "slurm_stdout", "slurm_stderr")
    )
    if node is None:
        return fields
    fields["compute_node_type"] = node.get("compute_node_type")
    if node.get("compute_node_type") == "local":
        fields["job_runner_log"] = local_runner_log_path(
            output_dir, node["hostname"], workflow_id, run_id
        )
    elif (job := slurm_job_id(node)) is not None:
        fields["slurm_job_id"] = job
        fields["job_runner_log"] = slurm_runner_log_path(
            output_dir, workflow_id, job, node["hostname"], node["pid"]
        )
        fields["slurm_stdout"] = slurm_output_path(output_dir, workflow_id, job, "o")
        fields["slurm_stderr"] = slurm_output_path(output_dir, workflow_id, job, "e")
    return fields


def result_record(
    result: dict[str, Any],
    job_name: str | None,
    node: dict[str, Any] | None,
    output_dir: str,
) -> dict[str, Any]:
    workflow_id, job_id, run_id = result["workflow_id"], result["job_id"], result["run_id"]
    attempt = result.get("attempt_id") or 1
    return {
        "job_id": job_id,
        "job_name": job_name,
        "status": status_title(result["status"]),
        "run_id": run_id,
        "return_code": result["return_code"],
        "completion_time": result.get("completion_time"),
        "exec_time_minutes": result.get("exec_time_minutes"),
        "compute_node_id": result.get("compute_node_id"),
        "job_stdout": job_stdio_path(output_dir, workflow_id, job_id, run_id, attempt, "o"),
        "job_stderr": job_stdio_path(output_dir, workflow_id, job_id, run_id, attempt, "e"),
        **node_log_fields(node, output_dir, workflow_id, run_id),
    }


def log_checks(record: dict[str, Any]) -> list[LogCheck]:
    """(kind, job ID, path) of every log file the record names, in upstream's kinds."""
    slurm = record.get("compute_node_type") == "slurm"
    kinds = [
        ("job stdout", "job_stdout"),
        ("job stderr", "job_stderr"),
        ("slurm job runner" if slurm else "job runner", "job_runner_log"),
        ("slurm stdout", "slurm_stdout"),
        ("slurm stderr", "slurm_stderr"),
    ]
    return [(kind, record["job_id"], record[key]) for kind, key in kinds if record.get(key)]


def missing_log_warnings(records: list[dict[str, Any]]) -> list[str]:
    return [
        f"Warning: {kind} log file does not exist for job {job_id}: {path}"
        for record in records
        for kind, job_id, path in log_checks(record)
        if not os.path.exists(path)
    ]


def results_report(
    workflow: dict[str, Any], all_runs: bool, records: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "workflow_id": workflow["id"],
        "workflow_name": workflow.get("name"),
        "workflow_user": workflow.get("user"),
        "all_runs": all_runs,
        "total_results": len(records),
        "results": records,
    }
