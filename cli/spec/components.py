"""Payload records for the named building blocks jobs refer to, and workflow-level settings."""

from __future__ import annotations

import json
from typing import Any

from cli.spec.errors import Diagnostics
from cli.spec.models import (
    FailureHandlerSpec,
    ResourceMonitorSpec,
    ResourceRequirementsSpec,
    SlurmSchedulerSpec,
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
DEFAULT_MONITOR = {
    "enabled": True,
    "granularity": "summary",
    "sample_interval_seconds": 5,
    "generate_plots": False,
}
_GRANULARITY_ALIASES = {"Summary": "summary", "TimeSeries": "time_series"}
_OPTIONAL_SCHEDULER_FIELDS = ("gres", "mem", "ntasks_per_node", "partition", "qos", "tmp", "extra")


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


def slurm_defaults(raw: dict[str, Any], diag: Diagnostics) -> dict[str, Any]:
    """Scalar sbatch options; torc-managed options are errors, non-scalars are skipped."""
    kept = {}
    for key, value in raw.items():
        path = ("slurm_defaults", key)
        if key.lower() in FORBIDDEN_SLURM_DEFAULTS:
            diag.error(
                f"slurm_defaults: '{key}' is managed by torc and cannot be a default; set "
                "it on each slurm scheduler instead (forbidden: "
                f"{', '.join(FORBIDDEN_SLURM_DEFAULTS)})",
                path,
            )
        elif not isinstance(value, str | int | float | bool):
            diag.warn(f"slurm_defaults: '{key}' must be a single value; it is skipped", path)
        else:
            kept[key] = value
    return kept


def slurm_scheduler_records(
    specs: list[SlurmSchedulerSpec], defaults: dict[str, Any], diag: Diagnostics
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    index = index_names(
        [s.name for s in specs], range(len(specs)), "scheduler", "slurm_schedulers", diag
    )
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
        for key in _OPTIONAL_SCHEDULER_FIELDS:
            if getattr(spec, key) is not None:
                record[key] = getattr(spec, key)
        records.append(record)
    return records, index


def resource_monitor_config(spec: ResourceMonitorSpec | None, monitoring: bool) -> str:
    """Monitoring is on by default (D10); the spec block overrides only the keys it names, and
    ``monitoring=False`` (``--no-resource-monitoring``) turns it off whatever the spec says."""
    config = dict(DEFAULT_MONITOR)
    if spec is not None:
        given = {key: value for key, value in vars(spec).items() if value is not None}
        config.update(given)
    config["granularity"] = _GRANULARITY_ALIASES.get(config["granularity"], config["granularity"])
    if not monitoring:
        config["enabled"] = False
    return json.dumps(config)
