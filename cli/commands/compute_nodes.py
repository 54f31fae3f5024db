"""``torc compute-nodes``: the job runners that have worked on a workflow."""

from __future__ import annotations

import click

from app.shared.units import human_duration
from cli.context import Context, pass_context
from cli.options import list_params, resolve_workflow_id, short_list_options, workflow_argument

COLUMNS = [
    ("ID", "id"),
    ("Hostname", "hostname"),
    ("PID", "pid"),
    ("Type", "compute_node_type"),
    ("CPUs", "num_cpus"),
    ("Memory (GB)", "memory_gb"),
    ("GPUs", "num_gpus"),
    ("Nodes", "num_nodes"),
    ("Active", "is_active"),
    ("Start Time", "start"),
    ("Duration", "duration"),
]


@click.group("compute-nodes")
def group() -> None:
    """Compute node management commands."""


@group.command("get")
@click.argument("node_id", type=int)
@pass_context
def get(ctx: Context, node_id: int) -> None:
    """Show one compute node."""
    ctx.emit(ctx.client.get_compute_node(node_id))


@group.command("list")
@workflow_argument
@short_list_options
@click.option(
    "--scheduled-compute-node", type=int, help="Only nodes started by this scheduled compute node."
)
@pass_context
def list_nodes(ctx: Context, workflow_id: int | None, scheduled_compute_node, **options) -> None:
    """List the compute nodes of a workflow."""
    nodes = list(
        ctx.client.list_compute_nodes(
            resolve_workflow_id(ctx, workflow_id),
            scheduled_compute_node_id=scheduled_compute_node,
            **list_params(options),
        )
    )
    ctx.emit({"compute_nodes": nodes}, rows=[_display(n) for n in nodes], columns=COLUMNS)


def _display(node: dict) -> dict:
    duration = node.get("duration_seconds")
    return {
        **node,
        "start": (node.get("start_time") or "").replace("T", " ")[:19],
        "duration": "" if duration is None else human_duration(duration),
    }
