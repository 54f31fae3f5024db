"""Arguments and prompts the ``torc workflows`` commands share."""

from __future__ import annotations

import sys

import click

from cli.context import Context, current_user
from cli.options import resolve_workflow_id


def user_option(function):
    return click.option(
        "-u", "--user", help="User whose workflows to choose from when no ID is given."
    )(function)


def pick_workflow(
    ctx: Context, workflow_id: int | None, user: str | None = None, archived: bool = False
) -> int:
    """The given ID, else one chosen on the terminal from ``user``'s workflows."""
    if workflow_id is not None:
        return workflow_id
    if user is None and not archived:
        return resolve_workflow_id(ctx, None)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.UsageError("WORKFLOW_ID is required (no terminal to choose one on)")
    user = user or current_user()
    choices = list(ctx.client.list_workflows(user=user, is_archived=archived))
    if not choices:
        raise click.ClickException(f"user {user} has no {'archived ' * archived}workflows")
    for number, workflow in enumerate(choices, start=1):
        click.echo(f"{number:3d}. [{workflow['id']}] {workflow['name']}", err=True)
    choice = click.prompt("Workflow", type=click.IntRange(1, len(choices)), err=True)
    return choices[choice - 1]["id"]


def optional_id(name: str = "workflow_id", metavar: str = "[WORKFLOW_ID]"):
    return click.argument(name, type=int, required=False, metavar=metavar)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm(question: str, no_prompts: bool, required: bool = False) -> None:
    """Ask on a terminal; without one, go ahead unless the question is ``required``."""
    if no_prompts:
        return
    if stdin_is_terminal():
        click.confirm(question, abort=True, err=True)
    elif required:
        raise click.ClickException(
            "stdin is not a terminal, so there is no one to confirm; pass --no-prompts"
        )
