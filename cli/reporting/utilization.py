"""The ``reports check-resource-utilization`` report: every result against its job's request."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.shared.status import FAILURE_NAMES
from cli.reporting.diagnosis import (
    Requirements,
    diagnose_failure,
    is_failure,
    usage_checks,
)

# Jobs on the workflow's implicit ``default`` requirements (1 CPU, 1 MB) declared nothing, so
# measuring them against it would flag nearly every such job.
DEFAULT_RR_NAME = "default"


def requirements_by_job(
    jobs: Iterable[dict[str, Any]], requirement_records: Iterable[dict[str, Any]]
) -> dict[int, Requirements]:
    """Job ID -> its declared requirements (jobs on ``default`` are left out)."""
    records = {
        record["id"]: record
        for record in requirement_records
        if record.get("name") != DEFAULT_RR_NAME
    }
    return {
        job["id"]: Requirements.from_record(records[job["resource_requirements_id"]])
        for job in jobs
        if job.get("resource_requirements_id") in records
    }


def selected_results(results: Iterable[dict[str, Any]], include_failed: bool) -> list[dict]:
    """Completed results, plus failed and terminated ones when asked."""
    statuses = ("completed", *FAILURE_NAMES) if include_failed else ("completed",)
    return [result for result in results if result.get("status") in statuses]


def utilization_report(
    workflow_id: int,
    run_id: int | None,
    results: list[dict[str, Any]],
    job_names: dict[int, str],
    requirements: dict[int, Requirements],
    show_all: bool = False,
) -> dict[str, Any]:
    """The JSON report; with ``show_all`` it also lists every check under ``checks``."""
    violations: list[dict] = []
    checks: list[dict] = []
    failed_jobs: list[dict] = []
    for result in results:
        req = requirements.get(result["job_id"])
        if req is None:
            continue
        name = job_names.get(result["job_id"])
        for check in usage_checks(result, req):
            row = check.row(result["job_id"], name)
            checks.append(row)
            if check.exceeded:
                violations.append(row)
        if is_failure(result):
            failed_jobs.append(diagnose_failure(result, name, req))
    report = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "total_results": len(results),
        "over_utilization_count": len(violations),
        "violations": violations,
        "failed_jobs_count": len(failed_jobs),
        "failed_jobs": failed_jobs,
    }
    if show_all:
        report["checks"] = checks
    return report
