"""Slurm allocations in the database: closing the ones Slurm has ended, and regenerating
schedulers for the jobs still to run.

A scheduled compute node is one allocation: ``scheduler_id`` is its Slurm job ID (0 while
sbatch has not answered yet), ``scheduler_config_id`` its slurm_scheduler record, ``status``
pending (queued), active (a runner started in it) or complete. The runners inside it are
compute nodes whose ``scheduled_compute_node_id`` points at it.

Nothing here runs a Slurm command: callers (the CLI, the server's periodic check) ask
squeue and pass what it said.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.errors import InvalidInput, NotFound
from app.models import actions, orphans, sql
from app.models.common import get_workflow, require_same_workflow
from app.models.db import write_transaction
from app.models.events import record_event
from app.models.tables import (
    Job,
    ScheduledComputeNode,
    SlurmScheduler,
    WorkflowAction,
)
from app.shared.hpc import HpcProfile, ProfileError, Requirements
from app.shared.scheduler_plan import (
    PlanError,
    PlanJob,
    PlanOptions,
    SchedulerPlan,
    plan_schedulers,
)
from app.shared.slurm import is_alive
from app.shared.status import JobStatus, codes
from app.shared.units import utc_now_text

OPEN = ("pending", "active")
PLANNED_STATUSES = frozenset({JobStatus.UNINITIALIZED, JobStatus.READY, JobStatus.BLOCKED})


# --------------------------------------------------------------------------------------------
# Allocations that ended
# --------------------------------------------------------------------------------------------


def open_allocations(workflow_id: int | None = None) -> list[dict[str, Any]]:
    """Submitted Slurm allocations still pending or active (of one workflow, or all)."""
    where = "scheduler_type = ? AND status IN (?, ?) AND scheduler_id > 0"
    params: list[Any] = ["slurm", *OPEN]
    if workflow_id is not None:
        where += " AND workflow_id = ?"
        params.append(workflow_id)
    rows = sql.fetch(
        f"SELECT id, workflow_id, scheduler_id, scheduler_config_id, status"
        f" FROM scheduled_compute_node WHERE {where} ORDER BY id",
        params,
    )
    names = ("id", "workflow_id", "scheduler_id", "scheduler_config_id", "status")
    return [dict(zip(names, row, strict=True)) for row in rows]


@dataclass
class SyncReport:
    workflow_id: int
    dry_run: bool
    terminated: list[dict[str, Any]] = field(default_factory=list)  # active allocations
    vanished: list[dict[str, Any]] = field(default_factory=list)  # pending, never started
    failed_jobs: list[dict[str, Any]] = field(default_factory=list)
    requeued_jobs: list[dict[str, Any]] = field(default_factory=list)
    runners_without_allocation: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "dry_run": self.dry_run,
            "terminated_allocations": self.terminated,
            "vanished_pending_allocations": self.vanished,
            "failed_jobs": self.failed_jobs,
            "requeued_jobs": self.requeued_jobs,
            "total_failed": len(self.failed_jobs),
        }


def sync_allocations(
    workflow_id: int,
    states: Mapping[int, str | None],
    dry_run: bool = False,
    final_states: Mapping[int, str] | None = None,
) -> SyncReport:
    """Close the allocations Slurm no longer runs, and finish the jobs left behind.

    ``states`` maps scheduled compute node IDs to their squeue state (None: squeue no
    longer lists the job). For each one that has ended: an active allocation's runners are
    retired, their claimed jobs go back to ready and their running jobs are failed (return
    code -128), and the allocation becomes complete; a pending one that vanished before it
    started just becomes complete. Then any job still running without an active runner is
    failed too (the seed's fallback). ``final_states`` (e.g. sacct's TIMEOUT) only label the
    report. With ``dry_run`` nothing changes and the report says what would.
    """
    report = SyncReport(workflow_id, dry_run)
    finals = final_states or {}
    with write_transaction():
        get_workflow(workflow_id)
        require_same_workflow(ScheduledComputeNode, list(states), workflow_id, "allocation")
        by_id = {row["id"]: row for row in open_allocations(workflow_id)}
        for scn_id, state in states.items():
            row = by_id.get(scn_id)
            if row is None or is_alive(state):
                continue
            summary = {
                "scheduled_compute_node_id": scn_id,
                "slurm_job_id": row["scheduler_id"],
                "state": finals.get(scn_id) or "not in queue",
            }
            nodes = _runners_of(scn_id)
            if row["status"] == "active" or nodes:
                report.terminated.append(summary)
                _release(report, workflow_id, row, nodes, finals.get(scn_id), dry_run)
            else:
                report.vanished.append(summary)
            if not dry_run:
                _close(workflow_id, scn_id, summary["state"])
        _fallback(report, workflow_id, dry_run)
    return report


def _runners_of(scn_id: int) -> list[int]:
    rows = sql.fetch(
        "SELECT id FROM compute_node WHERE scheduled_compute_node_id = ? AND is_active = ?",
        [scn_id, True],
    )
    return [row[0] for row in rows]


def _jobs_on(node_ids: list[int], statuses: list[int]) -> list[tuple[int, str, int]]:
    if not node_ids:
        return []
    return sql.fetch(
        f"SELECT id, name, status FROM job WHERE active_compute_node_id IN "
        f"({sql.marks(len(node_ids))}) AND status IN ({sql.marks(len(statuses))}) ORDER BY id",
        [*node_ids, *statuses],
    )


def _release(
    report: SyncReport,
    workflow_id: int,
    row: dict[str, Any],
    nodes: list[int],
    final_state: str | None,
    dry_run: bool,
) -> None:
    slurm_job = row["scheduler_id"]
    reason = f"Allocation terminated (Slurm job {slurm_job}"
    reason += f", {final_state})" if final_state else ")"
    jobs = _jobs_on(nodes, [int(JobStatus.PENDING), int(JobStatus.RUNNING)])
    for job_id, name, status in jobs:
        entry = {"job_id": job_id, "name": name, "slurm_job_id": slurm_job, "reason": reason}
        if status == JobStatus.RUNNING:
            report.failed_jobs.append(entry)
        else:
            report.requeued_jobs.append(entry)
    if not dry_run:
        orphans.release_lost_runners(workflow_id, nodes)


def _close(workflow_id: int, scn_id: int, state: str) -> None:
    ScheduledComputeNode.update(status="complete").where(
        ScheduledComputeNode.id == scn_id
    ).execute()
    record_event(
        workflow_id,
        "scheduled_compute_node",
        "allocation_ended",
        scheduled_compute_node_id=scn_id,
        slurm_state=state,
    )


def _fallback(report: SyncReport, workflow_id: int, dry_run: bool) -> None:
    """Running jobs with no active runner at all (not on an allocation handled above)."""
    known = {entry["job_id"] for entry in report.failed_jobs}
    stranded = sql.fetch(
        "SELECT job.id, job.name FROM job"
        " LEFT JOIN compute_node ON compute_node.id = job.active_compute_node_id"
        " WHERE job.workflow_id = ? AND job.status = ?"
        " AND (compute_node.id IS NULL OR compute_node.is_active = ?) ORDER BY job.id",
        [workflow_id, int(JobStatus.RUNNING), False],
    )
    extra = [(job_id, name) for job_id, name in stranded if job_id not in known]
    for job_id, name in extra:
        report.failed_jobs.append(
            {"job_id": job_id, "name": name, "slurm_job_id": None, "reason": "No active runner"}
        )
    if extra and not dry_run:
        orphans.detect_orphans(workflow_id, [], time.time(), float("inf"), time.time())


# --------------------------------------------------------------------------------------------
# Regenerating schedulers for the jobs still to run
# --------------------------------------------------------------------------------------------


@dataclass
class RegenerateRequest:
    profile: HpcProfile
    account: str | None = None
    group_by: str = "resource-requirements"
    walltime_strategy: str = "max-job-runtime"
    walltime_multiplier: float = 1.5
    single_allocation: bool = False
    include_job_ids: list[int] = field(default_factory=list)
    dry_run: bool = False

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RegenerateRequest:
        try:
            profile = HpcProfile.from_dict(body["profile"], body["profile"].get("name"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"profile: an HPC profile with partitions is required ({exc})"
            ) from None
        except ProfileError as exc:
            raise InvalidInput(f"profile: {exc}") from None
        return cls(
            profile=profile,
            account=body.get("account"),
            group_by=body.get("group_by") or "resource-requirements",
            walltime_strategy=body.get("walltime_strategy") or "max-job-runtime",
            walltime_multiplier=float(body.get("walltime_multiplier") or 1.5),
            single_allocation=bool(body.get("single_allocation")),
            include_job_ids=[int(i) for i in body.get("include_job_ids") or []],
            dry_run=bool(body.get("dry_run")),
        )


def regenerate_schedulers(
    workflow_id: int, request: RegenerateRequest, now: float | None = None
) -> dict[str, Any]:
    """New schedulers for the jobs that still have to run, and the actions that request
    their allocations.

    Plans the uninitialized, ready and blocked jobs (plus ``include_job_ids``) as ``slurm
    generate`` plans a spec, only counting dependencies between those jobs. Every existing
    schedule_nodes action that has not fired is marked executed (the new plan replaces it).
    Schedulers are named ``<rr>_regen_<timestamp>`` (``<rr>_deferred_regen_<timestamp>`` for
    jobs that still wait for others) and the jobs are bound to them. Recovery actions
    (deleted by the next initialization) request the allocations: ``on_workflow_start`` ones,
    due at once, for jobs that can start now, and ``on_jobs_ready`` ones for the others.
    Whoever asked for the regeneration submits the due ones (``--submit``).
    """
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now or time.time()))
    with write_transaction():
        get_workflow(workflow_id)
        require_same_workflow(Job, request.include_job_ids, workflow_id, "include_job_ids")
        jobs = _jobs_to_plan(workflow_id, request.include_job_ids)
        existing = list(
            SlurmScheduler.select().where(SlurmScheduler.workflow_id == workflow_id).dicts()
        )
        account = request.account or request.profile.default_account
        if not account and existing:
            account = existing[-1]["account"]
        options = PlanOptions(
            account=account or "",
            group_by=request.group_by,
            walltime_strategy=request.walltime_strategy,
            walltime_multiplier=request.walltime_multiplier,
            single_allocation=request.single_allocation,
            name_suffix=f"_regen_{stamp}",
        )
        result: dict[str, Any] = {
            "workflow_id": workflow_id,
            "dry_run": request.dry_run,
            "profile": request.profile.name,
            "jobs_planned": len(jobs),
        }
        if not jobs:
            return {**result, "schedulers": [], "actions": [], "warnings": [], "nothing": True}
        try:
            plan = plan_schedulers(
                [job for job, _ in jobs.values()],
                request.profile,
                options,
                [row["name"] for row in existing if row["name"]],
            )
        except (PlanError, ProfileError) as exc:
            raise InvalidInput(str(exc)) from None
        result.update(
            schedulers=[dict(s.spec(), deferred=s.deferred) for s in plan.schedulers],
            actions=[a.spec() for a in plan.actions],
            warnings=plan.warnings,
            allocations=plan.allocations(),
        )
        if request.dry_run:
            return result
        result["replaced_action_ids"] = _retire_schedule_actions(workflow_id)
        scheduler_ids = _create_schedulers(workflow_id, plan)
        _assign(plan, jobs, scheduler_ids)
        result["action_ids"] = _create_recovery_actions(workflow_id, plan, jobs, scheduler_ids)
        for entry in result["schedulers"]:
            entry["id"] = scheduler_ids[entry["name"]]
        record_event(
            workflow_id,
            "slurm",
            "schedulers_regenerated",
            schedulers=sorted(scheduler_ids),
            jobs=len(jobs),
            allocations=plan.allocations(),
        )
        return result


def _jobs_to_plan(workflow_id: int, include: list[int]) -> dict[str, tuple[PlanJob, int]]:
    """Job name -> (plan entry, job ID), in job ID order."""
    statuses = codes(PLANNED_STATUSES)
    rows = sql.fetch(
        "SELECT job.id, job.name, rr.name, rr.num_cpus, rr.num_gpus, rr.num_nodes,"
        " rr.memory_bytes, rr.runtime_seconds FROM job"
        " JOIN resource_requirements rr ON rr.id = job.resource_requirements_id"
        f" WHERE job.workflow_id = ? AND (job.status IN ({sql.marks(len(statuses))})"
        f" OR job.id IN ({sql.marks(len(include)) if include else 'NULL'})) ORDER BY job.id",
        [workflow_id, *statuses, *include],
    )
    ids = {row[0] for row in rows}
    blockers = _blockers(workflow_id, ids)
    names = {row[0]: row[1] for row in rows}
    planned: dict[str, tuple[PlanJob, int]] = {}
    for job_id, name, rr_name, cpus, gpus, nodes, memory, runtime in rows:
        needs = None
        if rr_name != "default":
            needs = Requirements(cpus, memory, runtime, gpus, nodes, label=f"job '{name}'")
        waits_for = [names[b] for b in blockers.get(job_id, ()) if b in names]
        planned[name] = (PlanJob(name, rr_name, needs, waits_for), job_id)
    return planned


def _blockers(workflow_id: int, ids: set[int]) -> dict[int, set[int]]:
    """Explicit dependencies plus the producer/consumer links of files and user data (not
    yet materialised before initialization), restricted to ``ids``."""
    edges = sql.fetch(
        "SELECT d.job_id, d.depends_on_job_id FROM job_depends_on d"
        " JOIN job ON job.id = d.job_id WHERE job.workflow_id = ?",
        [workflow_id],
    )
    for consumer_table, producer_table, column in (
        ("job_input_file", "job_output_file", "file_id"),
        ("job_input_user_data", "job_output_user_data", "user_data_id"),
    ):
        edges += sql.fetch(
            f"SELECT c.job_id, p.job_id FROM {consumer_table} c JOIN {producer_table} p"
            f" ON p.{column} = c.{column} JOIN job ON job.id = c.job_id"
            " WHERE job.workflow_id = ? AND c.job_id != p.job_id",
            [workflow_id],
        )
    result: dict[int, set[int]] = {}
    for job_id, blocker in edges:
        if job_id in ids and blocker in ids:
            result.setdefault(job_id, set()).add(blocker)
    return result


def _retire_schedule_actions(workflow_id: int) -> list[int]:
    """Mark every schedule_nodes action that has not fired as executed."""
    query = WorkflowAction.select(WorkflowAction.id).where(
        WorkflowAction.workflow_id == workflow_id,
        WorkflowAction.action_type == "schedule_nodes",
        WorkflowAction.executed == False,  # noqa: E712
    )
    ids = [row.id for row in query]
    if ids:
        WorkflowAction.update(executed=True, executed_at=utc_now_text()).where(
            WorkflowAction.id.in_(ids)
        ).execute()
    return ids


def _create_schedulers(workflow_id: int, plan: SchedulerPlan) -> dict[str, int]:
    ids = {}
    for scheduler in plan.schedulers:
        values = scheduler.spec()
        ids[scheduler.name] = SlurmScheduler.insert(
            workflow_id=workflow_id, qos=None, **values
        ).execute()
    return ids


Planned = dict[str, tuple[PlanJob, int]]


def _assign(plan: SchedulerPlan, jobs: Planned, scheduler_ids: dict[str, int]) -> None:
    by_scheduler: dict[int, list[int]] = {}
    for name, scheduler in plan.assignments.items():
        by_scheduler.setdefault(scheduler_ids[scheduler], []).append(jobs[name][1])
    for scheduler_id, job_ids in by_scheduler.items():
        for start in range(0, len(job_ids), 500):
            Job.update(scheduler_id=scheduler_id).where(
                Job.id.in_(job_ids[start : start + 500])
            ).execute()


def _create_recovery_actions(
    workflow_id: int, plan: SchedulerPlan, jobs: Planned, scheduler_ids: dict[str, int]
) -> list[int]:
    created = []
    for action in plan.actions:
        config = {
            "scheduler_id": scheduler_ids[action.scheduler],
            "scheduler_type": "slurm",
            "num_allocations": action.num_allocations,
        }
        if action.start_one_worker_per_node:
            config["start_one_worker_per_node"] = True
        fields: dict[str, Any] = {
            "trigger_type": action.trigger_type,
            "action_type": "schedule_nodes",
            "action_config": config,
            "is_recovery": True,
        }
        if action.trigger_type == "on_jobs_ready":
            fields["job_ids"] = [jobs[name][1] for name in action.jobs]
        action_id = actions.create_action(workflow_id, fields)
        if action.trigger_type == "on_workflow_start":
            WorkflowAction.update(trigger_count=WorkflowAction.required_triggers).where(
                WorkflowAction.id == action_id
            ).execute()
        created.append(action_id)
    return created


# --------------------------------------------------------------------------------------------
# Background regenerations: their progress lives in the workflow's events
# --------------------------------------------------------------------------------------------


def record_regeneration(
    workflow_id: int,
    request_id: str,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    with write_transaction():
        get_workflow(workflow_id)
        record_event(
            workflow_id,
            "slurm",
            "regeneration",
            request_id=request_id,
            status=status,
            result=result,
            error=error,
        )


def regeneration_state(workflow_id: int, request_id: str) -> dict[str, Any]:
    """The latest recorded state of a background regeneration (404 if never requested)."""
    get_workflow(workflow_id)
    rows = sql.fetch(
        "SELECT data FROM event WHERE workflow_id = ? AND category = ? AND data LIKE ?"
        " ORDER BY id DESC",
        [workflow_id, "slurm", f'%"request_id":"{request_id}"%'],
    )
    for (data,) in rows:
        event = orjson.loads(data)
        if event.get("request_id") == request_id and event.get("type") == "regeneration":
            return {
                "request_id": request_id,
                "status": event["status"],
                "result": event.get("result"),
                "error": event.get("error"),
            }
    raise NotFound(f"Regeneration request {request_id} not found in workflow {workflow_id}")
