"""``torc results``: what each job attempt returned."""

from __future__ import annotations

import click

from app.shared.status import status_title
from app.shared.units import human_bytes
from cli.commands.jobs import STATUS_CHOICES
from cli.context import Context, pass_context
from cli.options import list_options, list_params, resolve_workflow_id, workflow_argument

COLUMNS = [
    ("ID", "id"),
    ("Job ID", "job_id"),
    ("Job Name", "job_name"),
    ("WF ID", "workflow_id"),
    ("Run ID", "run_id"),
    ("Attempt", "attempt_id"),
    ("Return Code", "return_code"),
    ("Exec Time (min)", "exec_time"),
    ("Peak Mem", "peak_mem"),
    ("Peak CPU %", "peak_cpu"),
    ("Completion Time", "completion_time"),
    ("Status", "status_title"),
]


@click.group("results")
def group() -> None:
    """Job result commands."""


@group.command("list")
@workflow_argument
@click.option("-j", "--job-id", type=int, help="Only results of this job.")
@click.option("-r", "--run-id", type=int, help="Only results of this run.")
@click.option("--return-code", type=int, help="Only results with this return code.")
@click.option("--failed", is_flag=True, help="Only results with a non-zero return code.")
@click.option("-s", "--status", type=STATUS_CHOICES, help="Only results with this status.")
@list_options()
@click.option("--all-runs", is_flag=True, help="Include earlier runs (default: latest run).")
@click.option("--compute-node", type=int, help="Only results from this compute node.")
@pass_context
def list_results(
    ctx: Context,
    workflow_id: int | None,
    job_id,
    run_id,
    return_code,
    failed,
    status,
    all_runs,
    compute_node,
    **options,
) -> None:
    """List job results (by default those of the latest run)."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    params = list_params(options)
    limit = params.pop("limit")
    # --failed is filtered here (the API has no such filter), so it must see every record
    # before the limit applies.
    results = list(
        ctx.client.list_results(
            workflow_id,
            limit=None if failed else limit,
            job_id=job_id,
            run_id=run_id,
            return_code=return_code,
            status=status,
            all_runs=all_runs or None,
            compute_node_id=compute_node,
            **params,
        )
    )
    if failed:
        results = [r for r in results if r["return_code"] != 0][:limit]
    names = {job["id"]: job["name"] for job in ctx.client.list_jobs(workflow_id)}
    for result in results:
        result["job_name"] = names.get(result["job_id"])
    ctx.emit({"results": results}, rows=[_display(r) for r in results], columns=COLUMNS)


def _display(result: dict) -> dict:
    return {
        **result,
        "exec_time": f"{result['exec_time_minutes']:.2f}",
        "peak_mem": human_bytes(result.get("peak_memory_bytes")),
        "peak_cpu": ""
        if result.get("peak_cpu_percent") is None
        else f"{result['peak_cpu_percent']:.1f}",
        "status_title": status_title(result["status"]),
        "completion_time": (result.get("completion_time") or "").replace("T", " ")[:19],
    }


@group.command("get")
@click.argument("result_id", type=int, metavar="ID")
@click.option(
    "-j",
    "--job-id",
    type=int,
    help="Then ID is a workflow: show this job's result in its latest run (as the seed's "
    "how-tos write `torc results get WF --job-id N`).",
)
@pass_context
def get(ctx: Context, result_id: int, job_id: int | None) -> None:
    """Show one result by its ID, or a job's latest result (ID WORKFLOW_ID --job-id N)."""
    if job_id is None:
        ctx.emit(ctx.client.get_result(result_id))
        return
    workflow_id = result_id
    job = ctx.client.get_job(job_id)
    if job["workflow_id"] != workflow_id:
        raise click.ClickException(f"job {job_id} is not in workflow {workflow_id}")
    results = list(ctx.client.list_results(workflow_id, job_id=job_id))
    if not results:
        raise click.ClickException(
            f"job {job_id} has no result in the latest run of workflow {workflow_id} "
            f"(`torc results list {workflow_id} --job-id {job_id} --all-runs` shows all runs)"
        )
    ctx.emit({**results[-1], "job_name": job["name"]})


@group.command("delete")
@click.argument("result_id", type=int)
@pass_context
def delete(ctx: Context, result_id: int) -> None:
    """Delete one result."""
    ctx.emit(ctx.client.delete_result(result_id), text=f"Deleted result {result_id}")
