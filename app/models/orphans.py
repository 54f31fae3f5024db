"""Orphans: jobs whose runner is gone (silent past the heartbeat timeout, or known dead).

Finding them is here: which runners are lost, which of their jobs are stranded. What becomes
of those jobs (claimed ones back to ready, running ones failed or retried with return code
``ORPHAN_RETURN_CODE``) is a status change, made by ``lifecycle.release_lost_runner_jobs``.
"""

from __future__ import annotations

from app.models import lifecycle, sql
from app.models.common import get_workflow, require_same_workflow
from app.models.db import write_transaction
from app.models.events import record_event
from app.models.tables import ComputeNode
from app.shared.status import JobStatus


def silence_cutoff(now: float, timeout_seconds: float, server_started: float) -> float | None:
    """Heartbeats older than this mean a runner is gone; None while none can be yet.

    Silence counts from this server's start at the earliest: while the server was down no
    runner could reach it, so after a restart every runner gets a full timeout to heartbeat
    again before its jobs are taken for orphans.
    """
    cutoff = now - timeout_seconds
    return cutoff if server_started <= cutoff else None


def handle_orphans(now: float, timeout_seconds: float, server_started: float) -> dict[str, int]:
    """Retire runners silent for ``timeout_seconds`` and deal with the jobs they held.

    Jobs they had claimed but not started go back to ready (nothing ran). Jobs they were
    running are finished as failed with return code -128, through the same path as any
    other failure, so dependents are canceled or a failure handler / ``torc recover`` can
    retry them. Runners that never sent a heartbeat are left alone, and so is everyone in
    the first ``timeout_seconds`` after the server started (``silence_cutoff``).
    """
    counts = {"compute_nodes": 0, "requeued": 0, "failed": 0}
    cutoff = silence_cutoff(now, timeout_seconds, server_started)
    if cutoff is None:
        return counts
    with write_transaction():
        stale = sql.fetch(
            "SELECT id, workflow_id FROM compute_node WHERE is_active = ?"
            " AND last_heartbeat IS NOT NULL AND last_heartbeat < ?",
            [True, cutoff],
        )
        for node_id, workflow_id in stale:
            sql.execute("UPDATE compute_node SET is_active = ? WHERE id = ?", [False, node_id])
            record_event(workflow_id, "compute_node", "compute_node_lost", compute_node_id=node_id)
            requeued, failed = _release_orphaned_jobs(workflow_id, node_id)
            counts["compute_nodes"] += 1
            counts["requeued"] += requeued
            counts["failed"] += failed
    return counts


def detect_orphans(
    workflow_id: int,
    lost_node_ids: list[int],
    now: float,
    timeout_seconds: float,
    server_started: float,
) -> dict[str, int]:
    """``torc recover``'s first step, for one workflow and at once.

    Retires the runners the caller knows are gone (``lost_node_ids``, e.g. dead local PIDs)
    and those silent past the heartbeat timeout (``silence_cutoff``), then treats as orphans
    the running jobs whose runner is inactive or unknown, and the claimed jobs of inactive
    runners.
    """
    counts = {"compute_nodes": 0, "requeued": 0, "failed": 0}
    cutoff = silence_cutoff(now, timeout_seconds, server_started)
    with write_transaction():
        get_workflow(workflow_id)
        lost = require_same_workflow(
            ComputeNode, lost_node_ids, workflow_id, "lost_compute_node_ids"
        )
        silent = (
            []
            if cutoff is None
            else sql.fetch(
                "SELECT id FROM compute_node WHERE workflow_id = ? AND is_active = ?"
                " AND last_heartbeat IS NOT NULL AND last_heartbeat < ?",
                [workflow_id, True, cutoff],
            )
        )
        for node_id in dict.fromkeys([*lost, *(row[0] for row in silent)]):
            retired = sql.execute(
                "UPDATE compute_node SET is_active = ? WHERE id = ? AND is_active = ?",
                [False, node_id, True],
            )
            if retired:
                counts["compute_nodes"] += 1
                record_event(
                    workflow_id, "compute_node", "compute_node_lost", compute_node_id=node_id
                )
        stranded = sql.fetch(
            "SELECT job.id, job.status, job.active_compute_node_id FROM job"
            " LEFT JOIN compute_node ON compute_node.id = job.active_compute_node_id"
            " WHERE job.workflow_id = ? AND (compute_node.id IS NULL OR compute_node.is_active = ?)"
            " AND (job.status = ? OR (job.status = ? AND compute_node.id IS NOT NULL))",
            [workflow_id, False, int(JobStatus.RUNNING), int(JobStatus.PENDING)],
        )
        by_node: dict[int | None, list[tuple[int, int]]] = {}
        for job_id, status, node_id in stranded:
            by_node.setdefault(node_id, []).append((job_id, status))
        for node_id, rows in by_node.items():
            requeued, failed = lifecycle.release_lost_runner_jobs(workflow_id, node_id, rows)
            counts["requeued"] += requeued
            counts["failed"] += failed
    return counts


def _release_orphaned_jobs(workflow_id: int, node_id: int) -> tuple[int, int]:
    rows = sql.fetch(
        "SELECT id, status FROM job WHERE active_compute_node_id = ? AND status IN (?, ?)",
        [node_id, int(JobStatus.PENDING), int(JobStatus.RUNNING)],
    )
    return lifecycle.release_lost_runner_jobs(workflow_id, node_id, rows)
