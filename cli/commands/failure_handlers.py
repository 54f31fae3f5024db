"""``torc failure-handlers``: exit-code rules that decide whether a failed job is retried."""

from __future__ import annotations

import click

from cli.context import Context, pass_context
from cli.options import page_options, resolve_workflow_id, workflow_argument

COLUMNS = [("ID", "id"), ("Name", "name"), ("Rules", "rules")]
RULES_HELP = (
    "JSON array of rules, e.g. "
    '\'[{"exit_codes": [137], "max_retries": 2, "recovery_script": "fix.sh"}]\'; '
    "keys: exit_codes, match_all_exit_codes, recovery_script, max_retries."
)


@click.group("failure-handlers")
def group() -> None:
    """Failure handler management commands."""


@group.command("create")
@workflow_argument
@click.option("-n", "--name", required=True, help="Name of the failure handler.")
@click.option("--rules", required=True, help=RULES_HELP)
@pass_context
def create(ctx: Context, workflow_id: int | None, name: str, rules: str) -> None:
    """Create a failure handler (the server checks the rules)."""
    body = {"workflow_id": resolve_workflow_id(ctx, workflow_id), "name": name, "rules": rules}
    record = ctx.client.create_failure_handler(body)
    ctx.emit(record, text=f"Created failure handler {record['id']}")


@group.command("list")
@workflow_argument
@page_options
@pass_context
def list_handlers(ctx: Context, workflow_id: int | None, limit: int, offset: int) -> None:
    """List the failure handlers of a workflow."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    records = list(ctx.client.list_failure_handlers(workflow_id, limit=limit, offset=offset))
    ctx.emit({"failure_handlers": records}, rows=records, columns=COLUMNS)


@group.command("get")
@click.argument("handler_id", type=int)
@pass_context
def get(ctx: Context, handler_id: int) -> None:
    """Show one failure handler."""
    ctx.emit(ctx.client.get_failure_handler(handler_id))


@group.command("delete")
@click.argument("handler_id", type=int)
@pass_context
def delete(ctx: Context, handler_id: int) -> None:
    """Delete one failure handler."""
    deleted = ctx.client.delete_failure_handler(handler_id)
    ctx.emit(deleted, text=f"Deleted failure handler {handler_id}")
