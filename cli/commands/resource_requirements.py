"""``torc resource-requirements``: the CPUs, GPUs, nodes, memory and runtime jobs need."""

from __future__ import annotations

import click

from cli.context import Context, pass_context
from cli.options import list_options, list_params, resolve_workflow_id, workflow_argument

COLUMNS = [
    ("ID", "id"),
    ("Name", "name"),
    ("CPUs", "num_cpus"),
    ("GPUs", "num_gpus"),
    ("Nodes", "num_nodes"),
    ("Memory", "memory"),
    ("Runtime", "runtime"),
]
CPUS_HELP = "Number of CPUs required."
GPUS_HELP = "Number of GPUs required."
NODES_HELP = "Number of nodes required."
MEMORY_HELP = 'Amount of memory required (e.g., "20g"; units k, m, g, t).'
RUNTIME_HELP = 'Maximum runtime as an ISO 8601 duration (e.g., "P0DT1H", "PT30M").'


@click.group("resource-requirements")
def group() -> None:
    """Resource requirements management commands."""


@group.command("create")
@workflow_argument
@click.option("-n", "--name", required=True, help="Name of the resource requirements.")
@click.option("--num-cpus", type=click.IntRange(0), default=1, show_default=True, help=CPUS_HELP)
@click.option("--num-gpus", type=click.IntRange(0), default=0, show_default=True, help=GPUS_HELP)
@click.option("--num-nodes", type=click.IntRange(1), default=1, show_default=True, help=NODES_HELP)
@click.option("-m", "--memory", default="1m", show_default=True, help=MEMORY_HELP)
@click.option("-r", "--runtime", default="P0DT1M", show_default=True, help=RUNTIME_HELP)
@pass_context
def create(ctx: Context, workflow_id: int | None, **fields) -> None:
    """Create resource requirements in a workflow."""
    body = {"workflow_id": resolve_workflow_id(ctx, workflow_id), **fields}
    record = ctx.client.create_resource_requirements(body)
    ctx.emit(record, text=f"Created resource requirements {record['id']}")


@group.command("list")
@workflow_argument
@list_options()
@pass_context
def list_requirements(ctx: Context, workflow_id: int | None, **options) -> None:
    """List the resource requirements of a workflow."""
    records = list(
        ctx.client.list_resource_requirements(
            resolve_workflow_id(ctx, workflow_id),
            **list_params(options),
        )
    )
    ctx.emit({"resource_requirements": records}, rows=records, columns=COLUMNS)


@group.command("get")
@click.argument("record_id", type=int)
@pass_context
def get(ctx: Context, record_id: int) -> None:
    """Show one resource requirements record."""
    ctx.emit(ctx.client.get_resource_requirements(record_id))


@group.command("update")
@click.argument("record_id", type=int)
@click.option("-n", "--name", help="New name.")
@click.option("--num-cpus", type=click.IntRange(0), help=CPUS_HELP)
@click.option("--num-gpus", type=click.IntRange(0), help=GPUS_HELP)
@click.option("--num-nodes", type=click.IntRange(1), help=NODES_HELP)
@click.option("--memory", help=MEMORY_HELP)
@click.option("--runtime", help=RUNTIME_HELP)
@pass_context
def update(ctx: Context, record_id: int, **changes) -> None:
    """Change some fields of a resource requirements record."""
    record = ctx.client.get_resource_requirements(record_id)
    record.update({key: value for key, value in changes.items() if value is not None})
    updated = ctx.client.update_resource_requirements(record_id, record)
    ctx.emit(updated, text=f"Updated resource requirements {record_id}")


@group.command("delete")
@click.argument("record_id", type=int)
@pass_context
def delete(ctx: Context, record_id: int) -> None:
    """Delete one resource requirements record."""
    deleted = ctx.client.delete_resource_requirements(record_id)
    ctx.emit(deleted, text=f"Deleted resource requirements {record_id}")
