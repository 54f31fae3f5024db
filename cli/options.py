"""Option decorators shared by many commands, so the same flag never drifts between them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from cli.context import Context, current_user

MAX_LIMIT = 10_000


def list_options(default_limit: int = MAX_LIMIT, short_offset: bool = False) -> Callable:
    """``-l/--limit``, ``--offset``, ``--sort-by`` and ``--reverse-sort``."""

    def decorate(function: Callable) -> Callable:
        offset_flags = ("-o", "--offset") if short_offset else ("--offset",)
        for decorator in reversed(
            [
                click.option(
                    "-l",
                    "--limit",
                    type=click.IntRange(1),
                    default=default_limit,
                    show_default=True,
                    help="Maximum number of records to return.",
                ),
                click.option(
                    *offset_flags,
                    type=click.IntRange(0),
                    default=0,
                    show_default=True,
                    help="Number of records to skip.",
                ),
                click.option("--sort-by", help="Field to sort by."),
                click.option("--reverse-sort", is_flag=True, help="Sort in descending order."),
            ]
        ):
            function = decorator(function)
        return function

    return decorate


def list_params(options: dict[str, Any]) -> dict[str, Any]:
    """The query parameters of the list flags (pops them from the command's keyword args)."""
    return {
        "offset": options.pop("offset", 0),
        "sort_by": options.pop("sort_by", None),
        "reverse_sort": options.pop("reverse_sort", False) or None,
        "limit": options.pop("limit", MAX_LIMIT),
    }


def workflow_argument(function: Callable) -> Callable:
    """An optional WORKFLOW_ID: picked interactively on a terminal when left out."""
    return click.argument("workflow_id", type=int, required=False)(function)


def resolve_workflow_id(ctx: Context, workflow_id: int | None) -> int:
    if workflow_id is not None:
        return workflow_id
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.UsageError("WORKFLOW_ID is required (no terminal to choose one on)")
    return choose_workflow(ctx)


def choose_workflow(ctx: Context) -> int:
    user = current_user()
    workflows = list(ctx.client.list_workflows(user=user, is_archived=False))
    if not workflows:
        raise click.ClickException(f"user {user} has no workflows")
    for index, workflow in enumerate(workflows, start=1):
        description = f" - {workflow['description']}" if workflow.get("description") else ""
        click.echo(f"{index:3d}. [{workflow['id']}] {workflow['name']}{description}", err=True)
    choice = click.prompt("Workflow", type=click.IntRange(1, len(workflows)), err=True)
    return workflows[choice - 1]["id"]
