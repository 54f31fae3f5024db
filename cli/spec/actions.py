"""Workflow actions: which jobs trigger them, what they run or schedule, as payload records."""

from __future__ import annotations

import re
from typing import Any

from app.shared.contract import SCHEDULE_NODES_OPTIONS, WORKER_TRIGGERS
from cli.spec.errors import Diagnostics, SpecPath, did_you_mean
from cli.spec.models import WorkflowActionSpec
from cli.spec.resolve import Catalog

JOB_TRIGGERS = ("on_jobs_ready", "on_jobs_complete")
_SCHEDULE_FIELDS = ("scheduler", *SCHEDULE_NODES_OPTIONS)


def action_records(
    specs: list[WorkflowActionSpec], catalog: Catalog, diag: Diagnostics
) -> list[dict[str, Any]]:
    return [_record(spec, position, catalog, diag) for position, spec in enumerate(specs)]


def _record(
    spec: WorkflowActionSpec, position: int, catalog: Catalog, diag: Diagnostics
) -> dict[str, Any]:
    path = ("actions", position)
    where = f"action #{position + 1} ({spec.trigger_type}, {spec.action_type})"
    record: dict[str, Any] = {
        "trigger_type": spec.trigger_type,
        "action_type": spec.action_type,
        "persistent": (
            spec.trigger_type in WORKER_TRIGGERS if spec.persistent is None else spec.persistent
        ),
    }
    _job_selection(spec, where, path, catalog, diag, record)
    if spec.action_type == "run_commands":
        _run_commands(spec, where, path, diag, record)
    else:
        _schedule_nodes(spec, where, path, catalog, diag, record)
    return record


def _job_selection(
    spec: WorkflowActionSpec,
    where: str,
    path: SpecPath,
    catalog: Catalog,
    diag: Diagnostics,
    record: dict[str, Any],
) -> None:
    if spec.trigger_type not in JOB_TRIGGERS:
        if spec.jobs or spec.job_name_regexes:
            # Upstream accepts and records them (its own specs list the jobs a
            # schedule_nodes action is for); they do not decide when this trigger fires.
            diag.warn(
                f"{where}: its jobs are recorded, but only the {' and '.join(JOB_TRIGGERS)} "
                f"triggers wait for their jobs; {spec.trigger_type} does not",
                path,
            )
            selected = _named_jobs(spec, where, path, catalog, diag)
            selected += _regex_jobs(spec, where, path, catalog, diag)
            if selected:
                record["jobs"] = list(dict.fromkeys(selected))
        return
    if not spec.jobs and not spec.job_name_regexes:
        diag.error(
            f"{where}: {spec.trigger_type} actions need 'jobs' or 'job_name_regexes' to "
            "select the jobs that trigger them",
            path,
        )
        return
    selected = _named_jobs(spec, where, path, catalog, diag)
    selected += _regex_jobs(spec, where, path, catalog, diag)
    if not selected:
        diag.error(f"{where}: Action did not match any jobs", path)
    record["jobs"] = list(dict.fromkeys(selected))


def _named_jobs(
    spec: WorkflowActionSpec, where: str, path: SpecPath, catalog: Catalog, diag: Diagnostics
) -> list[int]:
    found = []
    for position, name in enumerate(spec.jobs):
        if name in catalog.jobs:
            found.append(catalog.jobs[name])
        else:
            diag.error(
                f"{where} lists unknown job '{name}'{did_you_mean(name, catalog.jobs)}",
                (*path, "jobs", position),
                about=name,
            )
    return found


def _regex_jobs(
    spec: WorkflowActionSpec, where: str, path: SpecPath, catalog: Catalog, diag: Diagnostics
) -> list[int]:
    found = []
    for position, pattern in enumerate(spec.job_name_regexes):
        try:
            found.extend(catalog.matchers["jobs"].match(pattern))
        except re.error as exc:
            diag.error(
                f"{where}: invalid regular expression '{pattern}' in job_name_regexes: {exc}",
                (*path, "job_name_regexes", position),
            )
    return found


def _run_commands(
    spec: WorkflowActionSpec, where: str, path: SpecPath, diag: Diagnostics, record: dict
) -> None:
    if not spec.commands:
        diag.error(f"{where}: run_commands actions need at least one entry in 'commands'", path)
    for name in _SCHEDULE_FIELDS:
        if getattr(spec, name) is not None:
            diag.error(f"{where}: '{name}' only applies to schedule_nodes actions", (*path, name))
    record["commands"] = spec.commands


def _schedule_nodes(
    spec: WorkflowActionSpec,
    where: str,
    path: SpecPath,
    catalog: Catalog,
    diag: Diagnostics,
    record: dict[str, Any],
) -> None:
    if spec.commands:
        diag.error(f"{where}: 'commands' only applies to run_commands actions", (*path, "commands"))
    if spec.scheduler is None or spec.scheduler_type is None:
        diag.error(
            f"{where}: schedule_nodes actions need both 'scheduler' (a slurm scheduler "
            "name) and 'scheduler_type'",
            path,
        )
        return
    schedulers = catalog.slurm_schedulers
    if spec.scheduler not in schedulers:
        diag.error(
            f"{where} uses unknown slurm scheduler '{spec.scheduler}'"
            f"{did_you_mean(spec.scheduler, schedulers)}",
            (*path, "scheduler"),
            about=spec.scheduler,
        )
        return
    record["scheduler"] = schedulers[spec.scheduler]
    for name in _SCHEDULE_FIELDS[1:]:
        if getattr(spec, name) is not None:
            record[name] = getattr(spec, name)
