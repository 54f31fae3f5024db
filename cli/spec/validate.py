"""Dry-run validation: every problem found (not just the first), warnings, and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.spec.errors import Diagnostics, SpecError, StageFailed
from cli.spec.expand import ExpandedJobs
from cli.spec.loader import LoadedSpec
from cli.spec.payload import DEFAULT_MAX_JOBS, Compilation, Options, as_loaded

_NO_SUBMISSION = (
    "No on_workflow_start schedule_nodes action; run locally with 'torc run' or generate "
    "Slurm schedulers with 'torc submit-slurm'"
)
_READY_FOR_SUBMISSION = (
    "Ready for scheduler submission (has on_workflow_start schedule_nodes action)"
)


def validate_spec(
    source: str | Path | LoadedSpec,
    *,
    user: str | None = None,
    resource_monitoring: bool = True,
    skip_checks: bool = False,
    max_jobs: int = DEFAULT_MAX_JOBS,
) -> dict[str, Any]:
    """``{"valid", "errors", "warnings", "summary"}``; spec problems never raise."""
    try:
        loaded = as_loaded(source)
    except SpecError as exc:
        return _result([str(exc)], [], summarize(None))
    diag = Diagnostics(loaded.path, loaded.locate, fail_fast=False)
    options = Options(user, resource_monitoring, skip_checks, max_jobs=max_jobs)
    compilation = Compilation(loaded, diag, options)
    try:
        compilation.run()
    except StageFailed:
        pass
    return _result(diag.errors, diag.warnings, summarize(compilation))


def _result(errors: list[str], warnings: list[str], summary: dict[str, Any]) -> dict[str, Any]:
    return {"valid": not errors, "errors": errors, "warnings": warnings, "summary": summary}


def summarize(compilation: Compilation | None) -> dict[str, Any]:
    """Counts for the dry run; expanded counts stay 0 until expansion succeeded. The name and
    description come from the file itself when another field keeps the spec from building."""
    spec = compilation.spec if compilation else None
    expanded = bool(compilation and compilation.expanded)
    jobs = compilation.jobs if compilation and expanded else []
    actions = spec.actions if spec else []
    raw = compilation.loaded.data if compilation else {}
    return {
        "workflow_name": spec.name if spec else _text(raw.get("name")),
        "workflow_description": spec.description if spec else _text(raw.get("description")),
        "job_count": len(jobs),
        "job_count_before_expansion": len(spec.jobs) if spec else 0,
        "file_count": len(compilation.files) if compilation and expanded else 0,
        "file_count_before_expansion": len(spec.files) if spec else 0,
        "user_data_count": len(compilation.user_data) if compilation and expanded else 0,
        "resource_requirements_count": len(spec.resource_requirements) if spec else 0,
        "slurm_scheduler_count": len(spec.slurm_schedulers) if spec else 0,
        "action_count": len(actions),
        "has_schedule_nodes_action": any(
            a.trigger_type == "on_workflow_start" and a.action_type == "schedule_nodes"
            for a in actions
        ),
        "job_names": list(jobs.names()) if isinstance(jobs, ExpandedJobs) else [],
        "scheduler_names": [s.name for s in spec.slurm_schedulers] if spec else [],
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def format_validation(result: dict[str, Any]) -> str:
    """The text form of ``torc workflows create --dry-run``."""
    summary = result["summary"]
    lines = [
        "Workflow Validation Results",
        "===========================",
        f"Workflow: {summary['workflow_name'] or '(unknown)'}",
    ]
    if summary["workflow_description"]:
        lines.append(f"Description: {summary['workflow_description']}")
    lines += ["", "Components to be created:", *_component_lines(summary), ""]
    submission = _READY_FOR_SUBMISSION if summary["has_schedule_nodes_action"] else _NO_SUBMISSION
    lines += [f"Submission: {submission}", ""]
    lines += _listing("Warnings", result["warnings"])
    lines += _listing("Errors", result["errors"])
    lines.append(f"Validation: {_verdict(result)}")
    return "\n".join(lines)


def _verdict(result: dict[str, Any]) -> str:
    if not result["valid"]:
        return "FAILED"
    count = len(result["warnings"])
    return f"PASSED (with {count} warning(s))" if count else "PASSED"


def _component_lines(summary: dict[str, Any]) -> list[str]:
    return [
        "  Jobs: " + _expanded(summary["job_count"], summary["job_count_before_expansion"], "job"),
        "  Files: "
        + _expanded(summary["file_count"], summary["file_count_before_expansion"], "file"),
        f"  User data records: {summary['user_data_count']}",
        f"  Resource requirements: {summary['resource_requirements_count']}",
        f"  Slurm schedulers: {summary['slurm_scheduler_count']}",
        f"  Workflow actions: {summary['action_count']}",
    ]


def _expanded(count: int, before: int, kind: str) -> str:
    if count == before or count == 0:
        return str(count)
    return f"{count} (expanded from {before} parameterized {kind} specs)"


def _listing(title: str, entries: list[str]) -> list[str]:
    if not entries:
        return []
    return [f"{title} ({len(entries)}):", *(f"  - {entry}" for entry in entries), ""]
