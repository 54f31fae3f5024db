"""``torc slurm sacct``: Slurm's accounting for every allocation of a workflow, one row per
job step, and optionally sacct's full JSON per allocation (``sacct_<jobid>.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.shared.slurm import SlurmError, StepAccounting, accounting_steps, sacct_json
from cli.client import TorcClient


@dataclass
class AccountingSummary:
    workflow_id: int
    steps: list[StepAccounting] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "steps": [step.as_json() for step in self.steps],
            "total_steps": len(self.steps),
            "saved_files": self.saved,
            "problems": self.problems,
        }


def slurm_job_ids(client: TorcClient, workflow_id: int) -> list[int]:
    return sorted(
        {
            int(node["scheduler_id"])
            for node in client.list_scheduled_compute_nodes(workflow_id)
            if node.get("scheduler_type") == "slurm" and int(node.get("scheduler_id") or 0) > 0
        }
    )


def collect(
    client: TorcClient, workflow_id: int, save_json_dir: Path | None = None
) -> AccountingSummary:
    """sacct for each of the workflow's Slurm jobs; a job sacct cannot answer for is noted
    (the others are still shown)."""
    summary = AccountingSummary(workflow_id)
    for job_id in slurm_job_ids(client, workflow_id):
        try:
            document = sacct_json(job_id)
        except SlurmError as exc:
            summary.problems.append(f"Slurm job {job_id}: {exc}")
            continue
        summary.steps.extend(accounting_steps(document))
        if save_json_dir is not None:
            save_json_dir.mkdir(parents=True, exist_ok=True)
            path = save_json_dir / f"sacct_{job_id}.json"
            path.write_text(json.dumps(document, indent=2) + "\n")
            summary.saved.append(str(path))
    return summary


def format_duration(seconds: int) -> str:
    """``2h 15m``, ``45m 30s``, ``1m 30s``, ``8s``."""
    hours, rest = divmod(max(int(seconds), 0), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_bytes(count: int | None) -> str:
    """``4.5GB``, ``128.0MB`` (binary units, as sacct's K/M/G)."""
    if count is None:
        return "-"
    if count >= 1024**3:
        return f"{count / 1024**3:.1f}GB"
    if count >= 1024**2:
        return f"{count / 1024**2:.1f}MB"
    return f"{count / 1024:.1f}KB"


def table_rows(summary: AccountingSummary) -> list[dict[str, Any]]:
    return [
        {
            "slurm_job": step.slurm_job_id,
            "step": step.step,
            "state": step.state,
            "exit_code": step.exit_code,
            "elapsed": format_duration(step.elapsed_seconds),
            "max_rss": format_bytes(step.max_rss_bytes),
            "cpu_time": format_duration(step.cpu_seconds),
            "nodes": step.nodes,
        }
        for step in summary.steps
    ]
