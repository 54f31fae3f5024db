"""Which ready jobs fit what a runner offers: the selection half of resource claiming.

Claiming itself (ready -> pending) is a transition and lives in ``lifecycle``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import peewee

from app.models import sql
from app.models.common import get_workflow
from app.models.tables import Job
from app.models.tables import ResourceRequirements as RR
from app.shared.status import JobStatus
from app.shared.units import format_runtime


@dataclass
class Capacity:
    """What a compute node offers one claim: the ComputeNodesResources body."""

    num_cpus: int
    memory_bytes: int
    num_gpus: int
    num_nodes: int
    time_limit_seconds: float | None = None
    scheduler_config_id: int | None = None
    compute_node_id: int | None = None

    def fits(self, rr: dict[str, Any]) -> bool:
        return (
            rr["num_cpus"] <= self.num_cpus
            and rr["memory_bytes"] <= self.memory_bytes
            and rr["num_gpus"] <= self.num_gpus
            and rr["num_nodes"] <= self.num_nodes
            and (
                self.time_limit_seconds is None or rr["runtime_seconds"] <= self.time_limit_seconds
            )
        )

    def how_many(self, rr: dict[str, Any], wanted: int) -> int:
        """How many jobs needing ``rr`` fit in what is left (at most ``wanted``)."""
        count = wanted
        for need, left in (
            (rr["num_cpus"], self.num_cpus),
            (rr["memory_bytes"], self.memory_bytes),
            (rr["num_gpus"], self.num_gpus),
        ):
            if need > 0:
                count = min(count, left // need)
        if rr["num_nodes"] > 1:
            count = min(count, self.num_nodes // rr["num_nodes"])
        return max(count, 0)

    def take(self, rr: dict[str, Any], count: int) -> None:
        self.num_cpus -= rr["num_cpus"] * count
        self.memory_bytes -= rr["memory_bytes"] * count
        self.num_gpus -= rr["num_gpus"] * count
        if rr["num_nodes"] > 1:
            self.num_nodes -= rr["num_nodes"] * count


SORT_KEYS = {
    "gpus_runtime_memory": lambda rr: (
        -rr["num_gpus"],
        -rr["runtime_seconds"],
        -rr["memory_bytes"],
    ),
    "gpus_memory_runtime": lambda rr: (
        -rr["num_gpus"],
        -rr["memory_bytes"],
        -rr["runtime_seconds"],
    ),
}


FITTING_COLUMNS = ("id", "num_cpus", "memory_bytes", "num_gpus", "num_nodes", "runtime_seconds")


def fitting_requirements(workflow_id: int, capacity: Capacity) -> list[dict[str, Any]]:
    """The workflow's resource requirements that one job could run with on ``capacity``."""
    # Hand-written SQL: every resource claim asks this (see app.models.sql).
    rows = sql.fetch(
        f"SELECT {', '.join(FITTING_COLUMNS)} FROM resource_requirements WHERE workflow_id = ?",
        [workflow_id],
    )
    requirements = [dict(zip(FITTING_COLUMNS, row, strict=True)) for row in rows]
    return [rr for rr in requirements if capacity.fits(rr)]


def choose_fitting_jobs(
    workflow_id: int,
    limit: int,
    offered: Capacity,
    requirements: list[dict[str, Any]],
    sort_method: str,
    scheduler_match: bool,
) -> list[int]:
    """Ready jobs that fit ``offered`` together, at most ``limit``; with ``scheduler_match``
    only jobs of the offer's scheduler (or of none)."""
    capacity = dataclasses.replace(offered)
    where = "workflow_id = ? AND status = ?"
    params: list[Any] = [workflow_id, int(JobStatus.READY)]
    if scheduler_match:
        where += " AND (scheduler_id IS NULL OR scheduler_id = ?)"
        params.append(offered.scheduler_config_id)
    chosen: list[int] = []
    if sort_method not in SORT_KEYS:
        # Natural (ID) order across requirement kinds, skipping jobs that no longer fit.
        by_id = {rr["id"]: rr for rr in requirements}
        marks, ids = sql.in_list(by_id)
        rows = sql.fetch(
            f"SELECT id, resource_requirements_id FROM job WHERE {where}"
            f" AND resource_requirements_id IN ({marks}) ORDER BY id LIMIT ?",
            [*params, *ids, limit],
        )
        for job_id, rr_id in rows:
            rr = by_id[rr_id]
            if capacity.how_many(rr, 1):
                capacity.take(rr, 1)
                chosen.append(job_id)
        return chosen
    for rr in sorted(requirements, key=lambda rr: (SORT_KEYS[sort_method](rr), rr["id"])):
        wanted = capacity.how_many(rr, limit - len(chosen))
        if wanted <= 0:
            continue
        rows = sql.fetch(
            f"SELECT id FROM job WHERE {where} AND resource_requirements_id = ?"
            " ORDER BY id LIMIT ?",
            [*params, rr["id"], wanted],
        )
        capacity.take(rr, len(rows))
        chosen.extend(row[0] for row in rows)
        if len(chosen) >= limit:
            break
    return chosen


def ready_job_requirements(
    workflow_id: int, scheduler_config_id: int | None = None
) -> dict[str, Any]:
    """Totals over the ready jobs (optionally of one scheduler): what an allocation needs."""
    get_workflow(workflow_id)
    query = (
        Job.select(
            peewee.fn.COUNT(Job.id),
            # TOTAL, not SUM: SQLite's SUM fails on 64-bit overflow, TOTAL is a float.
            peewee.fn.TOTAL(RR.num_cpus),
            peewee.fn.TOTAL(RR.num_gpus),
            peewee.fn.TOTAL(RR.memory_bytes),
            peewee.fn.MAX(RR.num_nodes),
            peewee.fn.MAX(RR.runtime_seconds),
        )
        .join(RR, on=(RR.id == Job.resource_requirements_id))
        .where(Job.workflow_id == workflow_id, Job.status == int(JobStatus.READY))
    )
    if scheduler_config_id is not None:
        query = query.where(Job.scheduler_id == scheduler_config_id)
    num_jobs, cpus, gpus, memory, nodes, runtime = query.tuples().get()
    return {
        "num_jobs": num_jobs or 0,
        "num_cpus": int(cpus),
        "num_gpus": int(gpus),
        "memory_gb": (memory or 0) / 1024**3,
        "max_num_nodes": nodes or 0,
        "max_runtime": format_runtime(runtime or 0),
    }
