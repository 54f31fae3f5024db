"""``torc jobs``: create, list, inspect and change jobs."""

from __future__ import annotations

from pathlib import Path

import click

from app.shared.status import STATUS_NAMES
from cli.context import Context, pass_context
from cli.options import list_options, list_params, resolve_workflow_id, workflow_argument
from cli.parsing import id_list

COLUMNS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Attempt", "attempt_id"),
    ("RR ID", "resource_requirements_id"),
    ("Command", "command"),
]
# The seed's CLI reference also lists upstream's older names for two statuses.
STATUS_ALIASES = {"done": "completed", "scheduled": "pending"}


class StatusChoice(click.Choice):
    """A status name, or one of the older names the seed's CLI reference lists."""

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            value = STATUS_ALIASES.get(value.lower(), value)
        return super().convert(value, param, ctx)


STATUS_CHOICES = StatusChoice(STATUS_NAMES)


@click.group("jobs")
def group() -> None:
    """Job management commands."""


@group.command("create")
@workflow_argument
@click.option("-n", "--name", required=True, help="Name of the job.")
@click.option("-c", "--command", required=True, help="Command to run.")
@click.option("-r", "--resource-requirements-id", type=int, help="Resource requirements ID.")
@click.option("-b", "--blocking-job-ids", help="IDs of jobs this job waits for (comma-separated).")
@click.option("-i", "--input-file-ids", help="IDs of files this job reads (comma-separated).")
@click.option("-o", "--output-file-ids", help="IDs of files this job writes (comma-separated).")
@pass_context
def create(
    ctx: Context,
    workflow_id: int | None,
    name: str,
    command: str,
    resource_requirements_id: int | None,
    blocking_job_ids: str | None,
    input_file_ids: str | None,
    output_file_ids: str | None,
) -> None:
    """Create a job."""
    body = {
        "workflow_id": resolve_workflow_id(ctx, workflow_id),
        "name": name,
        "command": command,
        "resource_requirements_id": resource_requirements_id,
        "depends_on_job_ids": id_list(blocking_job_ids),
        "input_file_ids": id_list(input_file_ids),
        "output_file_ids": id_list(output_file_ids),
    }
    job = ctx.client.create_job({k: v for k, v in body.items() if v is not None})
    ctx.emit(job, text=f"Created job {job['id']}")


@group.command("create-from-file")
@click.argument("workflow_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--cpus-per-job", type=click.IntRange(0), default=1, show_default=True)
@click.option("--memory-per-job", default="1m", show_default=True, help="e.g. 512m, 2g")
@click.option(
    "--runtime-per-job", default="P0DT1M", show_default=True, help="ISO-8601 duration, e.g. P0DT30M"
)
@pass_context
def create_from_file(
    ctx: Context,
    workflow_id: int,
    file: str,
    cpus_per_job: int,
    memory_per_job: str,
    runtime_per_job: str,
) -> None:
    """Create one job per line of FILE (blank lines and # comments are skipped).

    Jobs are named job<N>, counting on from the workflow's current number of jobs, and share
    one new resource requirements record.
    """
    commands = [line.strip() for line in Path(file).read_text().splitlines()]
    commands = [line for line in commands if line and not line.startswith("#")]
    if not commands:
        raise click.ClickException(f"{file}: no commands")
    client = ctx.client
    start = client.job_ids(workflow_id)["count"] + 1
    rr = client.create_resource_requirements(
        {
            "workflow_id": workflow_id,
            "name": f"jobs_from_{Path(file).name}_{start}",
            "num_cpus": cpus_per_job,
            "memory": memory_per_job,
            "runtime": runtime_per_job,
        },
    )
    jobs = [
        {
            "workflow_id": workflow_id,
            "name": f"job{start + i}",
            "command": command,
            "resource_requirements_id": rr["id"],
        }
        for i, command in enumerate(commands)
    ]
    created = [job for part in _chunks(jobs, 10_000) for job in client.create_jobs(part)]
    ctx.emit({"jobs": created}, text=f"Created {len(created)} jobs in workflow {workflow_id}")


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@group.command("list")
@workflow_argument
@click.option("-s", "--status", type=STATUS_CHOICES, help="Only jobs with this status.")
@click.option("--upstream-job-id", type=int, help="Only jobs that depend on this job.")
@list_options()
@click.option(
    "--include-relationships",
    is_flag=True,
    help="Include dependency, file and user-data IDs (slower).",
)
@pass_context
def list_jobs(
    ctx: Context,
    workflow_id: int | None,
    status: str | None,
    upstream_job_id: int | None,
    include_relationships: bool,
    **options,
) -> None:
    """List the jobs of a workflow."""
    params = list_params(options)
    limit = params.pop("limit")
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    jobs = list(
        ctx.client.list_jobs(
            workflow_id,
            limit=limit,
            status=status,
            upstream_job_id=upstream_job_id,
            include_relationships=include_relationships or None,
            **params,
        )
    )
    if not jobs:
        ctx.client.get_workflow(workflow_id)  # nothing listed: say so if the ID is unknown
    ctx.emit({"jobs": jobs}, rows=jobs, columns=COLUMNS)


@group.command("list-by-status")
@workflow_argument
@pass_context
def list_by_status(ctx: Context, workflow_id: int | None) -> None:
    """Count a workflow's jobs by status and name them (seed: `watch torc jobs
    list-by-status WF`)."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    jobs = list(ctx.client.list_jobs(workflow_id))
    if not jobs:
        ctx.client.get_workflow(workflow_id)  # nothing listed: say so if the ID is unknown
    grouped: dict[str, list[dict]] = {name: [] for name in STATUS_NAMES}
    for job in jobs:
        grouped[job["status"]].append({"id": job["id"], "name": job["name"]})
    by_status = {status: listed for status, listed in grouped.items() if listed}
    rows = [
        {"status": status, "count": len(listed), "jobs": ", ".join(j["name"] for j in listed)}
        for status, listed in by_status.items()
    ]
    ctx.emit(
        {"workflow_id": workflow_id, "total": len(jobs), "jobs_by_status": by_status},
        rows=rows,
        columns=[("Status", "status"), ("Count", "count"), ("Jobs", "jobs")],
    )


@group.command("get")
@click.argument("job_id", type=int)
@pass_context
def get(ctx: Context, job_id: int) -> None:
    """Show one job."""
    ctx.emit(ctx.client.get_job(job_id))


@group.command("update")
@click.argument("job_id", type=int)
@click.option("-n", "--name", help="New name.")
@click.option("-c", "--command", help="New command.")
@pass_context
def update(ctx: Context, job_id: int, name: str | None, command: str | None) -> None:
    """Change a job's name or command."""
    job = ctx.client.get_job(job_id)
    job.update({k: v for k, v in {"name": name, "command": command}.items() if v is not None})
    updated = ctx.client.update_job(job_id, job)
    ctx.emit(updated, text=f"Updated job {job_id}")


@group.command("delete")
@click.argument("job_ids", type=int, nargs=-1, metavar="[IDS]...")
@pass_context
def delete(ctx: Context, job_ids: tuple[int, ...]) -> None:
    """Delete one or more jobs (none given: nothing is deleted)."""
    for job_id in job_ids:  # an unknown ID stops the command before anything is deleted
        ctx.client.get_job(job_id)
    deleted = [ctx.client.delete_job(job_id) for job_id in job_ids]
    ctx.emit({"jobs": deleted}, text=f"Deleted {len(deleted)} job(s)")


@group.command("delete-all")
@workflow_argument
@pass_context
def delete_all(ctx: Context, workflow_id: int | None) -> None:
    """Delete every job of a workflow."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    ctx.client.get_workflow(workflow_id)
    result = ctx.client.delete_jobs(workflow_id)
    ctx.emit(result, text=f"Deleted {result['count']} job(s) of workflow {workflow_id}")


@group.command("list-resource-requirements")
@workflow_argument
@click.option("-j", "--job-id", type=int, help="Only the requirements of this job.")
@pass_context
def list_resource_requirements(ctx: Context, workflow_id: int | None, job_id: int | None) -> None:
    """List each job with its resource requirements."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    requirements = {r["id"]: r for r in ctx.client.list_resource_requirements(workflow_id)}
    if not requirements:  # every workflow has its default record: the ID must be unknown
        ctx.client.get_workflow(workflow_id)
    jobs = [ctx.client.get_job(job_id)] if job_id else ctx.client.list_jobs(workflow_id)
    rows = []
    for job in jobs:
        rr = requirements.get(job["resource_requirements_id"], {})
        rows.append(
            {
                "job_id": job["id"],
                "job_name": job["name"],
                "resource_requirements_id": rr.get("id"),
                "name": rr.get("name"),
                "num_cpus": rr.get("num_cpus"),
                "num_gpus": rr.get("num_gpus"),
                "num_nodes": rr.get("num_nodes"),
                "memory": rr.get("memory"),
                "runtime": rr.get("runtime"),
            }
        )
    columns = [
        ("Job ID", "job_id"),
        ("Job Name", "job_name"),
        ("RR", "name"),
        ("CPUs", "num_cpus"),
        ("GPUs", "num_gpus"),
        ("Nodes", "num_nodes"),
        ("Memory", "memory"),
        ("Runtime", "runtime"),
    ]
    ctx.emit({"jobs": rows}, rows=rows, columns=columns)
