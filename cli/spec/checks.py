"""Scheduler checks: can a job's scheduler run it at all, and will unassigned jobs be matched
sensibly when schedulers differ. ``skip_checks`` turns the node checks into warnings."""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.shared.units import parse_memory, parse_runtime
from cli.spec.errors import Diagnostics
from cli.spec.expand import ExpandedJob
from cli.spec.models import ResourceRequirementsSpec, SlurmSchedulerSpec

_SLURM_MEMORY = re.compile(r"^(\d+)([KMGT]?)B?$", re.IGNORECASE)
_GRES_GPUS = re.compile(r"(?:^|,)gpu(?::[^:,]+)?:(\d+)", re.IGNORECASE)
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_DIFFERENCES = (
    ("mem", "memory (mem)"),
    ("gres", "GPUs (gres)"),
    ("walltime", "walltime"),
    ("partition", "partition"),
)


def walltime_seconds(text: str) -> int:
    """Seconds in a Slurm time limit: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S."""
    days, _, clock = text.strip().rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    if days:
        hours, minutes, seconds = (parts + [0, 0])[:3]
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if len(parts) == 3:
        return (parts[0] * 60 + parts[1]) * 60 + parts[2]
    return parts[0] * 60 + (parts[1] if len(parts) == 2 else 0)


def slurm_memory_bytes(text: str) -> int | None:
    """Bytes in a Slurm ``--mem`` value (default unit MB), or None if it is not a plain size."""
    match = _SLURM_MEMORY.match(text.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNITS[(match.group(2) or "M").upper()]


def gres_gpus(gres: str | None) -> int:
    match = _GRES_GPUS.search(gres or "")
    return int(match.group(1)) if match else 0


def check_scheduler_fit(
    jobs: Sequence[ExpandedJob],
    resources: dict[str, ResourceRequirementsSpec],
    schedulers: dict[str, SlurmSchedulerSpec],
    skip_checks: bool,
    diag: Diagnostics,
) -> None:
    """Each distinct (resource requirements, scheduler) pair is checked once, for its first job."""
    if not schedulers:  # nothing to check: do not make every job once more
        return
    first_job: dict[tuple[str, str], ExpandedJob] = {}
    for job in jobs:
        if job.scheduler in schedulers and job.resource_requirements in resources:
            first_job.setdefault((job.resource_requirements, job.scheduler), job)
    report = diag.warn if skip_checks else diag.error
    for (rr_name, scheduler_name), job in first_job.items():
        for problem in _fit_problems(resources[rr_name], schedulers[scheduler_name]):
            report(
                f"job '{job.name}' cannot run on slurm scheduler '{scheduler_name}': {problem}"
                " (use --skip-checks to create it anyway)",
                ("jobs", job.spec_index, "scheduler"),
            )


def _fit_problems(rr: ResourceRequirementsSpec, scheduler: SlurmSchedulerSpec) -> list[str]:
    problems = []
    if rr.num_nodes > scheduler.nodes:
        problems.append(
            f"it needs {rr.num_nodes} nodes but the scheduler allocates {scheduler.nodes}"
        )
    if parse_runtime(rr.runtime) > walltime_seconds(scheduler.walltime):
        problems.append(f"its runtime {rr.runtime} exceeds the walltime {scheduler.walltime}")
    node_memory = slurm_memory_bytes(scheduler.mem) if scheduler.mem else None
    if node_memory is not None and parse_memory(rr.memory) > node_memory:
        problems.append(f"its memory {rr.memory} exceeds the scheduler's mem {scheduler.mem}")
    if rr.num_gpus > gres_gpus(scheduler.gres):
        problems.append(
            f"it needs {rr.num_gpus} GPUs but the scheduler's gres provides "
            f"{gres_gpus(scheduler.gres)}"
        )
    return problems


def heterogeneous_scheduler_warning(
    jobs: Sequence[ExpandedJob],
    schedulers: Sequence[SlurmSchedulerSpec],
    jobs_sort_method: str | None,
) -> str | None:
    """The seed's warning when differing schedulers may pull unassigned jobs badly."""
    if len(schedulers) < 2 or jobs_sort_method is not None:
        return None
    differences = [
        label for key, label in _DIFFERENCES if len({getattr(s, key) for s in schedulers}) > 1
    ]
    unassigned = sum(1 for job in jobs if job.scheduler is None)
    if not differences or not unassigned:
        return None
    return (
        f"Workflow has {len(schedulers)} schedulers with different {', '.join(differences)} but "
        f"{unassigned} job(s) have no explicit scheduler assignment and jobs_sort_method is not "
        "set. The default sort method 'gpus_runtime_memory' will be used (jobs sorted by GPUs, "
        "then runtime, then memory). If this doesn't match your workload, consider setting "
        "jobs_sort_method explicitly to 'gpus_memory_runtime' (prioritize memory over runtime) "
        "or 'none' (no sorting)."
    )
