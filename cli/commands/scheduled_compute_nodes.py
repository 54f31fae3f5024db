"""``torc scheduled-compute-nodes``: allocations requested from a scheduler such as Slurm."""

from __future__ import annotations

import click

from cli.context import Context, pass_context
from cli.options import list_params, resolve_workflow_id, short_list_options, workflow_argument

COLUMNS = [
    ("ID", "id"),
    ("Scheduler ID", "scheduler_id"),
    ("Scheduler Config ID", "scheduler_config_id"),
    ("Scheduler Type", "scheduler_type"),
    ("Status", "status"),
]
JOB_COLUMNS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Status", "status"),
    ("Compute Node IDs", "compute_node_ids"),
    ("Command", "command"),
]


@click.group("scheduled-compute-nodes")
def group() -> None:
    """Scheduled compute node management commands."""


@group.command("get")
@click.argument("node_id", type=int)
@pass_context
def get(ctx: Context, node_id: int) -> None:
    """Show one scheduled compute node."""
    ctx.emit(ctx.client.get_scheduled_compute_node(node_id))


@group.command("list")
@workflow_argument
@short_list_options
@click.option("--scheduler-id", type=int, help="Only nodes of this scheduler.")
@click.option("--scheduler-config-id", type=int, help="Only nodes of this scheduler config.")
@click.option("--status", help="Only nodes with this status.")
@pass_context
def list_nodes(
    ctx: Context, workflow_id: int | None, scheduler_id, scheduler_config_id, status, **options
) -> None:
    """List the scheduled compute nodes of a workflow."""
    nodes = list(
        ctx.client.list_scheduled_compute_nodes(
            resolve_workflow_id(ctx, workflow_id),
            scheduler_id=scheduler_id,
            scheduler_config_id=scheduler_config_id,
            status=status,
            **list_params(options),
        )
    )
    ctx.emit({"scheduled_compute_nodes": nodes}, rows=nodes, columns=COLUMNS)


@group.command("list-jobs")
@click.argument("node_id", type=int)
@pass_context
def list_jobs(ctx: Context, node_id: int) -> None:
    """List the jobs that ran under a scheduled compute node (in any run)."""
    client = ctx.client
    workflow_id = client.get_scheduled_compute_node(node_id)["workflow_id"]
    nodes_of_job = _compute_nodes_by_job(ctx, workflow_id, node_id)
    jobs = [
        {**job, "compute_node_ids": sorted(nodes_of_job[job["id"]])}
        for job in client.list_jobs(workflow_id)
        if job["id"] in nodes_of_job
    ]
    ctx.emit({"jobs": jobs}, rows=jobs, columns=JOB_COLUMNS)


def _compute_nodes_by_job(ctx: Context, workflow_id: int, node_id: int) -> dict[int, set[int]]:
    """Job ID -> the IDs of this allocation's compute nodes that ran it."""
    compute_nodes = ctx.client.list_compute_nodes(workflow_id, scheduled_compute_node_id=node_id)
    found: dict[int, set[int]] = {}
    for compute_node in compute_nodes:
        results = ctx.client.list_results(
            workflow_id, compute_node_id=compute_node["id"], all_runs=True
        )
        for result in results:
            found.setdefault(result["job_id"], set()).add(compute_node["id"])
    return found
