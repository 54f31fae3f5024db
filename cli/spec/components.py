"""Payload records for the named building blocks jobs refer to, and workflow-level settings."""

from __future__ import annotations

import json
from typing import Any, cast

from app.shared.contract import SLURM_SCHEDULER_OPTIONAL_FIELDS
from cli.spec.errors import Diagnostics
from cli.spec.models import (
    FailureHandlerSpec,
    InlineResourceRequirementsSpec,
    ResourceMonitorSpec,
    ResourceRequirementsSpec,
    SlurmSchedulerSpec,
    WorkflowSpec,
    int_range_problem,
)
from cli.spec.resolve import index_names

RESERVED_RESOURCE_NAME = "default"  # the server creates it for every workflow
FORBIDDEN_SLURM_DEFAULTS = (
    "partition",
    "nodes",
    "walltime",
    "time",
    "mem",
    "gres",
    "name",
    "job-name",
)
DEFAULT_MONITOR: dict[str, Any] = {
    "enabled": True,
    "granularity": "summary",
    "sample_interval_seconds": 5,
    "generate_plots": False,
}
_GRANULARITY_ALIASES = {"Summary": "summary", "TimeSeries": "time_series"}


def take_inline_resource_requirements(spec: WorkflowSpec) -> dict[int, str]:
    """Job-level resource mappings become named entries: job spec index -> entry name.

    Each gets the job's name as written (``train_{i}`` for a parameterized job, whose
    instances share it), with ``_2``, ``_3``... appended if that name is taken. The jobs'
    ``resource_requirements`` are cleared; the caller assigns the names after expansion.
    """
    inline = [
        (index, job)
        for index, job in enumerate(spec.jobs)
        if isinstance(job.resource_requirements, InlineResourceRequirementsSpec)
    ]
    if not inline:
        return {}
    taken = {rr.name for rr in spec.resource_requirements} | {RESERVED_RESOURCE_NAME}
    names: dict[int, str] = {}
    for index, job in inline:
        name = unique_name(job.name, taken)
        taken.add(name)
        spec.resource_requirements.append(
            ResourceRequirementsSpec(name=name, **vars(job.resource_requirements))
        )
        job.resource_requirements = None
        names[index] = name
    return names


def unique_name(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    number = 2
    while f"{base}_{number}" in taken:
        number += 1
    return f"{base}_{number}"


def resource_requirements_records(
    specs: list[ResourceRequirementsSpec], diag: Diagnostics
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    for position, spec in enumerate(specs):
        if spec.name == RESERVED_RESOURCE_NAME:
            diag.error(
                f"resource requirements name '{RESERVED_RESOURCE_NAME}' is reserved: the "
                "server creates it for jobs that name none; choose another name",
                ("resource_requirements", position, "name"),
            )
    names = [spec.name for spec in specs]
    index = index_names(
        names, range(len(specs)), "resource requirement", "resource_requirements", diag
    )
    records = [
        {
            "name": spec.name,
            "num_cpus": spec.num_cpus,
            "num_gpus": spec.num_gpus,
            "num_nodes": spec.num_nodes,
            "memory": spec.memory,
            "runtime": spec.runtime,
        }
        for spec in specs
    ]
    return records, index


def failure_handler_records(
    specs: list[FailureHandlerSpec], diag: Diagnostics
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    index = index_names(
        [s.name for s in specs], range(len(specs)), "failure handler", "failure_handlers", diag
    )
    records = []
    for position, spec in enumerate(specs):
        rules = []
        for number, rule in enumerate(spec.rules):
            if not rule.exit_codes and not rule.match_all_exit_codes:
                diag.warn(
                    f"failure handler '{spec.name}': rule {number + 1} has no exit_codes "
                    "and match_all_exit_codes is false, so it never applies",
                    ("failure_handlers", position, "rules", number),
                )
            rules.append(_rule_record(rule))
        records.append({"name": spec.name, "rules": json.dumps(rules)})
    return records, index


def _rule_record(rule: Any) -> dict[str, Any]:
    record = {
        "exit_codes": rule.exit_codes,
        "match_all_exit_codes": rule.match_all_exit_codes,
        "max_retries": rule.max_retries,
    }
    if rule.recovery_script is not None:
        record["recovery_script"] = rule.recovery_script
    return record


def name_unnamed_schedulers(spec: WorkflowSpec) -> None:
    """A slurm scheduler without a name gets ``scheduler_N``: N is its position (from 1), or
    the next number whose name is free."""
    taken = {s.name for s in spec.slurm_schedulers if s.name is not None}
    for position, scheduler in enumerate(spec.slurm_schedulers):
        number = position + 1
        while scheduler.name is None:
            if f"scheduler_{number}" not in taken:
                scheduler.name = f"scheduler_{number}"
                taken.add(scheduler.name)
            number += 1


def _option_key(key: str) -> str:
    """``--job-name``, ``job-name`` and ``Job_Name`` are the same sbatch option."""
    return key.strip().lstrip("-").replace("-", "_").lower()


_FORBIDDEN_KEYS = {_option_key(key) for key in FORBIDDEN_SLURM_DEFAULTS}


def slurm_defaults(raw: dict[str, Any], diag: Diagnostics) -> dict[str, Any]:
    """Scalar sbatch options; torc-managed options are errors, non-scalars are skipped.
    Keys are kept without leading dashes (``--qos`` is stored as ``qos``)."""
    kept = {}
    for key, value in raw.items():
        path = ("slurm_defaults", key)
        if _option_key(key) in _FORBIDDEN_KEYS:
            diag.error(
                f"slurm_defaults: '{key}' is managed by torc and cannot be a default; set "
                "it on each slurm scheduler instead (forbidden: "
                f"{', '.join(FORBIDDEN_SLURM_DEFAULTS)})",
                path,
            )
        elif not isinstance(value, str | int | float | bool):
            diag.warn(f"slurm_defaults: '{key}' must be a single value; it is skipped", path)
        elif type(value) is int and int_range_problem(value):
            diag.error(f"slurm_defaults: '{key}' {int_range_problem(value)}", path)
        else:
            kept[key.strip().lstrip("-")] = value
    return kept


def slurm_scheduler_records(
    specs: list[SlurmSchedulerSpec], defaults: dict[str, Any], diag: Diagnostics
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    names = [cast(str, s.name) for s in specs]  # name_schedulers named every one
    index = index_names(names, range(len(specs)), "scheduler", "slurm_schedulers", diag)
    records = []
    for position, spec in enumerate(specs):
        account = spec.account if spec.account is not None else defaults.get("account")
        if account is None:
            diag.error(
                f"slurm scheduler '{spec.name}': missing required field 'account' (or set "
                "'account' in slurm_defaults)",
                ("slurm_schedulers", position),
            )
        record = {"name": spec.name, "account": account, "nodes": spec.nodes}
        record["walltime"] = spec.walltime
        for key in SLURM_SCHEDULER_OPTIONAL_FIELDS:
            if getattr(spec, key) is not None:
                record[key] = getattr(spec, key)
        records.append(record)
    return records, index


def resource_monitor_config(spec: ResourceMonitorSpec | None, monitoring: bool) -> str:
    """Monitoring is on by default (D10, docs/decisions.md); the spec block overrides only the
    keys it names, and ``monitoring=False`` (``--no-resource-monitoring``) turns it off
    whatever the spec says."""
    config = dict(DEFAULT_MONITOR)
    if spec is not None:
        given = {key: value for key, value in vars(spec).items() if value is not None}
        config.update(given)
    config["granularity"] = _GRANULARITY_ALIASES.get(config["granularity"], config["granularity"])
    if not monitoring:
        config["enabled"] = False
    return json.dumps(config)
