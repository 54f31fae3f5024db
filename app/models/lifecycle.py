"""Every job status transition, and the workflow run state around them.

API handlers, Huey tasks and admin commands call these functions; nothing else writes
``job.status``. Each public function is one short write transaction (or joins the caller's).
Each change names its row of the transition table (``transitions``), which refuses a move
the table does not list. Beside this module: ``workflow_state`` (reads), ``dependencies``
(the graph and its counters), ``results`` (storing attempts) and ``orphans`` (finding the
jobs of lost runners).

Dependents are released in the same transaction as the change that frees them
(D2, docs/decisions.md): a blocked job carries ``unfinished_blockers``, decremented as each
blocker reaches a done status, so completing a job costs O(its dependents), never O(workflow).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import peewee

from app.errors import InvalidInput, InvalidTransition, NotFound, TorcError
from app.models import actions, dependencies, results, sql, workflow_state
from app.models.common import (
    chunks,
    get_job,
    get_workflow,
    job_workflow_id,
    require_same_workflow,
    run_state,
)
from app.models.db import bulk_update, write_transaction
from app.models.events import id_list, record_event, record_events
from app.models.fitting import Capacity, choose_fitting_jobs, fitting_requirements
from app.models.inputs import compute_input_hashes
from app.models.results import Attempt
from app.models.tables import (
    ComputeNode,
    Job,
    JobDependsOn,
    ScheduledComputeNode,
    Workflow,
)
from app.models.transitions import (
    COMPLETABLE,
    INITIALIZABLE,
    RETRYABLE,
    allowed_sources,
)
from app.shared.failure_rules import decide, parse_rules
from app.shared.status import (
    ACTIVE,
    COMPLETE,
    DONE_FOR_UNBLOCKING,
    FAILURE,
    ORPHAN_RETURN_CODE,
    TERMINAL,
    JobStatus,
    codes,
)
from app.shared.units import utc_now_text

logger = logging.getLogger(__name__)

DONE_CODES = codes(DONE_FOR_UNBLOCKING)


def label(code: int) -> str:
    return JobStatus(code).label


def poisons(status: JobStatus, return_code: int | None) -> bool:
    """Whether a blocker finishing as ``status`` cancels its dependents (D11, docs/decisions.md).

    Failed and terminated always do (a job stopped at its runtime limit that traps SIGTERM
    and exits 0 still did not finish its work). Canceled does only when the job ran and its
    result says it failed: a job canceled with its workflow (no result, or return code 0)
    is simply cut off, and ``workflows reinitialize`` runs it again before its dependents.
    """
    if status in FAILURE:
        return True
    return status == JobStatus.CANCELED and return_code is not None and int(return_code) != 0


# --------------------------------------------------------------------------------------------
# The core: move jobs between statuses and propagate the consequences.
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _source_codes(operation: str, new: JobStatus) -> list[int]:
    return codes(allowed_sources(operation, new))


@dataclass
class Moves:
    """Jobs that changed status in one operation: job_id -> (old, new)."""

    workflow_id: int
    changes: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Jobs whose new status cancels dependents that ask for it (failed with rc != 0 etc.).
    poisoned: set[int] = field(default_factory=set)

    def add(self, job_id: int, old: int, new: int, poison: bool = False) -> None:
        self.changes[job_id] = (old, new)
        if poison:
            self.poisoned.add(job_id)


def _move_jobs(
    operation: str,
    job_ids: Iterable[int],
    new: JobStatus,
    allowed_from: Iterable[int] | None = None,
    **extra: Any,
) -> dict[int, int]:
    """``operation`` (a row of the transition table) sets ``new`` on the jobs currently in
    ``allowed_from`` (default: every status the row moves from); return {id: old}.

    The UPDATE re-checks the old status, so a concurrent writer can never be overwritten;
    only rows it actually changed are reported.
    """
    if allowed_from is None:
        allowed = _source_codes(operation, new)
    else:
        allowed = codes(allowed_sources(operation, new, [JobStatus(s) for s in allowed_from]))
    allowed_marks = sql.marks(len(allowed))
    assignments = ", ".join(["status = ?", *(f"{column} = ?" for column in extra)])
    moved: dict[int, int] = {}
    for part in chunks(list(job_ids)):
        marks = sql.marks(len(part))
        old_by_id = dict(
            sql.fetch(
                f"SELECT id, status FROM job WHERE id IN ({marks}) AND status IN ({allowed_marks})",
                [*part, *allowed],
            )
        )
        if not old_by_id:
            continue
        updated = sql.fetch(
            f"UPDATE job SET {assignments} WHERE id IN ({sql.marks(len(old_by_id))})"
            f" AND status IN ({allowed_marks}) RETURNING id",
            [int(new), *extra.values(), *old_by_id, *allowed],
        )
        for (job_id,) in updated:
            moved[job_id] = old_by_id[job_id]
    return moved


def _propagate(moves: Moves) -> None:
    """Everything that follows from status changes: counters, releases, cascades, actions."""
    if not moves.changes:
        return
    became_done = [
        job_id
        for job_id, (old, new) in moves.changes.items()
        if old not in DONE_FOR_UNBLOCKING and new in DONE_FOR_UNBLOCKING
    ]
    became_undone = [
        job_id
        for job_id, (old, new) in moves.changes.items()
        if old in DONE_FOR_UNBLOCKING and new not in DONE_FOR_UNBLOCKING
    ]
    by_new_status: dict[int, list[int]] = {}
    for job_id, (_old, new) in moves.changes.items():
        by_new_status.setdefault(new, []).append(job_id)
    for new, ids in by_new_status.items():
        actions.count_job_triggers(moves.workflow_id, ids, JobStatus(new))
    if became_undone:
        dependencies.adjust_blocker_counts(dependencies.dependents_of(became_undone), +1)
    if became_done:
        _release_dependents(moves.workflow_id, became_done, moves.poisoned & set(became_done))
        check_workflow_complete(moves.workflow_id)


def _release_dependents(workflow_id: int, finished: list[int], poisoned: set[int]) -> None:
    """Release blocked dependents whose last blocker just finished; cascade cancellations.

    A dependent whose blockers included a failure of this run is canceled when it asks for
    that (``cancel_on_blocking_job_failure``, D11 in docs/decisions.md), and the cancellation
    travels on down the graph in the same transaction.
    """
    frontier, frontier_poison = finished, poisoned
    while frontier:
        edges = dependencies.dependents_of(frontier)
        if not edges:
            return
        dependencies.adjust_blocker_counts(edges, -1)
        poisoned_dependents = {job_id for job_id, blocker in edges if blocker in frontier_poison}
        for part in chunks(list(poisoned_dependents)):
            sql.execute(
                f"UPDATE job SET has_failed_blocker = ? WHERE id IN ({sql.marks(len(part))})",
                [True, *part],
            )
        to_ready, to_cancel = dependencies.split_releasable(list({job_id for job_id, _ in edges}))
        released = _move_jobs("release", to_ready, JobStatus.READY)
        canceled = _move_jobs("cascade", to_cancel, JobStatus.CANCELED)
        if released:
            actions.count_job_triggers(workflow_id, list(released), JobStatus.READY)
            record_event(workflow_id, "job", "jobs_ready", **id_list(list(released)))
        if canceled:
            actions.count_job_triggers(workflow_id, list(canceled), JobStatus.CANCELED)
            record_event(
                workflow_id,
                "job",
                "job_canceled",
                reason="blocking job failed",
                **id_list(list(canceled)),
            )
        frontier = list(canceled)
        frontier_poison = set(canceled)


def check_workflow_complete(workflow_id: int, announce: bool = True) -> bool:
    """Fire on_workflow_complete once every job is done; return whether it is done.

    ``announce`` records the completion event; callers pass it when a job just finished,
    which is the one moment a workflow becomes complete.
    """
    if not workflow_state.workflow_is_done(workflow_id):
        return False
    if actions.trigger_workflow_complete(workflow_id):
        Workflow.update(has_detected_need_to_run_completion_script=True).where(
            Workflow.id == workflow_id
        ).execute()
    if announce:
        record_event(workflow_id, "workflow", "workflow_complete")
    return True


# --------------------------------------------------------------------------------------------
# Workflow run state
# --------------------------------------------------------------------------------------------


def cancel_workflow(workflow_id: int) -> None:
    """Mark the workflow canceled; its pending and running jobs become canceled."""
    with write_transaction():
        get_workflow(workflow_id)
        Workflow.update(is_canceled=True).where(Workflow.id == workflow_id).execute()
        active_ids = [
            row.id
            for row in Job.select(Job.id).where(
                Job.workflow_id == workflow_id, Job.status.in_(codes(ACTIVE))
            )
        ]
        moved = _move_jobs(
            "cancel_workflow", active_ids, JobStatus.CANCELED, active_compute_node_id=None
        )
        moves = Moves(workflow_id)
        for job_id, old in moved.items():
            moves.add(job_id, old, JobStatus.CANCELED)
        record_event(workflow_id, "workflow", "workflow_canceled", **id_list(list(moved)))
        _propagate(moves)


def reset_workflow_status(workflow_id: int, force: bool = False) -> None:
    """Clear canceled/archived/completion flags; refused while work is in flight."""
    with write_transaction():
        get_workflow(workflow_id)
        if not force:
            _refuse_if_active(workflow_id, "reset the workflow status")
        Workflow.update(
            is_canceled=False,
            is_archived=False,
            has_detected_need_to_run_completion_script=False,
        ).where(Workflow.id == workflow_id).execute()
        record_event(workflow_id, "workflow", "workflow_status_reset", force=force)


def _refuse_if_active(workflow_id: int, what: str) -> None:
    active_jobs = (
        Job.select().where(Job.workflow_id == workflow_id, Job.status.in_(codes(ACTIVE))).count()
    )
    active_nodes = (
        ScheduledComputeNode.select()
        .where(
            ScheduledComputeNode.workflow_id == workflow_id,
            ScheduledComputeNode.status.in_(["pending", "active"]),
        )
        .count()
    )
    if active_jobs or active_nodes:
        raise InvalidInput(
            f"Cannot {what}: {active_jobs} job(s) are pending or running and "
            f"{active_nodes} scheduled compute node(s) are pending or active; use --force "
            "(API: force=true) to override"
        )


def update_workflow_status(workflow_id: int, fields: dict[str, Any]) -> None:
    allowed = {"run_id", "is_canceled", "is_archived", "has_detected_need_to_run_completion_script"}
    values = {key: value for key, value in fields.items() if key in allowed and value is not None}
    with write_transaction():
        get_workflow(workflow_id)
        if values:
            Workflow.update(**values).where(Workflow.id == workflow_id).execute()
            record_event(workflow_id, "workflow", "workflow_status_updated", **values)


def reset_job_status(workflow_id: int, failed_only: bool = False) -> int:
    """Send jobs back to uninitialized: all of them, or only the failed kinds."""
    with write_transaction():
        get_workflow(workflow_id)
        query = Job.update(
            status=int(JobStatus.UNINITIALIZED),
            unfinished_blockers=0,
            has_failed_blocker=False,
            active_compute_node_id=None,
        ).where(Job.workflow_id == workflow_id)
        operation = "reset_failed" if failed_only else "reset_all"
        sources = allowed_sources(operation, JobStatus.UNINITIALIZED)
        query = query.where(Job.status.in_(codes(sources)))
        count = query.execute()
        record_event(
            workflow_id,
            "workflow",
            "jobs_reset",
            count=count,
            reset_type="failed_only" if failed_only else "all",
        )
        return count


# --------------------------------------------------------------------------------------------
# initialize_jobs
# --------------------------------------------------------------------------------------------


def initialize_jobs(workflow_id: int, only_uninitialized: bool = False) -> dict[str, int]:
    """Materialise implicit edges, then set every initializable job ready or blocked.

    With ``only_uninitialized`` (reinitialize), jobs downstream of an uninitialized job are
    reset first so the whole affected chain runs again. The first initialization of a
    workflow starts run 1; later runs are bumped by the client, as upstream does.
    """
    with write_transaction():
        workflow = get_workflow(workflow_id)
        dependencies.add_implicit_dependencies(workflow_id)
        dependencies.refuse_cycles(workflow_id)
        if only_uninitialized:
            _reset_downstream_of_uninitialized(workflow_id)
        counts = _evaluate_blockers(workflow_id)
        results.drop_results_of_unfinished_jobs(workflow_id)
        actions.reset_for_initialize(workflow_id)
        run_id = workflow.run_id or 1
        Workflow.update(
            run_id=run_id,
            is_canceled=False,
            has_detected_need_to_run_completion_script=False,
        ).where(Workflow.id == workflow_id).execute()
        record_event(
            workflow_id,
            "workflow",
            "workflow_reinitialized" if only_uninitialized else "workflow_started",
            run_id=run_id,
            **counts,
        )
        check_workflow_complete(workflow_id)
        return counts


def _reset_downstream_of_uninitialized(workflow_id: int) -> None:
    uninitialized = [
        row.id
        for row in Job.select(Job.id).where(
            Job.workflow_id == workflow_id, Job.status == int(JobStatus.UNINITIALIZED)
        )
    ]
    _reset_downstream_jobs(dependencies.downstream_of(uninitialized))


def _reset_downstream_jobs(job_ids: list[int]) -> None:
    """Jobs downstream of a job that runs again go back to uninitialized (not running work,
    nor jobs the user switched off)."""
    sources = codes(allowed_sources("reset_downstream", JobStatus.UNINITIALIZED))
    for part in chunks(job_ids):
        Job.update(
            status=int(JobStatus.UNINITIALIZED), unfinished_blockers=0, has_failed_blocker=False
        ).where(Job.id.in_(part), Job.status.in_(sources)).execute()


def _evaluate_blockers(workflow_id: int) -> dict[str, int]:
    """Set every initializable job blocked, ready or (D11 in docs/decisions.md) canceled.

    A blocker that is itself initializable counts as unfinished: it runs again. A blocker
    that stays failed poisons its dependents as if it had just failed, so a job the cascade
    canceled stays canceled while the job that failed is not reset, and the cancellation
    travels down the graph as usual.
    """
    targets = codes(INITIALIZABLE)
    for status in (JobStatus.BLOCKED, JobStatus.READY):
        allowed_sources("initialize", status)  # the bulk moves below are the table's
    blocker = Job.alias("blocker")
    unfinished = (
        JobDependsOn.select(peewee.fn.COUNT(JobDependsOn.depends_on_job_id))
        .join(blocker, on=(blocker.id == JobDependsOn.depends_on_job_id))
        .where(
            JobDependsOn.job_id == Job.id,
            (blocker.status.not_in(DONE_CODES)) | (blocker.status.in_(targets)),
        )
    )
    Job.update(unfinished_blockers=unfinished, has_failed_blocker=False).where(
        Job.workflow_id == workflow_id, Job.status.in_(targets)
    ).execute()
    dependencies.mark_failed_blockers(workflow_id, targets, rerunning=targets)
    Job.update(status=int(JobStatus.BLOCKED)).where(
        Job.workflow_id == workflow_id, Job.status.in_(targets), Job.unfinished_blockers > 0
    ).execute()
    poisoned = Job.has_failed_blocker & Job.cancel_on_blocking_job_failure
    free = [Job.workflow_id == workflow_id, Job.status.in_(targets), Job.unfinished_blockers <= 0]
    to_cancel = [row.id for row in Job.select(Job.id).where(*free, poisoned)]
    Job.update(status=int(JobStatus.READY)).where(*free, ~poisoned).execute()
    canceled = _move_jobs("initialize", to_cancel, JobStatus.CANCELED)
    if canceled:
        record_event(
            workflow_id,
            "job",
            "job_canceled",
            reason="blocking job failed",
            **id_list(list(canceled)),
        )
        _release_dependents(workflow_id, list(canceled), set(canceled))
    counts = dict(
        sql.fetch(
            "SELECT status, COUNT(*) FROM job WHERE workflow_id = ? AND status IN (?, ?)"
            " GROUP BY status",
            [workflow_id, int(JobStatus.READY), int(JobStatus.BLOCKED)],
        )
    )
    return {
        "ready": counts.get(int(JobStatus.READY), 0),
        "blocked": counts.get(int(JobStatus.BLOCKED), 0),
    }


# --------------------------------------------------------------------------------------------
# Claiming
# --------------------------------------------------------------------------------------------


def claim_next_jobs(workflow_id: int, limit: int, compute_node_id: int | None = None) -> list[int]:
    """Hand up to ``limit`` ready jobs, oldest first, to one caller; they become pending."""
    with write_transaction():
        _, canceled = run_state(workflow_id)
        if canceled or limit <= 0:
            return []
        rows = sql.fetch(
            "SELECT id FROM job WHERE workflow_id = ? AND status = ? ORDER BY id LIMIT ?",
            [workflow_id, int(JobStatus.READY), limit],
        )
        return _claim(workflow_id, [row[0] for row in rows], compute_node_id)


def _claim(workflow_id: int, job_ids: list[int], compute_node_id: int | None = None) -> list[int]:
    """ready -> pending; the claiming compute node is remembered so it can resynchronise."""
    moved = _move_jobs("claim", job_ids, JobStatus.PENDING, active_compute_node_id=compute_node_id)
    claimed = [job_id for job_id in job_ids if job_id in moved]
    if claimed:
        record_event(
            workflow_id, "job", "jobs_claimed", compute_node_id=compute_node_id, **id_list(claimed)
        )
    return claimed


def claim_jobs_based_on_resources(
    workflow_id: int,
    limit: int,
    capacity: Capacity,
    sort_method: str = "none",
    strict_scheduler_match: bool = False,
) -> tuple[list[int], str | None]:
    """Claim ready jobs that fit ``capacity`` together; return (job IDs, reason if none)."""
    with write_transaction():
        _, canceled = run_state(workflow_id)
        if canceled:
            return [], "Workflow is canceled"
        if limit <= 0:
            return [], "limit is zero"
        requirements = fitting_requirements(workflow_id, capacity)
        if not requirements:
            return [], "No resource requirements fit the offered resources"
        chosen = choose_fitting_jobs(workflow_id, limit, capacity, requirements, sort_method, True)
        if not chosen and not strict_scheduler_match:
            chosen = choose_fitting_jobs(
                workflow_id, limit, capacity, requirements, sort_method, False
            )
        claimed = _claim(workflow_id, chosen, capacity.compute_node_id)
        return claimed, None if claimed else "No ready jobs fit the offered resources"


# --------------------------------------------------------------------------------------------
# One job's run: start, complete, retry
# --------------------------------------------------------------------------------------------


def _check_run_id(workflow_id: int, run_id: int) -> None:
    current, _ = run_state(workflow_id)
    if int(run_id) != current:
        raise InvalidInput(
            f"run_id {run_id} does not match the workflow's current run_id {current}"
        )


# A batch call reports, per job, None when applied or the error that stopped it.
Outcomes = dict[int, TorcError | None]


def start_job(job_id: int, run_id: int, compute_node_id: int) -> None:
    """pending -> running on ``compute_node_id``; remembers the inputs the job runs with."""
    workflow_id = job_workflow_id(job_id)
    _raise_first(start_jobs(workflow_id, run_id, compute_node_id, [job_id]))


def start_jobs(workflow_id: int, run_id: int, compute_node_id: int, job_ids: list[int]) -> Outcomes:
    with write_transaction():
        _check_run_id(workflow_id, run_id)
        require_same_workflow(ComputeNode, [compute_node_id], workflow_id, "compute_node_id")
        jobs = _jobs_of(workflow_id, job_ids)
        outcomes: Outcomes = {}
        startable = []
        for job_id in job_ids:
            job = jobs.get(job_id)
            if job is None:
                outcomes[job_id] = NotFound(f"Job {job_id} not found in workflow {workflow_id}")
            elif job.status != JobStatus.PENDING:
                outcomes[job_id] = InvalidTransition(
                    job_id, label(job.status), "running", "only a pending job can be started"
                )
            else:
                startable.append(job_id)
        moved = _move_jobs(
            "start", startable, JobStatus.RUNNING, active_compute_node_id=compute_node_id
        )
        hashes = compute_input_hashes(list(moved))
        bulk_update(Job, "input_hash", [(hashes[job_id], job_id) for job_id in moved])
        record_events(
            workflow_id,
            "job",
            [
                _job_event("job_started", jobs[job_id], run_id, compute_node_id=compute_node_id)
                for job_id in moved
            ],
        )
        for job_id in startable:
            outcomes[job_id] = (
                None
                if job_id in moved
                else InvalidTransition(job_id, "pending", "running", "job changed status")
            )
        return outcomes


@dataclass(frozen=True)
class JobRow:
    id: int
    workflow_id: int
    name: str
    status: int
    attempt_id: int


def _jobs_of(workflow_id: int, job_ids: list[int]) -> dict[int, JobRow]:
    found: dict[int, JobRow] = {}
    for part in chunks(list(dict.fromkeys(job_ids))):
        rows = sql.fetch(
            "SELECT id, workflow_id, name, status, attempt_id FROM job"
            f" WHERE workflow_id = ? AND id IN ({sql.marks(len(part))})",
            [workflow_id, *part],
        )
        found.update((row[0], JobRow(*row)) for row in rows)
    return found


def _job_event(kind: str, job: JobRow, run_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "job_id": job.id,
        "job_name": job.name,
        "run_id": run_id,
        "attempt_id": job.attempt_id,
        **extra,
    }


def _raise_first(outcomes: Outcomes) -> None:
    for error in outcomes.values():
        if error is not None:
            raise error


@dataclass
class Report:
    """One finished attempt as a runner reports it."""

    job_id: int
    status: JobStatus
    result: dict[str, Any]


def complete_job(job_id: int, status: JobStatus, run_id: int, result: dict[str, Any]) -> None:
    """Record a finished attempt and move the job to ``status``."""
    workflow_id = job_workflow_id(job_id)
    _raise_first(complete_jobs(workflow_id, run_id, [Report(job_id, status, result)]))


def complete_jobs(workflow_id: int, run_id: int, reports: list[Report]) -> Outcomes:
    """Store results and move jobs to their reported statuses; dependents follow at once."""
    # A batch that reports one job twice (a runner resending after a lost answer) counts
    # the first report: a second result row would break the whole batch, again and again.
    first: dict[int, Report] = {}
    for report in reports:
        first.setdefault(report.job_id, report)
    if len(first) < len(reports):
        logger.warning("workflow %d: a batch reported a job more than once", workflow_id)
    reports = list(first.values())
    with write_transaction():
        _check_run_id(workflow_id, run_id)
        jobs = _jobs_of(workflow_id, [report.job_id for report in reports])
        outcomes: Outcomes = {}
        accepted: list[Report] = []
        for report in reports:
            error = _completion_error(workflow_id, run_id, jobs.get(report.job_id), report)
            outcomes[report.job_id] = error
            if error is None:
                accepted.append(report)
        moves = Moves(workflow_id)
        for status in {report.status for report in accepted}:
            ids = [r.job_id for r in accepted if r.status == status]
            moved = _move_jobs("complete", ids, status, active_compute_node_id=None)
            for report in (r for r in accepted if r.status == status):
                if report.job_id not in moved:
                    outcomes[report.job_id] = InvalidTransition(
                        report.job_id,
                        label(jobs[report.job_id].status),
                        status.label,
                        "job changed status",
                    )
                    continue
                poison = poisons(status, report.result["return_code"])
                moves.add(report.job_id, moved[report.job_id], status, poison=poison)
        stored = [r for r in accepted if outcomes[r.job_id] is None]
        _store_results(workflow_id, run_id, jobs, stored)
        record_events(
            workflow_id,
            "job",
            [
                _job_event(
                    f"job_{r.status.label}",
                    jobs[r.job_id],
                    run_id,
                    return_code=r.result["return_code"],
                    compute_node_id=r.result.get("compute_node_id"),
                )
                for r in stored
            ],
        )
        _propagate(moves)
        return outcomes


def _store_results(
    workflow_id: int, run_id: int, jobs: dict[int, JobRow], reports: list[Report]
) -> None:
    attempts = [
        Attempt(
            report.job_id,
            report.status,
            report.result.get("attempt_id") or jobs[report.job_id].attempt_id,
            report.result,
        )
        for report in reports
    ]
    results.store_results(workflow_id, run_id, attempts)


def _completion_error(
    workflow_id: int, run_id: int, job: JobRow | None, report: Report
) -> TorcError | None:
    if report.status not in TERMINAL:
        allowed = ", ".join(s.label for s in sorted(TERMINAL))
        return InvalidInput(
            f"complete_job status must be one of {allowed}; got {report.status.label}"
        )
    if job is None:
        return NotFound(f"Job {report.job_id} not found in workflow {workflow_id}")
    for key, expected in (("job_id", job.id), ("workflow_id", workflow_id), ("run_id", run_id)):
        given = report.result.get(key)
        if given is not None and int(given) != int(expected):
            return InvalidInput(f"result {key} {given} does not match {key} {expected}")
    if job.status not in COMPLETABLE:
        reason = (
            "the job has already finished"
            if job.status in COMPLETE
            else "only a pending, running or pending_failed job can be completed"
        )
        return InvalidTransition(job.id, label(job.status), report.status.label, reason)
    return None


# What a retry's record of the failed attempt must carry.
RETRY_RESULT_FIELDS = ("compute_node_id", "return_code", "exec_time_minutes", "completion_time")


@dataclass
class Retry:
    """A failed attempt to try again; ``result`` (optional) records the failed attempt."""

    job_id: int
    max_retries: int
    result: dict[str, Any] | None = None


def retry_job(
    job_id: int, run_id: int, max_retries: int, result: dict[str, Any] | None = None
) -> None:
    """Reserve another attempt for a failed job: back to ready with attempt_id + 1.

    ``max_retries`` counts retries after the first attempt (D5, docs/decisions.md), so attempts run
    1 .. max_retries + 1.
    """
    job = get_job(job_id)
    _raise_first(retry_jobs(job.workflow_id, run_id, [Retry(job_id, max_retries, result)]))


def retry_jobs(workflow_id: int, run_id: int, retries: list[Retry]) -> Outcomes:
    with write_transaction():
        _check_run_id(workflow_id, run_id)
        jobs = _jobs_of(workflow_id, [retry.job_id for retry in retries])
        outcomes: Outcomes = {}
        for retry in retries:
            job = jobs.get(retry.job_id)
            error = _retry_error(workflow_id, job, retry)
            # _retry_error reports a missing job, so a job is there when there is no error.
            outcomes[retry.job_id] = error or _reserve_retry(
                workflow_id, run_id, cast(JobRow, job), retry
            )
        return outcomes


def _retry_error(workflow_id: int, job: JobRow | None, retry: Retry) -> TorcError | None:
    if job is None:
        return NotFound(f"Job {retry.job_id} not found in workflow {workflow_id}")
    if job.status not in RETRYABLE:
        return InvalidTransition(
            job.id,
            label(job.status),
            "ready",
            "only a running, failed, terminated or pending_failed job can be retried",
        )
    if job.attempt_id > retry.max_retries:
        return InvalidInput(
            f"Job {job.id} has used all {retry.max_retries} retries (attempt {job.attempt_id})"
        )
    missing = [key for key in RETRY_RESULT_FIELDS if (retry.result or {}).get(key) is None]
    if retry.result is not None and missing:
        return InvalidInput(f"the failed attempt's result needs {', '.join(missing)}")
    return None


def _reserve_retry(workflow_id: int, run_id: int, job: JobRow, retry: Retry) -> TorcError | None:
    moved = _move_jobs(
        "retry",
        [job.id],
        JobStatus.READY,
        [job.status],
        attempt_id=job.attempt_id + 1,
        active_compute_node_id=None,
    )
    if not moved:
        return InvalidTransition(job.id, label(job.status), "ready", "job changed status")
    if retry.result is not None:
        failed = {**retry.result, "attempt_id": job.attempt_id}
        _store_results(
            workflow_id, run_id, {job.id: job}, [Report(job.id, JobStatus.FAILED, failed)]
        )
    record_event(
        workflow_id,
        "job",
        "job_retried",
        job_id=job.id,
        job_name=job.name,
        run_id=run_id,
        attempt_id=job.attempt_id + 1,
        max_retries=retry.max_retries,
        return_code=(retry.result or {}).get("return_code"),
    )
    _propagate(Moves(workflow_id, {job.id: (job.status, JobStatus.READY)}))
    return None


def manage_status_change(job_id: int, status: JobStatus, run_id: int) -> None:
    """Set a job's status by hand, with the consequences the graph implies.

    Moving to a complete status needs a result for this run; moving a complete job back to
    an unfinished status sends everything downstream of it back to uninitialized.
    """
    with write_transaction():
        job = get_job(job_id)
        _check_run_id(job.workflow_id, run_id)
        result = None
        if status in COMPLETE:
            result = results.latest_result_of_run(job_id, run_id)
            if result is None:
                raise InvalidTransition(
                    job_id, label(job.status), status.label, f"no result exists for run {run_id}"
                )
        if job.status in COMPLETE and status not in COMPLETE:
            _reset_downstream(job.workflow_id, job_id)
        poison = result is not None and poisons(status, result.return_code)
        if job.status == JobStatus.PENDING_FAILED and status == JobStatus.READY:
            # Reclassified as retryable: the rerun is a new attempt, with its own logs and
            # result, as a failure handler's retry is.
            extra = {"attempt_id": job.attempt_id + 1, "active_compute_node_id": None}
            _set_status_by_hand("reclassify", job, status, poison, **extra)
        else:
            _set_status_by_hand("manage_status_change", job, status, poison)


def _reset_downstream(workflow_id: int, job_id: int) -> None:
    downstream = dependencies.downstream_of([job_id])
    _reset_downstream_jobs(downstream)
    if downstream:
        record_event(
            workflow_id, "job", "jobs_reset", reason="upstream job reset", **id_list(downstream)
        )


def _set_status_by_hand(
    operation: str, job: Job, status: JobStatus, poison: bool, **extra: Any
) -> None:
    if job.status == status:
        return
    moved = _move_jobs(operation, [job.id], status, [job.status], **extra)
    if not moved:
        raise InvalidTransition(job.id, label(job.status), status.label, "job changed status")
    record_event(
        job.workflow_id,
        "job",
        f"job_{status.label}",
        job_id=job.id,
        job_name=job.name,
        previous_status=label(job.status),
        manual=True,
        attempt_id=extra.get("attempt_id", job.attempt_id),
    )
    moves = Moves(job.workflow_id)
    moves.add(job.id, job.status, status, poison=poison)
    _propagate(moves)


def set_job_status(job_id: int, status: JobStatus) -> None:
    """A status set through a plain job update (how ``disabled`` is entered, and how a
    pending_failed job is classified as failed); consequences propagate as usual."""
    with write_transaction():
        job = get_job(job_id)
        _set_status_by_hand("update_job", job, status, poison=poisons(status, None))


# --------------------------------------------------------------------------------------------
# Inputs: hashes, changed inputs, required files and user data
# --------------------------------------------------------------------------------------------


def process_changed_job_inputs(workflow_id: int, dry_run: bool = False) -> list[str]:
    """Completed jobs whose inputs differ from the ones they ran with go back to uninitialized.

    Returns the names of those jobs. Their downstream is reset by the reinitialize that
    follows (``initialize_jobs(only_uninitialized=True)``).
    """
    with write_transaction():
        get_workflow(workflow_id)
        finished = {
            row.id: (row.name, row.input_hash)
            for row in Job.select(Job.id, Job.name, Job.input_hash).where(
                Job.workflow_id == workflow_id,
                Job.status == int(JobStatus.COMPLETED),
                Job.input_hash.is_null(False),
            )
        }
        current = compute_input_hashes(list(finished))
        changed = [job_id for job_id, (_, stored) in finished.items() if current[job_id] != stored]
        if changed and not dry_run:
            for part in chunks(changed):
                _move_jobs("inputs_changed", part, JobStatus.UNINITIALIZED)
            record_event(
                workflow_id, "job", "jobs_reset", reason="inputs changed", **id_list(changed)
            )
        return sorted(finished[job_id][0] for job_id in changed)


# --------------------------------------------------------------------------------------------
# The periodic safety net
# --------------------------------------------------------------------------------------------


def sweep_workflow(workflow_id: int) -> int:
    """Recount blockers of blocked jobs from scratch and release what is free.

    Dependents are normally released by the transaction that frees them; this catches
    anything a crash or a hand edit of the database left behind. Returns jobs released.
    """
    with write_transaction():
        blocker = Job.alias("blocker")
        unfinished = (
            JobDependsOn.select(peewee.fn.COUNT(JobDependsOn.depends_on_job_id))
            .join(blocker, on=(blocker.id == JobDependsOn.depends_on_job_id))
            .where(JobDependsOn.job_id == Job.id, blocker.status.not_in(DONE_CODES))
        )
        Job.update(unfinished_blockers=unfinished).where(
            Job.workflow_id == workflow_id, Job.status == int(JobStatus.BLOCKED)
        ).execute()
        dependencies.mark_failed_blockers(workflow_id, [int(JobStatus.BLOCKED)])
        free = [
            row.id
            for row in Job.select(Job.id).where(
                Job.workflow_id == workflow_id,
                Job.status == int(JobStatus.BLOCKED),
                Job.unfinished_blockers <= 0,
            )
        ]
        to_ready, to_cancel = dependencies.split_releasable(free)
        moves = Moves(workflow_id)
        for job_id, old in _move_jobs("release", to_ready, JobStatus.READY).items():
            moves.add(job_id, old, JobStatus.READY)
        for job_id, old in _move_jobs("cascade", to_cancel, JobStatus.CANCELED).items():
            moves.add(job_id, old, JobStatus.CANCELED, poison=True)
        if moves.changes:
            record_event(
                workflow_id, "job", "jobs_released_by_sweep", **id_list(list(moves.changes))
            )
        _propagate(moves)
        if not moves.changes:
            check_workflow_complete(workflow_id, announce=False)
        return len(moves.changes)


# --------------------------------------------------------------------------------------------
# Orphans: the jobs of a runner that is gone (``orphans`` finds them)
# --------------------------------------------------------------------------------------------


def release_lost_runner_jobs(
    workflow_id: int, node_id: int | None, rows: list[tuple[int, int]]
) -> tuple[int, int]:
    """Claimed jobs of a lost runner go back to ready; its running jobs fail with
    ``ORPHAN_RETURN_CODE`` (or go back to ready when their failure handler retries that).
    ``rows`` are (job ID, status); returns (requeued, failed or retried)."""
    pending = [job_id for job_id, status in rows if status == JobStatus.PENDING]
    running = [job_id for job_id, status in rows if status == JobStatus.RUNNING]
    requeued = _move_jobs("requeue_orphan", pending, JobStatus.READY, active_compute_node_id=None)
    if requeued:
        actions.count_job_triggers(workflow_id, list(requeued), JobStatus.READY)
        record_event(
            workflow_id,
            "job",
            "jobs_orphaned",
            action="requeued",
            compute_node_id=node_id,
            **id_list(list(requeued)),
        )
    if running:
        run_id, _ = run_state(workflow_id)
        result = {
            "compute_node_id": node_id,
            "return_code": ORPHAN_RETURN_CODE,
            "exec_time_minutes": 0.0,
            "completion_time": utc_now_text(),
        }
        # Jobs whose handler retries them go straight back to ready (running -> ready, as a
        # runner's retry does), so their dependents are never canceled on the way.
        retries = _handler_retries(running, ORPHAN_RETURN_CODE, result)
        if retries:
            retry_jobs(workflow_id, run_id, retries)
        retried = {retry.job_id for retry in retries}
        failing = [job_id for job_id in running if job_id not in retried]
        complete_jobs(
            workflow_id, run_id, [Report(job_id, JobStatus.FAILED, result) for job_id in failing]
        )
        record_event(
            workflow_id,
            "job",
            "jobs_orphaned",
            action="failed",
            compute_node_id=node_id,
            return_code=ORPHAN_RETURN_CODE,
            retried=sorted(retried),
            **id_list(running),
        )
    return len(requeued), len(running)


def _handler_retries(job_ids: list[int], return_code: int, result: dict[str, Any]) -> list[Retry]:
    """Retries the jobs' failure handlers ask for (rules with a recovery script are left to
    ``torc recover``: the script must run where the job's files are)."""
    rows = sql.fetch(
        "SELECT job.id, job.attempt_id, failure_handler.rules FROM job JOIN failure_handler"
        " ON failure_handler.id = job.failure_handler_id"
        f" WHERE job.id IN ({sql.marks(len(job_ids))})",
        job_ids,
    )
    retries = []
    for job_id, attempt_id, rules in rows:
        decision = decide(parse_rules(rules), return_code, attempt_id, use_pending_failed=False)
        if decision.action == "retry" and decision.rule is not None:
            retries.append(Retry(job_id, decision.rule.max_retries, result))
    return retries
