"""The dependency graph as the lifecycle needs it: implicit edges from shared files and user
data, the cycle check, dependents and downstream of jobs, and the per-job counters derived
from the graph (``unfinished_blockers``, ``has_failed_blocker``) that let a finishing job
release its dependents in O(its dependents) (D2, docs/decisions.md)."""

from __future__ import annotations

from collections import Counter

from app.errors import InvalidInput
from app.models import sql
from app.models.common import chunks
from app.models.tables import (
    Job,
    JobDependsOn,
    JobInputFile,
    JobInputUserData,
    JobOutputFile,
    JobOutputUserData,
)
from app.shared.graph import cycle_members
from app.shared.status import JobStatus


def add_implicit_dependencies(workflow_id: int) -> None:
    """Producer -> consumer edges from shared files and user data, added once."""
    for output_link, input_link, column in (
        (JobOutputFile, JobInputFile, "file_id"),
        (JobOutputUserData, JobInputUserData, "user_data_id"),
    ):
        producer = output_link.alias("producer")
        consumer = input_link.alias("consumer")
        pairs = (
            consumer.select(consumer.job_id, producer.job_id, consumer.workflow_id)
            .join(
                producer,
                on=(getattr(producer, column) == getattr(consumer, column)),
            )
            .where(consumer.workflow_id == workflow_id, consumer.job_id != producer.job_id)
            .distinct()
        )
        JobDependsOn.insert_from(
            pairs, [JobDependsOn.job_id, JobDependsOn.depends_on_job_id, JobDependsOn.workflow_id]
        ).on_conflict_ignore().execute()


def refuse_cycles(workflow_id: int) -> None:
    """Reject a dependency cycle: its jobs could never run. Names the jobs involved."""
    backward = sql.fetch(
        "SELECT 1 FROM job_depends_on WHERE workflow_id = ? AND depends_on_job_id >= job_id"
        " LIMIT 1",
        [workflow_id],
    )
    if not backward:
        return  # every job depends only on jobs created before it: no cycle is possible
    edges = list(
        JobDependsOn.select(JobDependsOn.job_id, JobDependsOn.depends_on_job_id)
        .where(JobDependsOn.workflow_id == workflow_id)
        .tuples()
    )
    if not edges:
        return
    remaining = cycle_members(edges)
    if remaining:
        names = [
            row.name
            for row in Job.select(Job.name).where(Job.id.in_(remaining[:20])).order_by(Job.id)
        ]
        raise InvalidInput(
            "Circular dependency detected involving jobs: " + ", ".join(names),
            details={"job_ids": remaining[:1000]},
        )


def dependents_of(blocker_ids: list[int]) -> list[tuple[int, int]]:
    """(dependent, blocker) edges leaving ``blocker_ids``."""
    edges: list[tuple[int, int]] = []
    for part in chunks(blocker_ids):
        edges.extend(
            sql.fetch(
                "SELECT job_id, depends_on_job_id FROM job_depends_on"
                f" WHERE depends_on_job_id IN ({sql.marks(len(part))})",
                part,
            )
        )
    return edges


def adjust_blocker_counts(edges: list[tuple[int, int]], sign: int) -> None:
    """Add ``sign`` per edge to each dependent's count of unfinished blockers."""
    per_dependent = Counter(job_id for job_id, _ in edges)
    by_amount: dict[int, list[int]] = {}
    for job_id, amount in per_dependent.items():
        by_amount.setdefault(amount, []).append(job_id)
    for amount, ids in by_amount.items():
        for part in chunks(ids):
            sql.execute(
                "UPDATE job SET unfinished_blockers = unfinished_blockers + ?"
                f" WHERE id IN ({sql.marks(len(part))})",
                [sign * amount, *part],
            )


def mark_failed_blockers(
    workflow_id: int, statuses: list[int], rerunning: list[int] | None = None
) -> None:
    """Flag the jobs in ``statuses`` that wait on a blocker whose finish poisons them.

    For the paths that evaluate the graph afresh (initialization, the periodic sweep) rather
    than one finishing job at a time: a failed or terminated blocker poisons, and so does one
    the cascade canceled. Blockers in ``rerunning`` do not: they are about to run again.
    """
    poisoning = [int(JobStatus.FAILED), int(JobStatus.TERMINATED), int(JobStatus.CANCELED)]
    present = sql.fetch(
        "SELECT 1 FROM job WHERE workflow_id = ? AND status IN (?, ?, ?) LIMIT 1",
        [workflow_id, *poisoning],
    )
    if not present:
        return  # the common case (a fresh workflow): nothing can poison
    rerunning = rerunning or []
    sql.execute(
        "UPDATE job SET has_failed_blocker = ? WHERE workflow_id = ?"
        f" AND status IN ({sql.marks(len(statuses))}) AND EXISTS ("
        " SELECT 1 FROM job_depends_on JOIN job AS blocker"
        " ON blocker.id = job_depends_on.depends_on_job_id"
        " WHERE job_depends_on.job_id = job.id"
        f" AND blocker.status NOT IN ({sql.marks(len(rerunning))})"
        " AND (blocker.status IN (?, ?) OR (blocker.status = ? AND blocker.has_failed_blocker)))",
        [True, workflow_id, *statuses, *rerunning, *poisoning],
    )


def split_releasable(candidate_ids: list[int]) -> tuple[list[int], list[int]]:
    """Blocked jobs with no unfinished blocker left: those to release, those to cancel."""
    to_ready: list[int] = []
    to_cancel: list[int] = []
    for part in chunks(candidate_ids):
        rows = sql.fetch(
            "SELECT id, has_failed_blocker, cancel_on_blocking_job_failure FROM job"
            f" WHERE id IN ({sql.marks(len(part))}) AND status = ? AND unfinished_blockers <= 0",
            [*part, int(JobStatus.BLOCKED)],
        )
        for job_id, failed_blocker, cancel_on_failure in rows:
            (to_cancel if failed_blocker and cancel_on_failure else to_ready).append(job_id)
    return to_ready, to_cancel


def downstream_of(job_ids: list[int]) -> list[int]:
    """Every job that depends, directly or not, on ``job_ids`` (breadth first, each once)."""
    frontier, seen = list(job_ids), set(job_ids)
    downstream: list[int] = []
    while frontier:
        dependents = {dependent for dependent, _ in dependents_of(frontier)} - seen
        seen |= dependents
        frontier = list(dependents)
        downstream.extend(frontier)
    return downstream
