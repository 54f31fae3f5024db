"""Option decorators shared by many commands, so the same flag never drifts between them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from cli.context import Context, current_user

MAX_LIMIT = 10_000
F = TypeVar("F", bound=Callable[..., Any])


def list_options(
    default_limit: int = MAX_LIMIT,
    *,
    short_offset: bool = False,
    short_sort: bool = False,
    sort: bool = True,
) -> Callable[[F], F]:
    """The list flags: ``-l/--limit``, ``--offset`` (also ``-o`` with ``short_offset`` or
    ``short_sort``), and unless ``sort`` is false ``--sort-by`` and ``--reverse-sort`` (also
    ``-s`` and ``-r`` with ``short_sort``, as the seed gives some lists). ``list_params``
    reads them back."""

    def flags(long: str, short: str, with_short: bool) -> tuple[str, ...]:
        return (short, long) if with_short else (long,)

    decorators = [
        click.option(
            "-l",
            "--limit",
            type=click.IntRange(1),
            default=default_limit,
            show_default=True,
            help="Maximum number of records to return.",
        ),
        click.option(
            *flags("--offset", "-o", short_offset or short_sort),
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help="Number of records to skip.",
        ),
    ]
    if sort:
        decorators += [
            click.option(*flags("--sort-by", "-s", short_sort), help="Field to sort by."),
            click.option(
                *flags("--reverse-sort", "-r", short_sort),
                is_flag=True,
                help="Sort in descending order.",
            ),
        ]

    def decorate(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


# Lists the seed gives a short form of every flag (compute nodes, events).
short_list_options = list_options(short_sort=True)
# Lists the server does not sort (relationships, failure handlers).
page_options = list_options(sort=False)


def output_dir_option(**settings: Any) -> Callable[[F], F]:
    """``-o/--output-dir``: by default the directory the jobs ran with (their logs are there);
    a command that means another directory passes its own ``default``, ``type`` and ``help``."""
    options: dict[str, Any] = {
        "default": "output",
        "show_default": True,
        "help": "Output directory the jobs ran with (where their logs are).",
    }
    options.update(settings)
    return click.option("-o", "--output-dir", **options)


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
