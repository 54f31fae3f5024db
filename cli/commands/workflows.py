"""``torc workflows``: create from specs, and manage workflows."""

from __future__ import annotations

from pathlib import Path

import click

from app.shared.status import status_title
from cli import execution_plan, workflow_manager
from cli.commands import workflow_restart, workflow_transfer
from cli.commands.workflow_args import confirm, optional_id, pick_workflow, user_option
from cli.context import Context, current_user, pass_context
from cli.options import list_options, list_params

SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".json5", ".kdl")
LIST_COLUMNS = [
    ("ID", "id"),
    ("Name", "name"),
    ("User", "user"),
    ("Description", "description"),
    ("Timestamp", "timestamp"),
]
ACTION_COLUMNS = [
    ("ID", "id"),
    ("Trigger", "trigger_type"),
    ("Action", "action_type"),
    ("Jobs", "jobs"),
    ("Executed", "executed"),
    ("Persistent", "persistent"),
    ("Triggers", "triggers"),
]


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
            "id": workflow_id,  # the seed's tutorials read `jq -r '.id'`
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
    from cli.spec import format_validation, validate_spec

    if dry_run:  # every problem, even an unreadable file, is part of the validation result
        result = validate_spec(
            file,
            user=user,
            resource_monitoring=monitoring,
            skip_checks=skip_checks,
            max_jobs=ctx.settings["max_jobs"],
        )
        ctx.emit(result, text=format_validation(result))
        if not result["valid"]:
            raise SystemExit(1)
        return None
    if not Path(file).exists():
        raise click.ClickException(f"{file}: no such file")
    created = workflow_manager.create_from_spec_file(
        ctx.client,
        file,
        user=user,
        monitoring=monitoring,
        skip_checks=skip_checks,
        default_user=current_user(),
        initialize=initialize,
        max_jobs=ctx.settings["max_jobs"],
    )
    for warning in created.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return created.workflow_id


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

        payload = build_payload(spec_or_id, max_jobs=ctx.settings["max_jobs"])
    else:
        payload = execution_plan.from_workflow(ctx.client, workflow_id_arg(spec_or_id))
    result = execution_plan.plan(payload)
    ctx.emit(result, text=execution_plan.render(result))


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@group.command("list")
@click.option("-u", "--user", help="User whose workflows to list (default: $USER).")
@click.option("--all-users", is_flag=True, help="List every user's workflows (overrides --user).")
@list_options()
@click.option("--archived-only", is_flag=True, help="Show only archived workflows.")
@click.option("--include-archived", is_flag=True, help="Show archived workflows too.")
@pass_context
def list_workflows(
    ctx: Context,
    user: str | None,
    all_users: bool,
    archived_only: bool,
    include_archived: bool,
    **options,
) -> None:
    """List workflows (by default the user's workflows that are not archived)."""
    if archived_only and include_archived:
        raise click.UsageError("--archived-only and --include-archived exclude each other")
    params = list_params(options)
    owner = None if all_users else user or current_user()
    archived = None if include_archived else archived_only
    workflows = list(ctx.client.list_workflows(user=owner, is_archived=archived, **params))
    if owner is not None:
        _hint_at_other_users(ctx, owner, archived)
    # "items" holds the same list for scripts written against the seed's examples
    # (`torc workflows list -f json | jq '.items[].id'`); "workflows" is the named key the
    # other list commands use.
    ctx.emit({"workflows": workflows, "items": workflows}, rows=workflows, columns=LIST_COLUMNS)


def _hint_at_other_users(ctx: Context, owner: str, archived: bool | None) -> None:
    """Say on stderr how many workflows of other users the filter hides (a spec's ``user:``
    makes a workflow someone else's)."""
    others = ctx.client.count_workflows(is_archived=archived) - ctx.client.count_workflows(
        user=owner, is_archived=archived
    )
    if others > 0:
        click.echo(
            f"Note: {others} workflow(s) of other users not shown (only {owner}'s are); "
            "use --all-users, or -u USER",
            err=True,
        )


@group.command("get")
@optional_id(metavar="[ID]")
@user_option
@pass_context
def get(ctx: Context, workflow_id: int | None, user: str | None) -> None:
    """Show one workflow."""
    ctx.emit(ctx.client.get_workflow(pick_workflow(ctx, workflow_id, user)))


@group.command("update")
@optional_id(metavar="[ID]")
@click.option("-n", "--name", help="New name.")
@click.option("-d", "--description", help="New description.")
@click.option("--owner-user", help="New owner.")
@pass_context
def update(ctx: Context, workflow_id, name, description, owner_user) -> None:
    """Change a workflow's name, description or owner."""
    changes = {"name": name, "description": description, "user": owner_user}
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        raise click.UsageError(
            "nothing to change: give -n/--name, -d/--description or --owner-user"
        )
    workflow_id = pick_workflow(ctx, workflow_id)
    workflow = ctx.client.get_workflow(workflow_id)
    updated = ctx.client.update_workflow(workflow_id, {**workflow, **changes})
    ctx.emit(updated, text=f"Updated workflow {workflow_id}")


@group.command("cancel")
@optional_id()
@pass_context
def cancel(ctx: Context, workflow_id: int | None) -> None:
    """Cancel a workflow (its pending and running jobs) and its Slurm allocations."""
    workflow_id = pick_workflow(ctx, workflow_id)
    answer = ctx.client.cancel_workflow(workflow_id)
    allocations = cancel_slurm_allocations(ctx, workflow_id)
    ctx.emit(
        {"workflow_id": workflow_id, **answer, "canceled_slurm_jobs": allocations},
        text=f"Successfully canceled workflow {workflow_id}",
    )


def cancel_slurm_allocations(ctx: Context, workflow_id: int) -> list[int]:
    """``scancel`` the workflow's pending or active Slurm allocations (where Slurm exists)."""
    from app.shared.slurm import SlurmError, scancel
    from cli.slurm.sync import open_allocations

    allocations = [node["scheduler_id"] for node in open_allocations(ctx.client, workflow_id)]
    if not allocations:
        return []
    try:
        scancel(allocations)
    except SlurmError as exc:
        click.echo(f"Warning: Slurm allocations left running: {exc}", err=True)
        return []
    return allocations


@group.command("delete")
@click.argument("workflow_ids", type=int, nargs=-1, metavar="[IDS]...")
@click.option("--no-prompts", is_flag=True, help="Skip the confirmation prompt.")
@click.option("--force", is_flag=True, help="Delete even if another user owns the workflow.")
@pass_context
def delete(ctx: Context, workflow_ids: tuple[int, ...], no_prompts: bool, force: bool) -> None:
    """Delete workflows and everything in them."""
    ids = list(workflow_ids) or [pick_workflow(ctx, None)]
    workflows = [ctx.client.get_workflow(workflow_id) for workflow_id in ids]
    others = [w for w in workflows if w["user"] != current_user()]
    if others and not force:
        owned = ", ".join(f"{w['id']} ({w['user']})" for w in others)
        raise click.ClickException(
            f"workflow(s) {owned} belong to another user; use --force to delete them"
        )
    names = ", ".join(f"{w['id']} ({w['name']})" for w in workflows)
    confirm(f"Delete workflow(s) {names} and all their data?", no_prompts, required=True)
    deleted = [ctx.client.delete_workflow(w["id"]) for w in workflows]
    lines = [f"Successfully deleted workflow {w['id']}" for w in deleted]
    ctx.emit({"workflows": deleted}, text="\n".join(lines))


@group.command("archive")
@click.argument("is_archived", type=click.BOOL)
@click.argument("workflow_ids", type=int, nargs=-1)
@pass_context
def archive(ctx: Context, is_archived: bool, workflow_ids: tuple[int, ...]) -> None:
    """Archive (true) or unarchive (false) workflows."""
    ids = list(workflow_ids) or [pick_workflow(ctx, None, archived=not is_archived)]
    statuses = {workflow_id: ctx.client.workflow_status(workflow_id) for workflow_id in ids}
    updated = [
        ctx.client.update_workflow_status(workflow_id, {**status, "is_archived": is_archived})
        for workflow_id, status in statuses.items()
    ]
    verb = "archived" if is_archived else "unarchived"
    lines = [f"Successfully {verb} workflow {workflow_id}" for workflow_id in ids]
    ctx.emit({"workflows": updated}, text="\n".join(lines))


# --------------------------------------------------------------------------------------------
# Run state
# --------------------------------------------------------------------------------------------


@group.command("status")
@optional_id()
@user_option
@pass_context
def status(ctx: Context, workflow_id: int | None, user: str | None) -> None:
    """Show a workflow's run state and how many jobs are in each status."""
    workflow_id = pick_workflow(ctx, workflow_id, user)
    state = ctx.client.workflow_status(workflow_id)
    counts = workflow_manager.job_counts(ctx.client, workflow_id)
    data = {**state, "total_jobs": sum(counts.values()), "job_counts": counts}
    lines = [
        f"Workflow {workflow_id} status:",
        f"  Run ID: {state['run_id']}",
        f"  Is Canceled: {str(state['is_canceled']).lower()}",
        f"  Is Archived: {str(state['is_archived']).lower()}",
        f"  Jobs: {data['total_jobs']}",
        *(f"    {status_title(name)}: {count}" for name, count in counts.items()),
    ]
    ctx.emit(data, text="\n".join(lines))


@group.command("is-complete")
@optional_id(metavar="[ID]")
@pass_context
def is_complete(ctx: Context, workflow_id: int | None) -> None:
    """Check whether a workflow is complete."""
    workflow_id = pick_workflow(ctx, workflow_id)
    answer = ctx.client.is_complete(workflow_id)
    lines = [
        f"Workflow {workflow_id} completion status:",
        f"  Is Complete: {str(answer['is_complete']).lower()}",
        f"  Is Canceled: {str(answer['is_canceled']).lower()}",
        "  Needs Completion Script: "
        f"{str(answer.get('needs_to_run_completion_script', False)).lower()}",
    ]
    ctx.emit(answer, text="\n".join(lines))


@group.command("list-actions")
@optional_id()
@user_option
@pass_context
def list_actions(ctx: Context, workflow_id: int | None, user: str | None) -> None:
    """List a workflow's actions and whether they have run (to debug triggers)."""
    actions = ctx.client.list_actions(pick_workflow(ctx, workflow_id, user))
    rows = [
        {
            **action,
            "jobs": _id_summary(action.get("job_ids") or []),
            "triggers": f"{action['trigger_count']}/{action['required_triggers']}",
        }
        for action in actions
    ]
    ctx.emit({"actions": actions}, rows=rows, columns=ACTION_COLUMNS)


def _id_summary(ids: list[int], shown: int = 5) -> str:
    text = ",".join(str(i) for i in ids[:shown])
    return f"{text} (+{len(ids) - shown} more)" if len(ids) > shown else text


for name, command in {**workflow_restart.COMMANDS, **workflow_transfer.COMMANDS}.items():
    group.add_command(command, name)
