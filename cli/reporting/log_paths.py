"""Where runners write a workflow's files, relative to the output directory.

Local runner (runner/runner.py, docs/running.md): ``job_stdio/job_wf{W}_j{J}_r{R}_a{A}.o|.e``,
``job_runner_{host}_{W}_{R}.log`` (the seed's name),
``resource_utilization/resource_metrics_{host}_{W}_{R}.db``. Slurm runners (CLARIFICATIONS
60, 97): ``job_runner_slurm_wf{W}_sl{JOB}_n{NODE}_pid{PID}.log``,
``slurm_output_wf{W}_sl{JOB}.o|.e``, ``slurm_env_…``/``dmesg_slurm_…`` logs and
``resource_metrics_{JOB}_{NODE}_{PID}.db``. ``torc watch`` logs to ``watch_{host}_wf{W}.log``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import orjson

WORKFLOW_IN_NAME = re.compile(r"(?:^|_)wf(\d+)_")
# job_runner_{host}_{W}_{R}.log; the host may contain "_", the two numbers end the name.
LOCAL_RUNNER_LOG = re.compile(r"job_runner_(?!slurm_wf\d).+_(\d+)_\d+\.log")


def job_stdio_path(
    output_dir: str, workflow_id: int, job_id: int, run_id: int, attempt_id: int, stream: str
) -> str:
    """``stream`` is ``o`` (stdout) or ``e`` (stderr)."""
    name = f"job_wf{workflow_id}_j{job_id}_r{run_id}_a{attempt_id}.{stream}"
    return os.path.join(output_dir, "job_stdio", name)


def local_runner_log_path(output_dir: str, hostname: str, workflow_id: int, run_id: int) -> str:
    return os.path.join(output_dir, f"job_runner_{hostname}_{workflow_id}_{run_id}.log")


def slurm_runner_log_path(
    output_dir: str, workflow_id: int, slurm_job_id: str, node: str, pid: int
) -> str:
    name = f"job_runner_slurm_wf{workflow_id}_sl{slurm_job_id}_n{node}_pid{pid}.log"
    return os.path.join(output_dir, name)


def slurm_output_path(output_dir: str, workflow_id: int, slurm_job_id: str, stream: str) -> str:
    return os.path.join(output_dir, f"slurm_output_wf{workflow_id}_sl{slurm_job_id}.{stream}")


def slurm_job_id(compute_node: dict[str, Any]) -> str | None:
    """The Slurm job ID a Slurm runner stored in its compute node's ``scheduler`` field."""
    scheduler = compute_node.get("scheduler")
    if isinstance(scheduler, str):
        try:
            scheduler = orjson.loads(scheduler)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(scheduler, dict) or scheduler.get("slurm_job_id") in (None, ""):
        return None
    return str(scheduler["slurm_job_id"])


def log_name_patterns(workflow_id: int) -> list[re.Pattern[str]]:
    """File names of the workflow's text logs (any run, attempt, host or Slurm job)."""
    w = workflow_id
    return [
        re.compile(rf"job_wf{w}_j\d+_r\d+(?:_a\d+)?\.[oe]"),
        re.compile(rf"job_runner_(?!slurm_wf\d).+_{w}_\d+\.log"),
        re.compile(rf"job_runner_slurm_wf{w}_sl.+\.log"),
        re.compile(rf"slurm_output_wf{w}_sl\d+\.[oe]"),
        re.compile(rf"slurm_env_wf{w}_sl.+\.log"),
        re.compile(rf"dmesg_slurm_wf{w}_sl.+\.log"),
        re.compile(rf"watch_.+_wf{w}\.log"),
    ]


def metrics_name_patterns(
    workflow_id: int, compute_nodes: Iterable[dict[str, Any]]
) -> list[re.Pattern[str]]:
    """File names of the workflow's time-series databases, from the runners that worked on it."""
    patterns = []
    for node in compute_nodes:
        job = slurm_job_id(node)
        label = (
            rf"{re.escape(job)}_.+" if job else rf"{re.escape(node['hostname'])}_{workflow_id}_\d+"
        )
        patterns.append(re.compile(rf"resource_metrics_{label}\.db"))
    return patterns


def matches_any(name: str, patterns: Iterable[re.Pattern[str]]) -> bool:
    return any(pattern.fullmatch(name) for pattern in patterns)


def workflow_ids_in_names(names: Iterable[str]) -> set[int]:
    """Workflow IDs named by log files (``…wf{W}_…``, or a local runner log's ``_{W}_{R}``)."""
    found = set()
    for name in names:
        local = LOCAL_RUNNER_LOG.fullmatch(name)
        match = local or WORKFLOW_IN_NAME.search(name)
        if match:
            found.add(int(match.group(1)))
    return found
