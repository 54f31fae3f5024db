"""Recovery's Slurm side: regenerate schedulers for the jobs still to run and submit the
allocations they need now; diagnose Slurm-killed jobs from sacct and the Slurm logs.

Regeneration is the server's (``app.models.slurm.regenerate_schedulers``): ``torc slurm
regenerate`` asks for it directly, a recovery (``torc recover``, ``torc watch --recover``)
queues it as a background task and waits for its outcome. Either way the client then submits
the due allocations itself, with the user's own environment and credentials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.shared.hpc import HpcProfile
from cli.client import TorcClient, TorcClientError
from cli.slurm.submit import SubmitOptions, run_due_schedule_actions

BACKGROUND_TIMEOUT = 300.0  # seconds a queued regeneration may take before we give up


class RegenerationFailed(TorcClientError):
    """The server could not regenerate the schedulers (the message says why)."""


@dataclass
class RegenerateOptions:
    profile: HpcProfile
    account: str | None = None
    group_by: str = "resource-requirements"
    walltime_strategy: str = "max-job-runtime"
    walltime_multiplier: float = 1.5
    single_allocation: bool = False
    include_job_ids: list[int] = field(default_factory=list)
    dry_run: bool = False
    submit: bool = False
    output_dir: Path = Path("output")
    poll_interval: float | None = None  # None: [client.slurm] poll_interval

    def request(self, background: bool = False) -> dict[str, Any]:
        return {
            "profile": self.profile.as_dict(),
            "account": self.account,
            "group_by": self.group_by,
            "walltime_strategy": self.walltime_strategy,
            "walltime_multiplier": self.walltime_multiplier,
            "single_allocation": self.single_allocation,
            "include_job_ids": self.include_job_ids,
            "dry_run": self.dry_run,
            "background": background,
        }


def regenerate_and_submit(
    client: TorcClient, workflow_id: int, options: RegenerateOptions, background: bool = False
) -> dict[str, Any]:
    """Regenerate (on the server, or as its background task) then, with ``submit``, submit
    the allocations that are due; the result includes ``submitted``."""
    if background:
        result = _wait_for_background(client, workflow_id, options)
    else:
        result = client.regenerate_slurm_schedulers(workflow_id, options.request())
    result["submitted"] = []
    if options.submit and not options.dry_run and not result.get("nothing"):
        submit_options = SubmitOptions(options.output_dir)
        if options.poll_interval is not None:
            submit_options.poll_interval = options.poll_interval
        allocations = run_due_schedule_actions(client, workflow_id, submit_options)
        result["submitted"] = [vars(allocation) for allocation in allocations]
    return result


def _wait_for_background(
    client: TorcClient, workflow_id: int, options: RegenerateOptions
) -> dict[str, Any]:
    queued = client.regenerate_slurm_schedulers(workflow_id, options.request(background=True))
    request_id = queued["request_id"]
    deadline = time.monotonic() + BACKGROUND_TIMEOUT
    delay = 0.05
    while True:
        state = client.slurm_regeneration(workflow_id, request_id)
        if state["status"] == "done":
            return dict(state["result"] or {})
        if state["status"] == "failed":
            raise RegenerationFailed(f"Slurm scheduler regeneration failed: {state['error']}")
        if time.monotonic() > deadline:
            raise RegenerationFailed(
                f"Slurm scheduler regeneration {request_id} did not finish within "
                f"{BACKGROUND_TIMEOUT:g} s (is the server's task queue running?)"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


# --------------------------------------------------------------------------------------------
# What Slurm saw: evidence for diagnosing jobs that died with their allocation
# --------------------------------------------------------------------------------------------


@dataclass
class SlurmEvidence:
    """Why an allocation ended, as sacct and its log files tell."""

    slurm_job_id: int
    cause: str | None = None  # oom or timeout
    reason: str = ""
    peak_memory_bytes: int | None = None  # sacct's largest MaxRSS of a step


def runner_allocations(client: TorcClient, workflow_id: int) -> dict[int, int]:
    """Compute node (runner) ID -> the Slurm job it ran in."""
    from cli.reporting.log_paths import slurm_job_id

    found = {}
    for node in client.list_compute_nodes(workflow_id):
        job = slurm_job_id(node)
        if job and job.isdigit():
            found[node["id"]] = int(job)
    return found


def slurm_evidence(
    client: TorcClient, workflow_id: int, output_dir: Path, slurm_job_ids: set[int]
) -> dict[int, SlurmEvidence]:
    """For each Slurm job: OOM or timeout according to sacct's state (OUT_OF_MEMORY,
    TIMEOUT) or to the errors ``parse-logs`` finds in its output files, and the peak memory
    sacct measured. Slurm being unreachable leaves the evidence to the logs."""
    from app.shared.slurm import SlurmError, accounting_steps, job_state, sacct_json
    from cli.slurm.logs import causes_by_allocation, parse_logs

    errors = parse_logs(None, workflow_id, output_dir) if output_dir.is_dir() else []
    from_logs = causes_by_allocation(errors)
    first_line: dict[int, str] = {}
    for error in errors:
        if error.category == "memory" or "Time Limit" in error.pattern:
            first_line.setdefault(error.slurm_job_id, f"{error.file}:{error.line} {error.pattern}")
    evidence = {}
    for job_id in sorted(slurm_job_ids):
        found = SlurmEvidence(job_id)
        try:
            document = sacct_json(job_id)
        except SlurmError:
            document = {}
        state = job_state(document) if document else None
        peaks = [s.max_rss_bytes for s in accounting_steps(document) if s.max_rss_bytes]
        found.peak_memory_bytes = max(peaks) if peaks else None
        if state == "OUT_OF_MEMORY":
            found.cause, found.reason = "oom", f"sacct: Slurm job {job_id} OUT_OF_MEMORY"
        elif state in ("TIMEOUT", "DEADLINE"):
            found.cause, found.reason = "timeout", f"sacct: Slurm job {job_id} {state}"
        causes = from_logs.get(job_id, set())
        if found.cause is None and causes:
            found.cause = "oom" if "oom" in causes else "timeout"
            found.reason = f"Slurm log: {first_line.get(job_id, '')}".strip()
        evidence[job_id] = found
    return evidence
