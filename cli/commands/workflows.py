"""``torc workflows``: create from specs, and manage workflows."""

from __future__ import annotations

from pathlib import Path

import click

from cli import execution_plan
from cli.context import Context, current_user, pass_context

SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".json5", ".kdl")


@click.group("workflows")
def group() -> None:
    """Workflow management commands."""


def is_spec_path(text: str) -> bool:
    return text.lower().endswith(SPEC_SUFFIXES) or Path(text).is_file()


def workflow_id_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise click.ClickException(
            f"{text!r} is neither a workflow ID nor a specification file "
            f"({', '.join(SPEC_SUFFIXES)})"
        ) from None


@group.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-u", "--user", help="Owner of the workflow (default: the spec's user, else $USER).")
@click.option(
    "--no-resource-monitoring",
    is_flag=True,
    help="Disable resource monitoring (default: on, summary, 5 s samples).",
)
@click.option(
    "--skip-checks",
    is_flag=True,
    help="Skip the scheduler node requirement checks (errors otherwise).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and show what would be created (job count after expansion).",
)
@pass_context
def create(
    ctx: Context,
    file: str,
    user: str | None,
    no_resource_monitoring: bool,
    skip_checks: bool,
    dry_run: bool,
) -> None:
    """Create a workflow from a specification file (YAML, JSON, JSON5 or KDL)."""
    workflow_id = create_from_spec(
        ctx,
        file,
        user=user,
        monitoring=not no_resource_monitoring,
        skip_checks=skip_checks,
        dry_run=dry_run,
    )
    if workflow_id is None:
        return
    ctx.emit(
        {
            "workflow_id": workflow_id,
            "status": "success",
            "message": f"Workflow created successfully with ID: {workflow_id}",
        },
        text=f"Created workflow {workflow_id}",
    )


def create_from_spec(
    ctx: Context,
    file: str,
    *,
    user: str | None = None,
    monitoring: bool = True,
    skip_checks: bool = False,
    dry_run: bool = False,
    initialize: bool = False,
) -> int | None:
    """Validate, expand and send a spec; return the new workflow's ID (None for a dry run).

    The spec is checked in full before anything is sent, and the server creates the whole
    workflow in one transaction: on any error nothing exists afterwards.
    """
    from cli.spec import compile_spec, format_validation, load_spec, validate_spec

    if not Path(file).exists():
        raise click.ClickException(f"{file}: no such file")
    loaded = load_spec(file)
    if dry_run:
        result = validate_spec(
            loaded, user=user, resource_monitoring=monitoring, skip_checks=skip_checks
        )
        ctx.emit(result, text=format_validation(result))
        if not result["valid"]:
            raise SystemExit(1)
        return None
    compiled = compile_spec(
        loaded, user=user, resource_monitoring=monitoring, skip_checks=skip_checks
    )
    for warning in compiled.warnings:
        click.echo(f"Warning: {warning}", err=True)
    created = ctx.client.create_workflow_from_spec(compiled.payload, initialize=initialize)
    return created["workflow_id"]


@group.command("new")
@click.option("-n", "--name", required=True, help="Name of the workflow.")
@click.option("-d", "--description", help="Description of the workflow.")
@click.option("-u", "--user", help="Owner (default: $USER).")
@pass_context
def new(ctx: Context, name: str, description: str | None, user: str | None) -> None:
    """Create an empty workflow."""
    body = {"name": name, "user": user or current_user()}
    if description:
        body["description"] = description
    workflow = ctx.client.create_workflow(body)
    ctx.emit(workflow, text=f"Created workflow {workflow['id']}")


@group.command("execution-plan")
@click.argument("spec_or_id")
@pass_context
def execution_plan_command(ctx: Context, spec_or_id: str) -> None:
    """Show the execution stages of a specification file or an existing workflow."""
    if is_spec_path(spec_or_id):
        from cli.spec import build_payload

        payload = build_payload(spec_or_id)
    else:
        payload = execution_plan.from_workflow(ctx.client, workflow_id_arg(spec_or_id))
    result = execution_plan.plan(payload)
    ctx.emit(result, text=execution_plan.render(result))
