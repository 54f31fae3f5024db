"""Initialize, reinitialize and reset a workflow: the client's half of a restart.

The server owns every status change. What only the client can see is the file system: which
input files exist, which outputs vanished, which files changed since the jobs ran. This module
gathers that, records it on the server (file modification times), and then calls the
endpoints in the order a restart needs. Relative file paths are resolved against the current
directory, as the job runner resolves them.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.shared.status import ACTIVE_NAMES, STATUS_NAMES, TERMINAL_NAMES
from cli.client import TorcClient, TorcClientError

JOB_STATUSES = STATUS_NAMES
# Reinitialize runs these again whatever changed: they did not finish.
UNFINISHED = ("canceled", "terminated", "pending_failed")
HASH_REASON = "job definition or input user data changed"


def disk_mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def job_counts(client: TorcClient, workflow_id: int) -> dict[str, int]:
    """Jobs per status, statuses with no jobs left out (no job list is transferred)."""
    counts = client.job_status_counts(workflow_id)
    return {status: counts[status] for status in JOB_STATUSES if counts.get(status)}


def refuse_if_active(client: TorcClient, workflow_id: int, what: str, force: bool) -> None:
    if force:
        return
    active = sum(job_counts(client, workflow_id).get(status, 0) for status in ACTIVE_NAMES)
    if active:
        raise TorcClientError(
            f"Cannot {what} workflow {workflow_id}: {active} job(s) are pending or running. "
            "Wait for them to finish, or use --force."
        )


def next_run_id(status: dict) -> int:
    """The server turns run 0 into run 1 by itself; later runs are bumped by the client."""
    return status["run_id"] + 1 if status["run_id"] > 0 else 1


def bump_run(client: TorcClient, workflow_id: int) -> int:
    status = client.workflow_status(workflow_id)
    if status["run_id"] > 0:
        client.update_workflow_status(
            workflow_id, {**status, "run_id": status["run_id"] + 1, "is_canceled": False}
        )
    return next_run_id(status)


# --------------------------------------------------------------------------------------------
# Input checks shared by initialize and reinitialize
# --------------------------------------------------------------------------------------------


@dataclass
class InputCheck:
    missing_files: list[str] = field(default_factory=list)
    missing_user_data: list[str] = field(default_factory=list)
    existing_outputs: list[str] = field(default_factory=list)
    # Required input files present on disk whose recorded st_mtime differs: file -> mtime.
    baseline: dict[int, float] = field(default_factory=dict)
    files: dict[int, dict] = field(default_factory=dict)

    def problems(self) -> list[str]:
        problems = []
        if self.missing_files:
            problems.append("missing required input files: " + ", ".join(self.missing_files))
        if self.missing_user_data:
            problems.append("missing user data: " + ", ".join(self.missing_user_data))
        return problems

    def raise_if_missing(
        self, workflow_id: int, force: bool, override: str = "use --force to go ahead"
    ) -> None:
        problems = self.problems()
        if problems and not force:
            raise TorcClientError(f"workflow {workflow_id} has {'; '.join(problems)} ({override})")


def check_inputs(client: TorcClient, workflow_id: int) -> InputCheck:
    files = {f["id"]: f for f in client.list_files(workflow_id)}
    check = InputCheck(files=files)
    required = client.required_existing_files(workflow_id)["files"]
    for file_id in required:
        mtime = disk_mtime(files[file_id]["path"])
        if mtime is None:
            check.missing_files.append(files[file_id]["path"])
        elif mtime != files[file_id]["st_mtime"]:
            check.baseline[file_id] = mtime
    for data_id in client.missing_user_data(workflow_id)["user_data"]:
        record = client.get_user_data(data_id)
        check.missing_user_data.append(f"{record['name']} (ID {data_id})")
    for record in client.list_files(workflow_id, is_output=True):
        if disk_mtime(record["path"]) is not None:
            check.existing_outputs.append(record["path"])
    return check


def record_mtimes(client: TorcClient, files: dict[int, dict], mtimes: dict[int, float]) -> None:
    for file_id, mtime in mtimes.items():
        client.update_file(file_id, {**files[file_id], "st_mtime": mtime})


def baseline_payload_mtimes(payload: dict[str, Any]) -> InputCheck:
    """Set st_mtime on the payload's files that jobs read, nobody writes, and exist on disk;
    report those that do not exist, and the user data jobs read that nobody writes or sets
    (what initialize would refuse)."""
    read: dict[str, set[int]] = {"files": set(), "user_data": set()}
    written: dict[str, set[int]] = {"files": set(), "user_data": set()}
    for job in payload.get("jobs") or []:  # once: the jobs may be JSON text read back
        read["files"].update(job.get("input_files") or ())
        written["files"].update(job.get("output_files") or ())
        read["user_data"].update(job.get("input_user_data") or ())
        written["user_data"].update(job.get("output_user_data") or ())
    check = InputCheck()
    files = payload.get("files") or []
    for index in sorted(read["files"] - written["files"]):
        mtime = disk_mtime(files[index]["path"])
        if mtime is None:
            check.missing_files.append(files[index]["path"])
        else:  # assigned, not changed in place: the files may be made as they are read
            files[index] = {**files[index], "st_mtime": mtime}
    records = payload.get("user_data") or []
    for index in sorted(read["user_data"] - written["user_data"]):
        if records[index].get("data") is None:
            check.missing_user_data.append(records[index]["name"])
    return check


# --------------------------------------------------------------------------------------------
# initialize: a full restart
# --------------------------------------------------------------------------------------------


@dataclass
class InitializeReport:
    workflow_id: int
    run_id: int
    dry_run: bool
    jobs: int
    finished_jobs: int
    check: InputCheck
    counts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "jobs": self.jobs,
            "ready": self.counts.get("ready"),
            "blocked": self.counts.get("blocked"),
            "missing_files": self.check.missing_files,
            "missing_user_data": self.check.missing_user_data,
            "existing_output_files": self.check.existing_outputs,
        }


def plan_initialize(client: TorcClient, workflow_id: int, force: bool) -> InitializeReport:
    """Everything initialize checks, without changing anything; raises on missing inputs."""
    status = client.workflow_status(workflow_id)
    refuse_if_active(client, workflow_id, "initialize", force)
    check = check_inputs(client, workflow_id)
    check.raise_if_missing(workflow_id, force)
    counts = job_counts(client, workflow_id)
    return InitializeReport(
        workflow_id=workflow_id,
        run_id=next_run_id(status),
        dry_run=True,
        jobs=sum(counts.values()),
        finished_jobs=sum(counts.get(name, 0) for name in TERMINAL_NAMES),
        check=check,
    )


def apply_initialize(client: TorcClient, report: InitializeReport) -> None:
    """Reset every job to uninitialized, start a new run, and evaluate the whole graph."""
    workflow_id = report.workflow_id
    record_mtimes(client, report.check.files, report.check.baseline)
    client.reset_job_status(workflow_id, failed_only=False)
    report.run_id = bump_run(client, workflow_id)
    answer = client.initialize_jobs(workflow_id, only_uninitialized=False)
    report.counts = {key: answer.get(key, 0) for key in ("ready", "blocked")}
    report.dry_run = False


# --------------------------------------------------------------------------------------------
# reinitialize: rerun what changed
# --------------------------------------------------------------------------------------------


@dataclass
class ReinitializeReport:
    workflow_id: int
    run_id: int
    dry_run: bool
    reset_jobs: list[str] = field(default_factory=list)  # for changed inputs (and downstream)
    reasons: dict[str, str] = field(default_factory=dict)
    unfinished_jobs: dict[str, str] = field(default_factory=dict)  # name -> status, rerun too

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "reset_jobs": self.reset_jobs,
            "reasons": self.reasons,
            "unfinished_jobs": self.unfinished_jobs,
            "dry_run": self.dry_run,
        }


@dataclass
class Changes:
    """What the file system says about the completed jobs of a workflow."""

    jobs: dict[int, dict]
    files: dict[int, dict]
    changed_files: dict[int, float] = field(default_factory=dict)
    missing_outputs: dict[int, list[str]] = field(default_factory=dict)
    changed_inputs: dict[int, list[str]] = field(default_factory=dict)


def find_changes(client: TorcClient, workflow_id: int) -> Changes:
    jobs = {job["id"]: job for job in client.list_jobs(workflow_id, include_relationships=True)}
    files = {f["id"]: f for f in client.list_files(workflow_id)}
    changes = Changes(jobs, files, changed_files=changed_since_recorded(files))
    for job_id, job in jobs.items():
        if job["status"] != "completed":
            continue
        missing = [files[i]["path"] for i in job["output_file_ids"] if not _exists(files[i])]
        changed = [files[i]["path"] for i in job["input_file_ids"] if i in changes.changed_files]
        if missing:
            changes.missing_outputs[job_id] = missing
        elif changed:
            changes.changed_inputs[job_id] = changed
    return changes


def changed_since_recorded(files: dict[int, dict]) -> dict[int, float]:
    """Files whose st_mtime on disk differs from the recorded one (files never recorded and
    files gone from disk are not "changed")."""
    changed = {}
    for file_id, record in files.items():
        mtime = disk_mtime(record["path"])
        if record["st_mtime"] is not None and mtime is not None and mtime != record["st_mtime"]:
            changed[file_id] = mtime
    return changed


def _exists(record: dict) -> bool:
    return disk_mtime(record["path"]) is not None


def reinitialize(
    client: TorcClient, workflow_id: int, force: bool = False, dry_run: bool = False
) -> ReinitializeReport:
    status = client.workflow_status(workflow_id)
    refuse_if_active(client, workflow_id, "reinitialize", force)
    check_inputs(client, workflow_id).raise_if_missing(workflow_id, force)
    changes = find_changes(client, workflow_id)
    if not dry_run:
        record_mtimes(client, changes.files, changes.changed_files)
        for job_id in changes.missing_outputs:
            client.manage_status_change(job_id, "uninitialized", status["run_id"])
    answer = client.process_changed_job_inputs(workflow_id, dry_run=dry_run)
    direct = _direct_reasons(changes, answer["reinitialized_jobs"])
    report = ReinitializeReport(workflow_id, next_run_id(status), dry_run)
    _add_downstream(client, workflow_id, changes.jobs, direct, report)
    for job in sorted(changes.jobs.values(), key=lambda job: job["id"]):
        if job["status"] in UNFINISHED and job["name"] not in report.reasons:
            report.unfinished_jobs[job["name"]] = job["status"]
    if not dry_run:
        report.run_id = bump_run(client, workflow_id)
        client.initialize_jobs(workflow_id, only_uninitialized=True)
    return report


def _direct_reasons(changes: Changes, hash_changed: Iterable[str]) -> dict[int, str]:
    """Why each directly affected job reruns (the first reason found wins)."""
    reasons = {
        job_id: "output file missing: " + ", ".join(paths)
        for job_id, paths in changes.missing_outputs.items()
    }
    for job_id, paths in changes.changed_inputs.items():
        reasons.setdefault(job_id, "input file changed: " + ", ".join(paths))
    names = set(hash_changed)
    for job_id, job in changes.jobs.items():
        if job["name"] in names:
            reasons.setdefault(job_id, HASH_REASON)
    return reasons


def _add_downstream(
    client: TorcClient,
    workflow_id: int,
    jobs: dict[int, dict],
    direct: dict[int, str],
    report: ReinitializeReport,
) -> None:
    """Direct jobs plus everything downstream that ran before and will run again."""
    dependents = dependents_by_job(client, workflow_id)
    reasons = dict(direct)
    queue = deque(direct)
    while queue:
        job_id = queue.popleft()
        for dependent in dependents.get(job_id, ()):
            if dependent not in reasons and jobs[dependent]["status"] in TERMINAL_NAMES:
                reasons[dependent] = f"downstream of {jobs[job_id]['name']}"
                queue.append(dependent)
    for job_id in sorted(reasons):
        name = jobs[job_id]["name"]
        report.reset_jobs.append(name)
        report.reasons[name] = reasons[job_id]


def dependents_by_job(client: TorcClient, workflow_id: int) -> dict[int, set[int]]:
    """Job -> jobs that wait for it: explicit edges and shared files and user data."""
    dependents: dict[int, set[int]] = {}
    for edge in client.list_job_dependencies(workflow_id):
        dependents.setdefault(edge["depends_on_job_id"], set()).add(edge["job_id"])
    for link in client.list_producer_consumer_links(workflow_id):
        producer, consumer = link["producer_job_id"], link["consumer_job_id"]
        if producer is not None and consumer is not None and producer != consumer:
            dependents.setdefault(producer, set()).add(consumer)
    return dependents


# --------------------------------------------------------------------------------------------
# reset-status
# --------------------------------------------------------------------------------------------


def reset_status(
    client: TorcClient, workflow_id: int, failed_only: bool = False, force: bool = False
) -> dict[str, Any]:
    """Clear the run flags (the server refuses while work is in flight), then reset jobs."""
    if client.workflow_status(workflow_id)["is_archived"]:
        raise TorcClientError(
            "Cannot reset archived workflow status. Unarchive the workflow first."
        )
    client.reset_workflow_status(workflow_id, force=force)
    return client.reset_job_status(workflow_id, failed_only=failed_only)


# --------------------------------------------------------------------------------------------
# retry one job (the TUI's `y`)
# --------------------------------------------------------------------------------------------

RETRY_AS_ATTEMPT = ("failed", "terminated", "pending_failed")
RETRYABLE_BY_USER = (*RETRY_AS_ATTEMPT, "canceled")


def retry_job(client: TorcClient, workflow_id: int, job_id: int) -> dict[str, Any]:
    """Run one finished job again; the job afterwards.

    A failed, terminated or pending_failed job gets a new attempt (``attempt_id`` + 1, its
    logs and result kept apart from the failed one's); a canceled job is re-evaluated
    (ready, or blocked behind what it waits for). Dependents the failure canceled
    (D11 (docs/decisions.md)) go back to waiting for it, so the rest of the graph runs too.
    """
    job = client.get_job(job_id)
    if job["status"] not in RETRYABLE_BY_USER:
        raise TorcClientError(
            f"Job {job_id} is {job['status']}: only a failed, terminated, canceled or "
            "pending_failed job can be retried"
        )
    run_id = client.workflow_status(workflow_id)["run_id"]
    if job["status"] in RETRY_AS_ATTEMPT:
        # A retry asked for by a person is not limited by a failure handler's count.
        client.retry_job(job_id, run_id, max_retries=job["attempt_id"])
    else:
        client.manage_status_change(job_id, "uninitialized", run_id)
    reset = [job_id] if job["status"] == "canceled" else []
    for dependent in client.list_jobs(workflow_id, upstream_job_id=job_id):
        if dependent["status"] == "canceled":
            # Back to uninitialized, with everything downstream of it.
            client.manage_status_change(dependent["id"], "uninitialized", run_id)
            reset.append(dependent["id"])
    if reset:
        client.initialize_jobs(workflow_id, only_uninitialized=True)
    return client.get_job(job_id)


# --------------------------------------------------------------------------------------------
# create a workflow from a spec file (`torc workflows create`, the TUI's `n`)
# --------------------------------------------------------------------------------------------


@dataclass
class Created:
    workflow_id: int
    warnings: list[str]


def create_from_spec_file(
    client: TorcClient,
    path: str,
    *,
    user: str | None = None,
    monitoring: bool = True,
    skip_checks: bool = False,
    initialize: bool = False,
    max_jobs: int | None = None,
    default_user: str | None = None,
) -> Created:
    """Validate, expand and send a spec file; the server creates the whole workflow in one
    transaction, so on any error nothing exists afterwards. ``max_jobs`` caps the expansion
    (default: the spec compiler's); ``default_user`` owns the workflow when neither ``user``
    nor the spec names an owner. Raises ``SpecError``; with ``initialize``, a
    ``TorcClientError`` naming the missing inputs that `workflows initialize` would refuse,
    before anything is made."""
    from cli.spec import compile_spec, load_spec

    loaded = load_spec(path)
    limit = {} if max_jobs is None else {"max_jobs": max_jobs}
    compiled = compile_spec(
        loaded,
        user=user,
        resource_monitoring=monitoring,
        skip_checks=skip_checks,
        default_user=default_user,
        **limit,
    )
    # Required input files that exist now give reinitialize its change-detection baseline.
    inputs = baseline_payload_mtimes(compiled.payload)
    problems = inputs.problems() if initialize else []
    if problems:
        raise TorcClientError(
            f"{path}: {'; '.join(problems)} (create them first, or `torc workflows create` "
            "the spec and `torc workflows initialize ID --force` to go ahead)"
        )
    with compiled.request_body() as body:
        created = client.create_workflow_from_spec(body, initialize=initialize)
    return Created(created["workflow_id"], list(compiled.warnings))
