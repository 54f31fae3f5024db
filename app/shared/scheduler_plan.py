"""Plan Slurm schedulers and the actions that request their allocations, for a set of jobs.

One plan serves ``torc slurm generate`` / ``submit-slurm`` / ``workflows create-slurm`` (jobs
from a spec file) and ``torc slurm regenerate`` (the jobs still to run, on the server).

* Jobs are grouped by resource requirements (or by matched partition with
  ``group_by="partition"``) and by whether they wait for other planned jobs: one scheduler
  per group, ``<rr>_scheduler`` or ``<rr>_deferred_scheduler``.
* Each group's requirements are matched to the profile's best partition
  (``app.shared.hpc.best_partition``); the walltime is the longest runtime times the
  multiplier, capped by the partition (or the partition's maximum).
* Jobs without dependencies get an ``on_workflow_start`` action; dependent ones get
  ``on_jobs_ready`` actions, one per dependency level of their group, so an allocation is
  requested when its jobs can start and never waits for jobs of a later stage.
* Allocations: as many as the jobs need, given how many fit on a node at once and how many
  run one after another within the walltime; one node each (N x 1), or one allocation of
  N nodes with ``single_allocation`` (a worker per node when the jobs use one node each).
* ``mem``, ``--cpus-per-task`` and ``gres`` ask for what the jobs running at once on a node
  need, plus ``runner_memory_mb`` for torc's own job runner on that node (Slurm counts it
  against ``--mem`` too), capped by the partition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.shared.graph import WorkflowGraph
from app.shared.hpc import HpcProfile, NoPartitionFound, Partition, Requirements, best_partition
from app.shared.slurm import format_memory_mb, format_walltime

GROUP_BY = ("resource-requirements", "partition")
WALLTIME_STRATEGIES = ("max-job-runtime", "max-partition-time")
RUNNER_MEMORY_MB = 256


class PlanError(ValueError):
    """The jobs cannot be planned (unknown option, a job no partition can run ...)."""


@dataclass
class PlanOptions:
    account: str
    group_by: str = "resource-requirements"
    walltime_strategy: str = "max-job-runtime"
    walltime_multiplier: float = 1.5
    single_allocation: bool = False
    add_actions: bool = True
    # Scheduler names end with this ("_scheduler"; regenerate uses "_regen_<timestamp>").
    name_suffix: str = "_scheduler"
    runner_memory_mb: int = RUNNER_MEMORY_MB

    def check(self) -> None:
        if self.group_by not in GROUP_BY:
            raise PlanError(f"--group-by must be one of {', '.join(GROUP_BY)}")
        if self.walltime_strategy not in WALLTIME_STRATEGIES:
            raise PlanError(f"--walltime-strategy must be one of {', '.join(WALLTIME_STRATEGIES)}")
        if not self.walltime_multiplier > 0:
            raise PlanError("--walltime-multiplier must be positive")
        if not self.account:
            raise PlanError(
                "a Slurm account is needed: pass --account (or set default_account in the "
                "HPC profile)"
            )


@dataclass
class PlanJob:
    """One job to place: its name, its resource requirements (name and values), the names
    of the planned jobs it waits for, and the unit it is assigned with (a spec's
    parameterized job: all its instances share one scheduler)."""

    name: str
    requirements_name: str | None
    requirements: Requirements | None
    blockers: Sequence[str] = ()
    unit: str | None = None
    scheduled: bool = False  # has a scheduler already (not planned; others may wait for it)


@dataclass
class PlannedScheduler:
    name: str
    account: str
    nodes: int
    walltime: str
    mem: str
    partition: str
    gres: str | None = None
    extra: str | None = None
    deferred: bool = False
    group: str = ""  # the resource requirements name or partition the group is keyed on

    def spec(self) -> dict[str, Any]:
        """The scheduler as a spec file's ``slurm_schedulers`` entry."""
        entry: dict[str, Any] = {
            "name": self.name,
            "account": self.account,
            "nodes": self.nodes,
            "walltime": self.walltime,
            "mem": self.mem,
            "partition": self.partition,
        }
        if self.gres:
            entry["gres"] = self.gres
        if self.extra:
            entry["extra"] = self.extra
        return entry


@dataclass
class PlannedAction:
    trigger_type: str
    scheduler: str
    jobs: list[str]
    num_allocations: int
    start_one_worker_per_node: bool = False

    def spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"trigger_type": self.trigger_type}
        if self.trigger_type == "on_jobs_ready":
            entry["jobs"] = list(self.jobs)
        entry.update(
            action_type="schedule_nodes",
            scheduler=self.scheduler,
            scheduler_type="slurm",
            num_allocations=self.num_allocations,
        )
        if self.start_one_worker_per_node:
            entry["start_one_worker_per_node"] = True
        return entry


@dataclass
class SchedulerPlan:
    schedulers: list[PlannedScheduler] = field(default_factory=list)
    assignments: dict[str, str] = field(default_factory=dict)  # job name -> scheduler name
    actions: list[PlannedAction] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def allocations(self) -> int:
        return sum(action.num_allocations for action in self.actions)


@dataclass
class _Group:
    key: str
    deferred: bool
    need: Requirements
    partition: Partition
    jobs: list[PlanJob] = field(default_factory=list)
    levels: dict[int, list[str]] = field(default_factory=dict)


def plan_schedulers(
    jobs: Sequence[PlanJob],
    profile: HpcProfile,
    options: PlanOptions,
    taken_names: Sequence[str] = (),
) -> SchedulerPlan:
    """Schedulers, job assignments and actions for ``jobs`` (see the module docstring)."""
    options.check()
    plan = SchedulerPlan()
    planned = [job for job in jobs if job.requirements is not None]
    for job in jobs:
        if job.requirements is None and not job.scheduled:
            plan.warnings.append(
                f"job '{job.name}' has no resource requirements; it gets no scheduler (any "
                "allocation may run it)"
            )
    levels, deferred = _levels(planned)
    groups = _groups(planned, levels, deferred, profile, options)
    names = set(taken_names)
    for group in groups:
        scheduler = _scheduler(group, options, names)
        names.add(scheduler.name)
        plan.schedulers.append(scheduler)
        for job in group.jobs:
            plan.assignments[job.name] = scheduler.name
        if options.add_actions:
            plan.actions.extend(_actions(group, scheduler, options))
    _check_units(planned, plan)
    return plan


def _levels(jobs: Sequence[PlanJob]) -> tuple[dict[str, int], dict[str, bool]]:
    """Each job's dependency level among the planned jobs, and whether its unit waits for
    another job (all of a unit's instances are placed alike). A blocker that is not planned
    (a job the spec schedules itself) still makes a job wait, at level 1."""
    index = {job.name: position for position, job in enumerate(jobs)}
    blockers = [[index[b] for b in job.blockers if b in index] for job in jobs]
    graph = WorkflowGraph([job.name for job in jobs], blockers)
    level = {
        job.name: max(graph.levels[position], 1 if job.blockers else 0)
        for position, job in enumerate(jobs)
    }
    unit_waits: dict[str, bool] = {}
    unit_level: dict[str, int] = {}
    for job in jobs:
        unit = job.unit or job.name
        unit_waits[unit] = unit_waits.get(unit, False) or bool(job.blockers)
        unit_level[unit] = max(unit_level.get(unit, 0), level[job.name])
    deferred = {job.name: unit_waits[job.unit or job.name] for job in jobs}
    levels = {job.name: unit_level[job.unit or job.name] for job in jobs}
    return levels, deferred


def _groups(
    jobs: Sequence[PlanJob],
    levels: dict[str, int],
    deferred: dict[str, bool],
    profile: HpcProfile,
    options: PlanOptions,
) -> list[_Group]:
    matched: dict[str, Partition] = {}
    for job in jobs:
        rr_name = job.requirements_name or job.name
        if rr_name not in matched:
            assert job.requirements is not None
            need = job.requirements
            label = f"job '{job.name}' (resource requirements '{rr_name}')"
            matched[rr_name] = _match(profile, _labelled(need, label), options)
    groups: dict[tuple[str, bool], _Group] = {}
    for job in jobs:
        assert job.requirements is not None
        rr_name = job.requirements_name or job.name
        partition = matched[rr_name]
        key = partition.name if options.group_by == "partition" else rr_name
        group_key = (key, deferred[job.name])
        group = groups.get(group_key)
        if group is None:
            group = groups[group_key] = _Group(key, deferred[job.name], job.requirements, partition)
        else:
            group.need = _larger(group.need, job.requirements)
            if options.group_by == "partition":
                label = f"the jobs of partition group '{key}'"
                group.partition = _match(profile, _labelled(group.need, label), options)
        group.jobs.append(job)
        level = levels[job.name] if group.deferred else 0
        group.levels.setdefault(level, []).append(job.name)
    return list(groups.values())


def _match(profile: HpcProfile, need: Requirements, options: PlanOptions) -> Partition:
    """The best partition for the walltime the group will ask for (runtime x multiplier),
    else for the bare runtime (the walltime is then capped by the partition)."""
    if options.walltime_strategy == "max-job-runtime" and options.walltime_multiplier > 1:
        wanted = Requirements(
            need.num_cpus,
            need.memory_bytes,
            math.ceil(need.runtime_secs * options.walltime_multiplier),
            need.num_gpus,
            need.num_nodes,
            need.label,
        )
        try:
            return best_partition(profile, wanted)
        except NoPartitionFound:
            pass
    return best_partition(profile, need)


def _labelled(need: Requirements, label: str) -> Requirements:
    return Requirements(
        need.num_cpus, need.memory_bytes, need.runtime_secs, need.num_gpus, need.num_nodes, label
    )


def _larger(first: Requirements, second: Requirements) -> Requirements:
    return Requirements(
        num_cpus=max(first.num_cpus, second.num_cpus),
        memory_bytes=max(first.memory_bytes, second.memory_bytes),
        runtime_secs=max(first.runtime_secs, second.runtime_secs),
        num_gpus=max(first.num_gpus, second.num_gpus),
        num_nodes=max(first.num_nodes, second.num_nodes),
        label=first.label,
    )


def _walltime_secs(group: _Group, options: PlanOptions) -> int:
    limit = group.partition.max_walltime_secs
    runtime = group.need.runtime_secs
    if options.walltime_strategy == "max-partition-time" or runtime <= 0:
        return limit
    return min(math.ceil(runtime * options.walltime_multiplier), limit)


def _jobs_per_node(group: _Group, options: PlanOptions) -> int:
    """How many of the group's jobs one node runs at once (at least one)."""
    partition, need = group.partition, group.need
    counts = [partition.cpus_per_node // max(need.num_cpus, 1)]
    usable_mb = max(partition.memory_mb - options.runner_memory_mb, 1)
    if need.memory_bytes > 0:
        counts.append(int(usable_mb * 1024**2 // need.memory_bytes))
    if need.num_gpus > 0:
        counts.append(partition.gpus_per_node // need.num_gpus)
    return max(1, min(counts))


@dataclass
class _Allocation:
    count: int  # allocations (N x 1) or nodes of the one allocation
    per_node: int  # jobs one node runs at once


def _allocation(group: _Group, jobs: int, walltime: int, options: PlanOptions) -> _Allocation:
    per_node = _jobs_per_node(group, options)
    runtime = group.need.runtime_secs
    rounds = max(1, int(walltime // runtime)) if runtime > 0 else 1
    count = max(1, math.ceil(jobs / (per_node * rounds)))
    busy_per_node = min(per_node, math.ceil(jobs / (count * rounds)))
    return _Allocation(count, busy_per_node)


def _scheduler(group: _Group, options: PlanOptions, taken: set[str]) -> PlannedScheduler:
    walltime = _walltime_secs(group, options)
    sizes = [_allocation(group, len(names), walltime, options) for names in group.levels.values()]
    per_node = max(size.per_node for size in sizes)
    nodes_per_job = max(group.need.num_nodes, 1)
    nodes = nodes_per_job
    if options.single_allocation:
        nodes = max(size.count for size in sizes) * nodes_per_job
    partition, need = group.partition, group.need
    memory_mb = need.memory_bytes / 1024**2 * per_node + options.runner_memory_mb
    cpus = min(need.num_cpus * per_node, partition.cpus_per_node)
    gpus = min(need.num_gpus * per_node, partition.gpus_per_node)
    deferred = "_deferred" if group.deferred else ""
    return PlannedScheduler(
        name=_unique(f"{group.key}{deferred}{options.name_suffix}", taken),
        account=options.account,
        nodes=nodes,
        walltime=format_walltime(walltime),
        mem=format_memory_mb(min(memory_mb, partition.memory_mb)),
        partition=partition.name,
        gres=f"gpu:{gpus}" if gpus else None,
        extra=f"--cpus-per-task={max(cpus, 1)}",
        deferred=group.deferred,
        group=group.key,
    )


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{name}_{number}"
        number += 1
    return candidate


def _actions(
    group: _Group, scheduler: PlannedScheduler, options: PlanOptions
) -> list[PlannedAction]:
    walltime = _walltime_secs(group, options)
    actions = []
    for level in sorted(group.levels):
        names = group.levels[level]
        size = _allocation(group, len(names), walltime, options)
        single_node_jobs = max(group.need.num_nodes, 1) == 1
        actions.append(
            PlannedAction(
                trigger_type="on_jobs_ready" if group.deferred else "on_workflow_start",
                scheduler=scheduler.name,
                jobs=list(names),
                num_allocations=1 if options.single_allocation else size.count,
                start_one_worker_per_node=options.single_allocation
                and single_node_jobs
                and scheduler.nodes > 1,
            )
        )
    return actions


def _check_units(jobs: Sequence[PlanJob], plan: SchedulerPlan) -> None:
    """All instances of a unit (a spec's parameterized job) must share one scheduler."""
    seen: dict[str, str] = {}
    for job in jobs:
        unit = job.unit or job.name
        scheduler = plan.assignments.get(job.name)
        if scheduler is None:
            continue
        if seen.setdefault(unit, scheduler) != scheduler:
            raise PlanError(
                f"the instances of job '{unit}' need different schedulers ({seen[unit]}, "
                f"{scheduler}): give them one resource requirements entry, or write their "
                "schedulers by hand"
            )
