"""The ``reports summary`` report: job counts by status, execution time and walltime.

Mid-run, execution time is that of the jobs that finished so far (running jobs are counted
apart), and walltime runs from the current run's first start to now: the earliest start of
its finished jobs, or of its active runners when none has finished yet.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from app.shared.status import STATUS_NAMES, status_title
from app.shared.units import human_duration

STATUSES = STATUS_NAMES
# A mark after the count, as upstream prints it.
STATUS_MARKS = {"completed": " ✓", "failed": " ✗", "terminated": " ✗", "pending_failed": " ⏳"}
UNSUCCESSFUL = ("failed", "terminated", "canceled")


def jobs_by_status(jobs: list[dict[str, Any]]) -> dict[str, int]:
    """Every status, zeros included."""
    counts = Counter(job.get("status") for job in jobs)
    return {status: counts.get(status, 0) for status in STATUSES}


def _completion(result: dict[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(result.get("completion_time")))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def walltime_seconds(results: list[dict[str, Any]]) -> float | None:
    """From the earliest start (completion minus execution time) to the last completion."""
    spans = []
    for result in results:
        end = _completion(result)
        if end is not None:
            minutes = float(result.get("exec_time_minutes") or 0.0)
            spans.append((end - timedelta(minutes=minutes), end))
    if not spans:
        return None
    return (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()


def walltime_so_far(
    results: list[dict[str, Any]], runner_starts: list[str], now: datetime
) -> float | None:
    """From the run's first start (a finished job's, else a runner's) to ``now``."""
    starts = []
    for result in results:
        end = _completion(result)
        if end is not None:
            starts.append(end - timedelta(minutes=float(result.get("exec_time_minutes") or 0.0)))
    if not starts:
        starts = [moment for moment in map(_moment, runner_starts) if moment is not None]
    return (now - min(starts)).total_seconds() if starts else None


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def summary_report(
    workflow: dict[str, Any],
    jobs: list[dict[str, Any]],
    results: list[dict[str, Any]],
    completion: dict[str, Any],
    runner_starts: list[str] | None = None,
) -> dict[str, Any]:
    """``runner_starts``: start times of the workflow's active runners (for walltime mid-run,
    when ``results`` are those of the current run)."""
    exec_minutes = sum(float(result.get("exec_time_minutes") or 0.0) for result in results)
    running = completion.get("is_complete") is False and not completion.get("is_canceled")
    if running:
        walltime = walltime_so_far(results, runner_starts or [], datetime.now(UTC))
    else:
        walltime = walltime_seconds(results)
    return {
        "workflow_id": workflow["id"],
        "workflow_name": workflow.get("name"),
        "workflow_user": workflow.get("user"),
        "total_jobs": len(jobs),
        "jobs_by_status": jobs_by_status(jobs),
        "total_exec_time_minutes": exec_minutes,
        "total_exec_time_formatted": human_duration(exec_minutes * 60),
        "is_complete": bool(completion.get("is_complete")),
        "is_canceled": bool(completion.get("is_canceled")),
        "walltime_seconds": walltime,
        "walltime_formatted": None if walltime is None else human_duration(walltime),
    }


def summary_lines(report: dict[str, Any]) -> list[str]:
    counts = report["jobs_by_status"]
    lines = [
        "Workflow Summary",
        "================",
        "",
        f"Workflow ID: {report['workflow_id']}",
        f"Name: {report['workflow_name']}",
        f"User: {report['workflow_user']}",
        "",
        f"Job Status (total: {report['total_jobs']}):",
    ]
    lines += [
        f"  {status_title(status) + ':':<15}{count}{STATUS_MARKS.get(status, '')}"
        for status, count in counts.items()
        if count
    ]
    in_progress = not report["is_complete"] and not report["is_canceled"]
    executed = report["total_exec_time_formatted"]
    if in_progress:
        running = counts.get("running", 0)
        executed += f" (finished jobs; {running} running)" if running else " (finished jobs)"
    lines += ["", f"Total Execution Time: {executed}"]
    if report["walltime_formatted"] is not None:
        so_far = " so far" if in_progress else ""
        lines.append(f"Walltime:             {report['walltime_formatted']}{so_far}")
    elif in_progress:
        lines.append("Walltime:             not started")
    return [*lines, "", state_line(report)]


def state_line(report: dict[str, Any]) -> str:
    counts = report["jobs_by_status"]
    if report["is_canceled"]:
        return "⊘ Workflow was canceled"
    if not report["is_complete"]:
        return "◷ Workflow in progress..."
    if any(counts[status] for status in UNSUCCESSFUL):
        failed, terminated, canceled = (counts[status] for status in UNSUCCESSFUL)
        return (
            f"✗ Workflow complete with failures ({failed} failed, {terminated} terminated, "
            f"{canceled} canceled)"
        )
    return "✓ All jobs completed successfully!"
