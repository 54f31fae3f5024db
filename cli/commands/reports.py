"""``torc reports``: resource utilization, results with log paths, workflow summary."""

from __future__ import annotations

import os
from typing import Any

import click

from cli.context import Context, pass_context
from cli.options import output_dir_option, resolve_workflow_id, workflow_argument
from cli.output import print_json, print_table
from cli.reporting.results_report import missing_log_warnings, result_record, results_report
from cli.reporting.summary import summary_lines, summary_report
from cli.reporting.utilization import requirements_by_job, selected_results, utilization_report

UTILIZATION_COLUMNS = [
    ("Job ID", "job_id"),
    ("Job Name", "job_name"),
    ("Resource", "resource_type"),
    ("Specified", "specified"),
    ("Peak Used", "peak_used"),
    ("Over-Utilization", "over_utilization"),
]
# --all shows every check: the percentage is then a difference that is often negative
# (headroom), so it is labelled as such and each row says whether it is a violation.
ALL_CHECK_COLUMNS = [
    *UTILIZATION_COLUMNS[:-1],
    ("Peak vs Specified", "over_utilization"),
    ("Verdict", "verdict"),
]
FAILED_JOB_COLUMNS = [
    ("Job ID", "job_id"),
    ("Job Name", "job_name"),
    ("Status", "status"),
    ("Return Code", "return_code"),
    ("Peak Memory", "peak_memory_formatted"),
    ("Runtime Used", "runtime_utilization"),
    ("Likely OOM", "oom"),
    ("Likely Timeout", "timeout"),
]


@click.group("reports")
def group() -> None:
    """Report commands."""


@group.command("check-resource-utilization")
@workflow_argument
@click.option("-r", "--run-id", type=int, help="Run to check (default: the latest run).")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show every job, not only violations.")
@click.option(
    "--include-failed",
    is_flag=True,
    help="Also check failed and terminated jobs and diagnose likely OOM kills and timeouts.",
)
@pass_context
def check_resource_utilization(
    ctx: Context, workflow_id: int | None, run_id: int | None, show_all: bool, include_failed: bool
) -> None:
    """Compare each job's peak memory, peak CPU and runtime with its resource requirements."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    client = ctx.client
    results = selected_results(client.list_results(workflow_id, run_id=run_id), include_failed)
    jobs = list(client.list_jobs(workflow_id))
    requirements = requirements_by_job(jobs, client.list_resource_requirements(workflow_id))
    names = {job["id"]: job["name"] for job in jobs}
    report = utilization_report(workflow_id, run_id, results, names, requirements, show_all)
    if ctx.format == "json":
        print_json(report)
    elif not results:
        kinds = "completed, failed or terminated" if include_failed else "completed"
        click.echo(f"No {kinds} job results found for workflow {workflow_id}")
    else:
        _print_utilization(report, show_all)


def _print_utilization(report: dict[str, Any], show_all: bool) -> None:
    count = report["over_utilization_count"]
    if show_all:
        _print_all_checks(report["checks"], report["violations"])
    else:
        if count:
            click.echo(f"⚠ Found {count} resource over-utilization violations:")
        if report["violations"]:
            print_table(report["violations"], UTILIZATION_COLUMNS)
    if not count:
        total = report["total_results"]
        click.echo(f"✓ All {total} jobs stayed within their specified resource requirements")
    if report["failed_jobs"]:
        click.echo(f"\nFailed jobs ({report['failed_jobs_count']}):")
        print_table([_failed_row(job) for job in report["failed_jobs"]], FAILED_JOB_COLUMNS)


def _print_all_checks(checks: list[dict[str, Any]], violations: list[dict[str, Any]]) -> None:
    if violations:
        click.echo(f"⚠ Found {len(violations)} resource over-utilization violations (OVER below)")
    if not checks:
        return
    jobs = len({check["job_id"] for check in checks})
    click.echo(
        f"All {len(checks)} checks of {jobs} jobs: peak use against the requirement "
        "(negative: unused headroom)"
    )
    over = {id(violation) for violation in violations}  # the same row objects as in checks
    rows = [{**check, "verdict": "OVER" if id(check) in over else "within"} for check in checks]
    print_table(rows, ALL_CHECK_COLUMNS)


def _failed_row(diagnosis: dict[str, Any]) -> dict[str, Any]:
    def verdict(likely: bool, reason: str | None) -> str:
        return f"yes ({reason})" if likely and reason else ("yes" if likely else "no")

    return {
        **diagnosis,
        "oom": verdict(diagnosis["likely_oom"], diagnosis["oom_reason"]),
        "timeout": verdict(diagnosis["likely_timeout"], diagnosis["timeout_reason"]),
    }


@group.command("results")
@workflow_argument
@output_dir_option()
@click.option("--all-runs", is_flag=True, help="Include every run (default: the latest run).")
@click.option(
    "-j", "--job-id", "job_ids", type=int, multiple=True, help="Only this job (repeatable)."
)
@pass_context
def results(
    ctx: Context, workflow_id: int | None, output_dir: str, all_runs: bool, job_ids: tuple[int]
) -> None:
    """JSON report of job results with the paths of their log files."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    client = ctx.client
    workflow = client.get_workflow(workflow_id)  # an unknown workflow is the first error
    if not os.path.exists(output_dir):
        raise click.ClickException(f"Output directory does not exist: {output_dir}")
    if not os.path.isdir(output_dir):
        raise click.ClickException(f"Output path is not a directory: {output_dir}")
    names = {job["id"]: job["name"] for job in client.list_jobs(workflow_id)}
    nodes = {node["id"]: node for node in client.list_compute_nodes(workflow_id)}
    records = [
        result_record(
            result, names.get(result["job_id"]), nodes.get(result["compute_node_id"]), output_dir
        )
        for result in client.list_results(workflow_id, all_runs=all_runs or None)
        if not job_ids or result["job_id"] in job_ids
    ]
    for warning in missing_log_warnings(records):
        click.echo(warning, err=True)
    print_json(results_report(workflow, all_runs, records))


@group.command("summary")
@workflow_argument
@pass_context
def summary(ctx: Context, workflow_id: int | None) -> None:
    """Jobs by status, execution time and walltime (also while the workflow runs)."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    client = ctx.client
    completion = client.is_complete(workflow_id)
    results = list(client.list_results(workflow_id))
    runner_starts = []
    if not completion.get("is_complete"):  # mid-run: the current run's figures so far
        run_id = client.workflow_status(workflow_id)["run_id"]
        results = [result for result in results if result.get("run_id") == run_id]
        nodes = client.list_compute_nodes(workflow_id, is_active=True)
        runner_starts = [node["start_time"] for node in nodes]
    report = summary_report(
        client.get_workflow(workflow_id),
        list(client.list_jobs(workflow_id)),
        results,
        completion,
        runner_starts,
    )
    ctx.emit(report, text="\n".join(summary_lines(report)))
