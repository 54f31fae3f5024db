"""Every job status transition the lifecycle may make: one table, one row per operation.

``lifecycle`` names the row of each change it makes (``move`` checks the change against it),
so no status change exists that this table does not list. docs/lifecycle.md shows the same
table; tests/test_transitions.py checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.shared.status import RESETTABLE_FAILED, TERMINAL, JobStatus

S = JobStatus
ANY = frozenset(JobStatus)

# Jobs that initialize_jobs (re)evaluates; others keep their status. Canceled jobs are cut
# off before they finished, so they run again (the seed's "Restart After Cancellation"),
# unless a failed blocker cancels them once more (D11, docs/decisions.md). Failed jobs stay
# failed until ``reset-status --failed-only``.
INITIALIZABLE = frozenset(
    {S.UNINITIALIZED, S.BLOCKED, S.READY, S.CANCELED, S.TERMINATED, S.PENDING_FAILED}
)

# Downstream resets leave these alone: running work, and jobs the user switched off.
KEEP_ON_RESET = frozenset({S.PENDING, S.RUNNING, S.DISABLED})


@dataclass(frozen=True)
class Transition:
    operation: str  # the lifecycle operation (docs/lifecycle.md's first column)
    sources: frozenset[JobStatus]
    targets: frozenset[JobStatus]


def _row(operation: str, sources: Iterable[JobStatus], targets: Iterable[JobStatus]) -> Transition:
    return Transition(operation, frozenset(sources), frozenset(targets))


TRANSITIONS: tuple[Transition, ...] = (
    _row("initialize", INITIALIZABLE, {S.READY, S.BLOCKED, S.CANCELED}),
    _row("release", {S.BLOCKED}, {S.READY}),
    _row("cascade", {S.BLOCKED}, {S.CANCELED}),
    _row("claim", {S.READY}, {S.PENDING}),
    _row("start", {S.PENDING}, {S.RUNNING}),
    _row("complete", {S.PENDING, S.RUNNING, S.PENDING_FAILED}, TERMINAL),
    _row("retry", {S.RUNNING, S.FAILED, S.TERMINATED, S.PENDING_FAILED}, {S.READY}),
    _row("reclassify", {S.PENDING_FAILED}, {S.READY}),
    _row("requeue_orphan", {S.PENDING}, {S.READY}),
    _row("cancel_workflow", {S.PENDING, S.RUNNING}, {S.CANCELED}),
    _row("manage_status_change", ANY, ANY),
    _row("update_job", ANY, ANY),
    _row("reset_downstream", ANY - KEEP_ON_RESET, {S.UNINITIALIZED}),
    _row("inputs_changed", {S.COMPLETED}, {S.UNINITIALIZED}),
    _row("reset_failed", RESETTABLE_FAILED, {S.UNINITIALIZED}),
    _row("reset_all", ANY, {S.UNINITIALIZED}),
)

BY_OPERATION = {transition.operation: transition for transition in TRANSITIONS}

# Jobs a runner may report finished.
COMPLETABLE = BY_OPERATION["complete"].sources
# Jobs a retry may send back to ready.
RETRYABLE = BY_OPERATION["retry"].sources


def allowed_sources(
    operation: str, target: JobStatus, sources: Iterable[JobStatus] | None = None
) -> frozenset[JobStatus]:
    """The statuses ``operation`` may move a job from to ``target``: the table row's, or the
    narrower ``sources`` given. A move the table does not list is a bug, never data."""
    row = BY_OPERATION[operation]
    if target not in row.targets:
        raise ValueError(f"{operation} never moves a job to {target.label}")
    if sources is None:
        return row.sources
    chosen = frozenset(JobStatus(status) for status in sources)
    if not chosen <= row.sources:
        extra = ", ".join(sorted(status.label for status in chosen - row.sources))
        raise ValueError(f"{operation} never moves a job from {extra}")
    return chosen
