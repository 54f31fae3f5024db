"""Recover a finished workflow's failed jobs: behind ``torc recover`` and ``torc watch -r``.

The steps, in order: hand orphaned jobs back (runners that died), refuse while the workflow
is still running, diagnose every failed or terminated job from its last result (out of
memory, timeout, unknown), raise the memory or runtime of the resource requirements the
recoverable jobs use, run the user's recovery hook, then reset those jobs (their downstream
follows) and start a new run. ``--dry-run`` stops after the plan.

Output lines follow the seed's texts; they go through ``say`` so ``torc watch`` can copy them
to its log file.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from app.shared.status import FAILURE_NAMES, ORPHAN_RETURN_CODE, UNDERWAY_NAMES
from app.shared.units import (
    format_memory,
    format_runtime_minutes,
    parse_memory,
    parse_runtime,
)
from cli.client import TorcClient, TorcClientError
from cli.reporting.diagnosis import Requirements, diagnose_failure
from cli.workflow_manager import bump_run

Say = Callable[[str], None]


class RecoveryError(TorcClientError):
    """Recovery cannot go ahead (still running, hook failed, nothing to do)."""


@dataclass
class RecoveryOptions:
    memory_multiplier: float = 1.5
    runtime_multiplier: float = 1.4
    retry_unknown: bool = False
    recovery_hook: str | None = None
    dry_run: bool = False


@dataclass
class Diagnosis:
    job_id: int
    job_name: str
    cause: str  # oom, timeout, runner_lost or unknown
    details: dict[str, Any]


@dataclass
class Change:
    """New memory or runtime for one resource requirements record."""

    resource_requirements_id: int
    name: str
    field: str  # memory or runtime
    old: str | None
    new: str
    job_ids: list[int]


@dataclass
class RecoveryReport:
    workflow_id: int
    dry_run: bool
    orphans: dict[str, int] = field(default_factory=dict)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    retry_job_ids: list[int] = field(default_factory=list)
    skipped_job_ids: list[int] = field(default_factory=list)
    hook_ran: bool = False
    run_id: int | None = None

    def count(self, cause: str) -> int:
        return sum(1 for diagnosis in self.diagnoses if diagnosis.cause == cause)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "dry_run": self.dry_run,
            "orphans": self.orphans,
            "failed_jobs": [
                {
                    "job_id": d.job_id,
                    "job_name": d.job_name,
                    "cause": d.cause,
                    "return_code": d.details.get("return_code"),
                    "oom_reason": d.details.get("oom_reason"),
                    "timeout_reason": d.details.get("timeout_reason"),
                    "termination_reason": d.details.get("termination_reason"),
                    "peak_memory_bytes": d.details.get("peak_memory_bytes"),
                    "exec_time_minutes": d.details.get("exec_time_minutes"),
                }
                for d in self.diagnoses
            ],
            "resource_changes": [vars(change) for change in self.changes],
            "oom_fixes": self.count("oom"),
            "timeout_fixes": self.count("timeout"),
            "retried_job_ids": self.retry_job_ids,
            "skipped_job_ids": self.skipped_job_ids,
            "recovery_hook_ran": self.hook_ran,
            "run_id": self.run_id,
        }


# --------------------------------------------------------------------------------------------
# Step 1 and 2: orphans, then make sure nothing is running
# --------------------------------------------------------------------------------------------


def lost_local_runners(nodes: list[dict[str, Any]]) -> list[int]:
    """Active runners on this host whose process is gone."""
    hostname = socket.gethostname()
    return [
        node["id"]
        for node in nodes
        if node.get("hostname") == hostname
        and node.get("compute_node_type", "local") == "local"
        and not psutil.pid_exists(int(node.get("pid") or 0))
    ]


def active_runners(client: TorcClient, workflow_id: int) -> list[dict[str, Any]]:
    return list(client.list_compute_nodes(workflow_id, is_active=True))


def clean_orphans(client: TorcClient, workflow_id: int) -> dict[str, int]:
    """Runners on this host whose process is gone are lost; the server does the rest (silent
    runners, running jobs without a runner)."""
    lost = lost_local_runners(active_runners(client, workflow_id))
    return client.detect_orphans(workflow_id, lost)


def poll_orphans(client: TorcClient, workflow_id: int) -> dict[str, int] | None:
    """``torc watch``'s check at every poll, cheap while runners are alive: orphan detection
    runs when a runner on this host died, or when no runner is left while jobs are still
    claimed or running (the local counterpart of "no valid Slurm allocation exists")."""
    active = active_runners(client, workflow_id)
    lost = lost_local_runners(active)
    if not lost and active:
        return None
    if not lost:
        counts = client.job_status_counts(workflow_id)
        if not (counts.get("running") or counts.get("pending")):
            return None
    return client.detect_orphans(workflow_id, lost)


def orphan_line(orphans: dict[str, int] | None) -> str | None:
    if not orphans or not (orphans.get("failed") or orphans.get("requeued")):
        return None
    return (
        f"Orphaned jobs: {orphans['failed']} marked failed, {orphans['requeued']} returned to ready"
    )


def require_finished(client: TorcClient, workflow_id: int) -> None:
    if not client.is_complete(workflow_id)["is_complete"]:
        counts = client.job_status_counts(workflow_id)
        unfinished = sum(counts.get(status, 0) for status in UNDERWAY_NAMES)
        awaiting = counts.get("pending_failed", 0)
        if awaiting and not unfinished:
            raise RecoveryError(
                f"Workflow {workflow_id} is not complete: {awaiting} job(s) are pending_failed, "
                "awaiting classification. Retry or fail each one (PUT /jobs/{id}/"
                "manage_status_change/ready/{run_id}, or .../failed/...) or reset them with "
                f"`torc workflows reset-status {workflow_id} --failed-only`."
            )
        waiting = f"{unfinished} job(s) are still waiting or running"
        if awaiting:
            waiting += f" and {awaiting} are pending_failed, awaiting classification"
        raise RecoveryError(
            f"Workflow {workflow_id} is not complete: {waiting}. "
            f"Wait for it to finish (or use `torc watch {workflow_id} --recover`)."
        )
    active = active_runners(client, workflow_id)
    if active:
        hosts = ", ".join(sorted({f"{n['hostname']} (pid {n['pid']})" for n in active}))
        raise RecoveryError(
            f"Workflow {workflow_id} still has {len(active)} active worker(s): {hosts}. "
            "Wait for them to exit before recovering."
        )


# --------------------------------------------------------------------------------------------
# Step 3: diagnosis
# --------------------------------------------------------------------------------------------


def diagnose(client: TorcClient, workflow_id: int) -> list[Diagnosis]:
    """One verdict per failed or terminated job, from its latest result."""
    failed = [
        job for status in FAILURE_NAMES for job in client.list_jobs(workflow_id, status=status)
    ]
    if not failed:
        return []
    requirements = {rr["id"]: rr for rr in client.list_resource_requirements(workflow_id)}
    latest: dict[int, dict] = {}
    for candidate in client.list_results(workflow_id):
        known = latest.get(candidate["job_id"])
        if known is None or (candidate["run_id"], candidate["attempt_id"], candidate["id"]) > (
            known["run_id"],
            known["attempt_id"],
            known["id"],
        ):
            latest[candidate["job_id"]] = candidate
    diagnoses = []
    for job in sorted(failed, key=lambda job: job["id"]):
        record = requirements.get(job.get("resource_requirements_id"), {})
        result = latest.get(job["id"])
        if result is None:
            diagnoses.append(Diagnosis(job["id"], job["name"], "unknown", {}))
            continue
        details = diagnose_failure(result, job["name"], _declared(record))
        diagnoses.append(Diagnosis(job["id"], job["name"], _cause(details), details))
    return diagnoses


def _cause(details: dict[str, Any]) -> str:
    # A job whose runner died was cut off, not wrong: it runs again as it was.
    if details.get("return_code") == ORPHAN_RETURN_CODE:
        return "runner_lost"
    # The runner stopping a job at its runtime limit is certain; a peak above a memory
    # request (often the 1m default) is only a hint, so the timeout wins then.
    if details["timeout_reason"] == "runtime_limit":
        return "timeout"
    if details["likely_oom"]:
        return "oom"
    return "timeout" if details["likely_timeout"] else "unknown"


def _declared(record: dict[str, Any]) -> Requirements:
    """The job's requirements; the implicit ``default`` record declares no memory or runtime."""
    if not record or record.get("name") == "default":
        return Requirements(record_id=record.get("id"))
    return Requirements.from_record(record)


# --------------------------------------------------------------------------------------------
# Step 4: new resource values
# --------------------------------------------------------------------------------------------


def plan_changes(
    diagnoses: list[Diagnosis], requirements: dict[int, dict], options: RecoveryOptions
) -> list[Change]:
    """One change per record and resource: jobs sharing a record share the new value."""
    changes: list[Change] = []
    for cause, resource in (("oom", "memory"), ("timeout", "runtime")):
        groups: dict[int, list[Diagnosis]] = {}
        for diagnosis in diagnoses:
            rr_id = diagnosis.details.get("resource_requirements_id")
            if diagnosis.cause == cause and rr_id in requirements:
                groups.setdefault(rr_id, []).append(diagnosis)
        for rr_id, group in groups.items():
            record = requirements[rr_id]
            if resource == "memory":
                new = _new_memory(record, group, options.memory_multiplier)
            else:
                new = _new_runtime(record, group, options.runtime_multiplier)
            changes.append(
                Change(
                    rr_id,
                    record["name"],
                    resource,
                    record.get(resource),
                    new,
                    [d.job_id for d in group],
                )
            )
    return changes


def _new_memory(record: dict, group: list[Diagnosis], multiplier: float) -> str:
    """The larger of the request and the highest peak, times the multiplier: recovery never
    lowers memory, whatever a (possibly short-lived) peak says."""
    peaks = [d.details.get("peak_memory_bytes") or 0 for d in group]
    requested = _parsed_or_none(parse_memory, record.get("memory")) or 0
    basis = max([requested, *peaks]) or 1024**3
    return format_memory(basis * multiplier)


def _new_runtime(record: dict, group: list[Diagnosis], multiplier: float) -> str:
    declared = _parsed_or_none(parse_runtime, record.get("runtime"))
    used = max(float(d.details.get("exec_time_minutes") or 0) * 60 for d in group)
    return format_runtime_minutes(max(declared or 0.0, used) * multiplier)


def _parsed_or_none(parse: Callable[[str], float], text: str | None) -> float | None:
    try:
        return parse(text) if text else None
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Step 5: the user's hook
# --------------------------------------------------------------------------------------------


def run_hook(command: str, workflow_id: int) -> None:
    """Run the hook directly (no shell) with the workflow ID as its last argument."""
    argv = shlex.split(command)
    if not argv:
        raise RecoveryError("--recovery-hook is empty")
    if "/" not in argv[0] and Path(argv[0]).is_file():
        argv[0] = f"./{argv[0]}"
    env = {**os.environ, "TORC_WORKFLOW_ID": str(workflow_id)}
    try:
        completed = subprocess.run([*argv, str(workflow_id)], env=env, check=False)
    except OSError as exc:
        raise RecoveryError(f"recovery hook could not start: {exc}") from None
    if completed.returncode != 0:
        raise RecoveryError(
            f"recovery hook `{command}` exited with code {completed.returncode}; recovery stopped"
        )


# --------------------------------------------------------------------------------------------
# The whole recovery
# --------------------------------------------------------------------------------------------


def recover(
    client: TorcClient, workflow_id: int, options: RecoveryOptions, say: Say
) -> RecoveryReport:
    report = RecoveryReport(workflow_id, options.dry_run)
    report.orphans = clean_orphans(client, workflow_id)
    if line := orphan_line(report.orphans):
        say(line)
    require_finished(client, workflow_id)
    say("Diagnosing failures...")
    report.diagnoses = diagnose(client, workflow_id)
    if not report.diagnoses:
        say(f"No failed jobs in workflow {workflow_id}; nothing to recover.")
        return report
    say("Applying recovery heuristics...")
    requirements = {rr["id"]: rr for rr in client.list_resource_requirements(workflow_id)}
    report.changes = plan_changes(report.diagnoses, requirements, options)
    _say_changes(report, say)
    for diagnosis in report.diagnoses:
        if diagnosis.cause == "runner_lost":
            say(
                f"  Job {diagnosis.job_id} ({diagnosis.job_name}): its runner was lost while it "
                f"ran (return code {ORPHAN_RETURN_CODE}); it runs again"
            )
    include_unknown = options.retry_unknown or options.recovery_hook is not None
    for diagnosis in report.diagnoses:
        if diagnosis.cause != "unknown" or include_unknown:
            report.retry_job_ids.append(diagnosis.job_id)
        else:
            report.skipped_job_ids.append(diagnosis.job_id)
    if report.skipped_job_ids:
        say(
            f"  {len(report.skipped_job_ids)} job(s) with unknown failure cause "
            "(skipped, use --retry-unknown to include)"
        )
    if not report.retry_job_ids:
        unknown = report.count("unknown")
        say(f"No recoverable jobs found. {unknown} job(s) failed with unknown causes.")
        say("Use --retry-unknown to retry jobs with unknown failure causes.")
        say("Or use the Torc MCP server with your AI assistant to investigate.")
        return report
    if options.dry_run:
        say(f"[dry run] Would reset {len(report.retry_job_ids)} job(s) for retry; no changes made")
        return report
    _apply(client, workflow_id, report, options, say)
    return report


def _say_changes(report: RecoveryReport, say: Say) -> None:
    for change in report.changes:
        label = "OOM" if change.field == "memory" else "Timeout"
        verb = "memory" if change.field == "memory" else "runtime"
        for job_id in change.job_ids:
            name = next(d.job_name for d in report.diagnoses if d.job_id == job_id)
            say(
                f"  Job {job_id} ({name}): {label} detected, increasing {verb} "
                f"{change.old} -> {change.new}"
            )
    if report.changes:
        say(f"  Applied fixes: {report.count('oom')} OOM, {report.count('timeout')} timeout")


def _apply(
    client: TorcClient,
    workflow_id: int,
    report: RecoveryReport,
    options: RecoveryOptions,
    say: Say,
) -> None:
    for change in report.changes:
        record = client.get_resource_requirements(change.resource_requirements_id)
        record[change.field] = change.new
        client.update_resource_requirements(change.resource_requirements_id, record)
    if options.recovery_hook:
        say(f"Running recovery hook: {options.recovery_hook}")
        run_hook(options.recovery_hook, workflow_id)
        report.hook_ran = True
    say(f"Resetting {len(report.retry_job_ids)} job(s) for retry...")
    run_id = client.workflow_status(workflow_id)["run_id"]
    for job_id in report.retry_job_ids:
        client.manage_status_change(job_id, "uninitialized", run_id)
    say(f"  Reset {len(report.retry_job_ids)} job(s)")
    say("Reinitializing workflow...")
    report.run_id = bump_run(client, workflow_id)
    client.initialize_jobs(workflow_id, only_uninitialized=True)
    say(f"Recovery complete for workflow {workflow_id}")
    memory = sum(len(c.job_ids) for c in report.changes if c.field == "memory")
    runtime = sum(len(c.job_ids) for c in report.changes if c.field == "runtime")
    if memory:
        say(f"  - {memory} job(s) had memory increased")
    if runtime:
        say(f"  - {runtime} job(s) had runtime increased")
    say(f"Reset {len(report.retry_job_ids)} job(s).")
