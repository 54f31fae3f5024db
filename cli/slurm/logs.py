"""``torc slurm parse-logs``: known errors in a workflow's Slurm output files, with the torc
jobs that ran in each allocation.

The files are ``<output>/slurm_output_wf<W>_sl<jobid>.o/.e`` (what sbatch writes: Slurm's own
messages and the runner's warnings) plus the runner's ``dmesg_slurm_…`` captures; the
patterns are ``cli.reporting.log_patterns``'s (the seed's list). A Slurm job ID leads to its
scheduled compute node, its runners (compute nodes) and the jobs they ran or were running.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.client import TorcClient
from cli.reporting.log_patterns import scan_lines

OUTPUT_FILE = re.compile(r"slurm_output_wf(\d+)_sl(\d+)\.([oe])$")
DMESG_FILE = re.compile(r"dmesg_slurm_wf(\d+)_sl(\d+)_n\d+_pid\d+\.log$")
SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2}


@dataclass
class LogError:
    file: str
    slurm_job_id: int
    line: int
    pattern: str
    category: str
    severity: str
    text: str
    affected_jobs: list[dict[str, Any]] = field(default_factory=list)

    def affected_text(self) -> str:
        return ", ".join(f"{job['name']} (ID: {job['id']})" for job in self.affected_jobs)

    def as_json(self) -> dict[str, Any]:
        return dict(vars(self))


def slurm_log_files(output_dir: Path, workflow_id: int) -> list[tuple[Path, int]]:
    """The workflow's Slurm output and dmesg files, with their Slurm job IDs."""
    found = []
    for path in sorted(output_dir.glob(f"*_wf{workflow_id}_sl*")):
        match = OUTPUT_FILE.search(path.name) or DMESG_FILE.search(path.name)
        if match and int(match.group(1)) == workflow_id:
            found.append((path, int(match.group(2))))
    return found


def jobs_by_allocation(client: TorcClient, workflow_id: int) -> dict[int, list[dict[str, Any]]]:
    """Slurm job ID -> the torc jobs that ran (or were running) in that allocation."""
    allocations = {
        node["id"]: int(node["scheduler_id"])
        for node in client.list_scheduled_compute_nodes(workflow_id)
        if node.get("scheduler_type") == "slurm"
    }
    runner_to_slurm: dict[int, int] = {}
    for runner in client.list_compute_nodes(workflow_id):
        scn_id = runner.get("scheduled_compute_node_id") or _scheduler_field(runner)
        if scn_id in allocations:
            runner_to_slurm[runner["id"]] = allocations[scn_id]
    names = {job["id"]: job["name"] for job in client.list_jobs(workflow_id)}
    found: dict[int, dict[int, dict[str, Any]]] = {}
    for result in client.list_results(workflow_id, all_runs=True):
        node_id = result.get("compute_node_id")
        slurm_job = None if node_id is None else runner_to_slurm.get(node_id)
        if slurm_job is not None:
            job_id = result["job_id"]
            found.setdefault(slurm_job, {})[job_id] = {"id": job_id, "name": names.get(job_id)}
    return {key: sorted(value.values(), key=lambda j: j["id"]) for key, value in found.items()}


def _scheduler_field(runner: dict[str, Any]) -> int | None:
    scheduler = runner.get("scheduler")
    if isinstance(scheduler, dict):
        value = scheduler.get("scheduled_compute_node_id")
        return int(value) if value is not None else None
    return None


def parse_logs(
    client: TorcClient | None, workflow_id: int, output_dir: Path, errors_only: bool = False
) -> list[LogError]:
    """Every known error in the workflow's Slurm logs, in file and line order."""
    files = slurm_log_files(output_dir, workflow_id)
    affected = jobs_by_allocation(client, workflow_id) if client is not None and files else {}
    found = []
    for path, slurm_job in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for finding in scan_lines(handle):
                if errors_only and finding.pattern.severity == "warning":
                    continue
                found.append(
                    LogError(
                        file=path.name,
                        slurm_job_id=slurm_job,
                        line=finding.line_number,
                        pattern=finding.pattern.name,
                        category=finding.pattern.category,
                        severity=finding.pattern.severity,
                        text=finding.text,
                        affected_jobs=affected.get(slurm_job, []),
                    )
                )
    return found


def causes_by_allocation(errors: Iterable[LogError]) -> dict[int, set[str]]:
    """Slurm job ID -> the failure causes its logs show: ``oom`` and/or ``timeout``."""
    causes: dict[int, set[str]] = {}
    for error in errors:
        if error.category == "memory" or error.pattern == "Slurm Step Limit Exceeded":
            causes.setdefault(error.slurm_job_id, set()).add("oom")
        elif error.pattern in ("Slurm Time Limit", "Slurm Timeout"):
            causes.setdefault(error.slurm_job_id, set()).add("timeout")
    return causes
