"""``torc user-data``: JSON records that jobs pass to each other."""

from __future__ import annotations

import click

from cli.context import Context, pass_context
from cli.options import list_options, list_params, resolve_workflow_id, workflow_argument
from cli.parsing import json_value

COLUMNS = [("ID", "id"), ("Name", "name"), ("Ephemeral", "is_ephemeral"), ("Data", "data")]


@click.group("user-data")
def group() -> None:
    """User data commands."""


@group.command("create")
@workflow_argument
@click.option("-n", "--name", required=True, help="Name of the data object.")
@click.option("-d", "--data", help="JSON data content.")
@click.option("--ephemeral", is_flag=True, help="Cleared between runs.")
@click.option("--consumer-job-id", type=int, help="Job that reads it.")
@click.option("--producer-job-id", type=int, help="Job that writes it.")
@pass_context
def create(
    ctx: Context, workflow_id, name, data, ephemeral, consumer_job_id, producer_job_id
) -> None:
    """Create a user data record."""
    body = {
        "workflow_id": resolve_workflow_id(ctx, workflow_id),
        "name": name,
        "data": json_value(data),
        "is_ephemeral": ephemeral,
    }
    record = ctx.client.create_user_data(
        body, consumer_job_id=consumer_job_id, producer_job_id=producer_job_id
    )
    ctx.emit(record, text=f"Created user data {record['id']}")


@group.command("list")
@workflow_argument
@list_options(default_limit=50, short_offset=True)
@click.option("--name", help="Only records with this name.")
@click.option("--is-ephemeral", type=click.BOOL, help="true or false.")
@click.option("--consumer-job-id", type=int)
@click.option("--producer-job-id", type=int)
@pass_context
def list_user_data(
    ctx: Context, workflow_id, name, is_ephemeral, consumer_job_id, producer_job_id, **options
) -> None:
    """List user data records."""
    params = list_params(options)
    limit = params.pop("limit")
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    records = list(
        ctx.client.list_user_data(
            workflow_id,
            limit=limit,
            name=name,
            is_ephemeral=is_ephemeral,
            consumer_job_id=consumer_job_id,
            producer_job_id=producer_job_id,
            **params,
        )
    )
    if not records:
        ctx.client.get_workflow(workflow_id)  # nothing listed: say so if the ID is unknown
    ctx.emit({"user_data": records}, rows=records, columns=COLUMNS)


@group.command("get")
@click.argument("record_id", type=int)
@pass_context
def get(ctx: Context, record_id: int) -> None:
    """Show one record as JSON (its data is under .data); -f table for aligned lines."""
    ctx.emit_data(ctx.client.get_user_data(record_id))


@group.command("update")
@click.argument("record_id", type=int)
@click.option("-n", "--name", help="New name.")
@click.option("-d", "--data", help="New JSON data content.")
@click.option("--ephemeral", type=click.BOOL, help="true or false.")
@pass_context
def update(ctx: Context, record_id: int, name, data, ephemeral) -> None:
    """Change a record's name, data or ephemeral flag."""
    record = ctx.client.get_user_data(record_id)
    if name is not None:
        record["name"] = name
    if data is not None:
        record["data"] = json_value(data)
    if ephemeral is not None:
        record["is_ephemeral"] = ephemeral
    updated = ctx.client.update_user_data(record_id, record)
    ctx.emit(updated, text=f"Updated user data {record_id}")


@group.command("delete")
@click.argument("record_id", type=int)
@pass_context
def delete(ctx: Context, record_id: int) -> None:
    """Delete one record."""
    ctx.emit(ctx.client.delete_user_data(record_id), text=f"Deleted user data {record_id}")


@group.command("delete-all")
@click.argument("workflow_id", type=int)
@pass_context
def delete_all(ctx: Context, workflow_id: int) -> None:
    """Delete every user data record of a workflow."""
    ctx.client.get_workflow(workflow_id)
    result = ctx.client.delete_all_user_data(workflow_id)
    ctx.emit(result, text=f"Deleted {result['count']} user data record(s)")


@group.command("list-missing")
@click.argument("workflow_id", type=int)
@pass_context
def list_missing(ctx: Context, workflow_id: int) -> None:
    """Records some job needs that hold no data and that no job produces."""
    missing = ctx.client.missing_user_data(workflow_id)
    ctx.emit(missing, text="\n".join(str(i) for i in missing["user_data"]) or "(none)")
