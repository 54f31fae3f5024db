"""Slurm schedulers and actions for a spec file: ``torc slurm generate``, ``submit-slurm``
and ``workflows create-slurm``.

The spec is compiled first (parameters expanded, dependencies resolved, implicit ones from
files and user data included), the jobs are planned (``app.shared.scheduler_plan``), and
the result is the original spec with ``scheduler:`` on each job, ``slurm_schedulers`` and
the ``actions`` that request allocations added: a spec the user can read, edit and submit.

Schedulers the spec defines itself are kept, with their jobs and actions: only jobs without
a ``scheduler`` are planned (a job waiting for a hand-scheduled one counts as waiting).
``--overwrite`` drops the spec's own schedulers, assignments and schedule_nodes actions and
plans every job.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.shared.hpc import HpcProfile, Requirements, requirements_from_record
from app.shared.scheduler_plan import PlanJob, PlanOptions, SchedulerPlan, plan_schedulers
from cli.spec import LoadedSpec, compile_spec
from cli.spec.errors import SpecError


class GenerateError(SpecError):
    """The spec cannot get generated schedulers (it has some already, a job fits nowhere)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message, path)


@dataclass
class GeneratedSpec:
    data: dict[str, Any]  # the spec with schedulers, assignments and actions
    plan: SchedulerPlan
    profile: HpcProfile
    source: LoadedSpec

    def loaded(self) -> LoadedSpec:
        """The generated spec, ready for ``compile_spec`` (positions point at the source)."""
        return LoadedSpec(copy.deepcopy(self.data), self.source.path, self.source.format)

    def summary(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "schedulers": [s.spec() for s in self.plan.schedulers],
            "actions": [a.spec() for a in self.plan.actions],
            "allocations": self.plan.allocations(),
            "warnings": self.plan.warnings,
        }


def existing_slurm_setup(data: dict[str, Any]) -> list[str]:
    """Names of the schedulers the spec defines already."""
    return [
        str(s.get("name") or f"#{i + 1}") for i, s in enumerate(data.get("slurm_schedulers") or [])
    ]


def without_slurm_setup(data: dict[str, Any]) -> dict[str, Any]:
    """The spec minus its slurm schedulers, job scheduler assignments and schedule_nodes
    actions (what ``--overwrite`` replaces)."""
    stripped = copy.deepcopy(data)
    stripped.pop("slurm_schedulers", None)
    for job in stripped.get("jobs") or []:
        if isinstance(job, dict):
            job.pop("scheduler", None)
    actions = [
        action
        for action in stripped.get("actions") or []
        if not (isinstance(action, dict) and action.get("action_type") == "schedule_nodes")
    ]
    if actions:
        stripped["actions"] = actions
    else:
        stripped.pop("actions", None)
    return stripped


def generate_spec(
    source: LoadedSpec,
    profile: HpcProfile,
    options: PlanOptions,
    overwrite: bool = False,
) -> GeneratedSpec:
    """Plan schedulers for every job of ``source`` (see the module docstring)."""
    existing = existing_slurm_setup(source.data)
    base = without_slurm_setup(source.data) if overwrite else copy.deepcopy(source.data)
    kept = [] if overwrite else existing
    compiled = compile_spec(LoadedSpec(base, source.path, source.format), skip_checks=True)
    jobs = plan_jobs(compiled.payload, compiled.compilation.jobs)
    if not any(job.requirements is not None for job in jobs) and kept:
        raise GenerateError(
            f"every job already has a slurm scheduler ({', '.join(kept)}); nothing to "
            "generate (use --overwrite to replace them, or submit the spec with `torc submit`)",
            source.path,
        )
    try:
        plan = plan_schedulers(jobs, profile, options, taken_names=kept)
    except ValueError as exc:
        raise GenerateError(str(exc), source.path) from None
    data = _with_plan(base, plan, compiled.compilation.jobs)
    return GeneratedSpec(data, plan, profile, source)


def plan_jobs(payload: dict[str, Any], expanded: Sequence[Any]) -> list[PlanJob]:
    """The compiled jobs as planner input: requirements, and blockers among them (explicit
    dependencies and the producers of their input files and user data)."""
    records = payload["jobs"]
    requirements = payload.get("resource_requirements") or []
    producers: dict[tuple[str, int], list[int]] = {}
    for position, record in enumerate(records):
        for kind in ("output_files", "output_user_data"):
            for item in record.get(kind) or []:
                producers.setdefault((kind, item), []).append(position)
    planned = []
    for position, record in enumerate(records):
        blockers = set(record.get("depends_on") or [])
        for kind, outputs in (
            ("input_files", "output_files"),
            ("input_user_data", "output_user_data"),
        ):
            for item in record.get(kind) or []:
                blockers.update(p for p in producers.get((outputs, item), []) if p != position)
        rr_index = record.get("resource_requirements")
        rr = requirements[rr_index] if rr_index is not None else None
        scheduled = record.get("scheduler") is not None  # the spec's own: not planned
        needs: Requirements | None = None
        if rr is not None and not scheduled:
            needs = requirements_from_record(rr, f"job '{record['name']}'")
        planned.append(
            PlanJob(
                name=record["name"],
                requirements_name=rr["name"] if rr else None,
                requirements=needs,
                blockers=[records[b]["name"] for b in sorted(blockers)],
                unit=f"spec job {expanded[position].spec_index}",
                scheduled=scheduled,
            )
        )
    return planned


def _with_plan(
    base: dict[str, Any], plan: SchedulerPlan, expanded: Sequence[Any]
) -> dict[str, Any]:
    data = copy.deepcopy(base)
    by_spec_job: dict[int, str] = {}
    for job in expanded:
        scheduler = plan.assignments.get(job.name)
        if scheduler is not None:
            by_spec_job[job.spec_index] = scheduler
    for index, scheduler in by_spec_job.items():
        data["jobs"][index]["scheduler"] = scheduler
    own = list(data.get("slurm_schedulers") or [])
    data["slurm_schedulers"] = own + [scheduler.spec() for scheduler in plan.schedulers]
    if plan.actions:
        data["actions"] = list(data.get("actions") or []) + [a.spec() for a in plan.actions]
    return data


def dump_spec(data: dict[str, Any], path: Path | None, source_format: str) -> str:
    """The spec as text: JSON for ``.json``/``.json5`` targets (or a JSON source without a
    target), YAML otherwise (KDL sources too: YAML carries the same structure)."""
    suffix = path.suffix.lower() if path is not None else ""
    as_json = suffix in (".json", ".json5") or (path is None and source_format in ("json", "json5"))
    if suffix == ".kdl":
        raise GenerateError("write the generated spec as .yaml or .json (not KDL)", str(path))
    if as_json:
        return json.dumps(data, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
