"""Running workflows on Slurm: ``torc submit``, ``torc submit-slurm`` and ``torc workflows
submit | create-slurm | sync-status``.

Submitting initializes the workflow (when none of its jobs has started yet) and submits the
allocations its ``on_workflow_start`` schedule_nodes actions ask for, from this host, with
this shell's environment. Later allocations (``on_jobs_ready`` ...) are submitted by the job
runners inside the allocations, as their jobs become due.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import workflow_manager
from cli.commands.workflow_args import optional_id, pick_workflow
from cli.context import Context, pass_context

NO_START_ACTION = (
    "Workflow {id} has no on_workflow_start action with schedule_nodes, so there is nothing to "
    "submit. For Slurm workflows without pre-configured schedulers, use submit-slurm instead "
    "(or run it here with `torc run {id}`)."
)


def output_dir(ctx: Context) -> Path:
    return Path(ctx.settings.get("run.output_dir") or "output")


def submit_workflow(ctx: Context, workflow_id: int, force: bool) -> list[Any]:
    """Initialize if no job has started yet, then submit the due on_workflow_start
    allocations; the allocations submitted."""
    from cli.slurm.submit import SubmitOptions, run_due_schedule_actions

    client = ctx.client
    starts = [
        action
        for action in client.list_actions(workflow_id)
        if action["trigger_type"] == "on_workflow_start"
        and action["action_type"] == "schedule_nodes"
    ]
    if not starts:
        raise click.ClickException(NO_START_ACTION.format(id=workflow_id))
    if client.is_uninitialized(workflow_id):
        report = workflow_manager.plan_initialize(client, workflow_id, force)
        workflow_manager.apply_initialize(client, report)
    options = SubmitOptions(output_dir=output_dir(ctx))
    return run_due_schedule_actions(client, workflow_id, options)


def _submitted_text(workflow_id: int, allocations: list[Any]) -> str:
    if not allocations:
        return (
            f"Workflow {workflow_id}: no allocations were due (its on_workflow_start actions "
            "have run already)"
        )
    ids = ", ".join(str(a.slurm_job_id) for a in allocations)
    return f"Submitted to Slurm with {len(allocations)} allocations (Slurm job(s) {ids})"


def _emit_submitted(ctx: Context, workflow_id: int, allocations: list[Any], **extra: Any) -> None:
    ctx.emit(
        {
            "workflow_id": workflow_id,
            **extra,
            "allocations": [vars(allocation) for allocation in allocations],
        },
        text=_submitted_text(workflow_id, allocations),
    )


@click.command("submit")
@click.argument("workflow_spec_or_id")
@click.option(
    "-i", "--ignore-missing-data", is_flag=True, help="Ignore missing data (defaults to false)."
)
@click.option(
    "--skip-checks",
    is_flag=True,
    help="Skip validation checks (e.g., scheduler node requirements). Use with caution.",
)
@pass_context
def submit_command(
    ctx: Context, workflow_spec_or_id: str, ignore_missing_data: bool, skip_checks: bool
) -> None:
    """Submit a workflow to its scheduler (create it from a spec file, or an existing ID).

    Requires an on_workflow_start action with schedule_nodes. For Slurm workflows without
    pre-configured schedulers, use submit-slurm instead.
    """
    from cli.commands.workflows import create_from_spec, is_spec_path, workflow_id_arg

    created = {}
    if is_spec_path(workflow_spec_or_id):
        workflow_id = create_from_spec(ctx, workflow_spec_or_id, skip_checks=skip_checks)
        assert workflow_id is not None
        jobs = ctx.client.job_status_counts(workflow_id)
        click.echo(f"Created workflow {workflow_id} with {sum(jobs.values())} jobs", err=True)
        created = {"created": True}
    else:
        workflow_id = workflow_id_arg(workflow_spec_or_id)
    allocations = submit_workflow(ctx, workflow_id, ignore_missing_data)
    _emit_submitted(ctx, workflow_id, allocations, **created)


def generated_spec(
    ctx: Context,
    spec: str,
    account: str | None,
    hpc_profile: str | None,
    single_allocation: bool,
):
    from app.shared.scheduler_plan import PlanOptions
    from cli.commands.slurm import resolve_profile_and_account
    from cli.slurm.generate import generate_spec
    from cli.spec import load_spec

    if not Path(spec).exists():
        raise click.ClickException(f"{spec}: no such file")
    profile, account = resolve_profile_and_account(hpc_profile, account)
    options = PlanOptions(account=account, single_allocation=single_allocation)
    generated = generate_spec(load_spec(spec), profile, options)
    for warning in generated.plan.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return generated


def create_generated(
    ctx: Context,
    generated,
    user: str | None = None,
    monitoring: bool = True,
    skip_checks: bool = False,
) -> int:
    from cli.spec import compile_spec

    compiled = compile_spec(
        generated.loaded(), user=user, resource_monitoring=monitoring, skip_checks=skip_checks
    )
    workflow_manager.baseline_payload_mtimes(compiled.payload)
    for warning in compiled.warnings:
        click.echo(f"Warning: {warning}", err=True)
    with compiled.request_body() as body:
        return ctx.client.create_workflow_from_spec(body)["workflow_id"]


def hpc_options(function):
    """--account, --hpc-profile, --single-allocation (submit-slurm, workflows create-slurm)."""
    decorators = [
        click.option(
            "--account", help="Slurm account to use for allocations (default: the profile's)."
        ),
        click.option("--hpc-profile", help="HPC profile to use (auto-detected if not specified)."),
        click.option(
            "--single-allocation",
            is_flag=True,
            help="Bundle all nodes into a single Slurm allocation per scheduler (1xN); by "
            "default one allocation per node (Nx1), so jobs start as nodes become available.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@click.command("submit-slurm")
@click.argument("workflow_spec")
@hpc_options
@click.option(
    "-i", "--ignore-missing-data", is_flag=True, help="Ignore missing data (defaults to false)."
)
@click.option(
    "--skip-checks",
    is_flag=True,
    help="Skip validation checks (e.g., scheduler node requirements). Use with caution.",
)
@pass_context
def submit_slurm_command(
    ctx: Context,
    workflow_spec: str,
    account: str | None,
    hpc_profile: str | None,
    single_allocation: bool,
    ignore_missing_data: bool,
    skip_checks: bool,
) -> None:
    """Submit a workflow to Slurm with auto-generated schedulers.

    Schedulers and the actions that stage the allocations are generated from the jobs'
    resource requirements and the HPC profile (a heuristic: preview it with `torc slurm
    generate --account ...` and submit the reviewed spec with `torc submit`).
    """
    generated = generated_spec(ctx, workflow_spec, account, hpc_profile, single_allocation)
    workflow_id = create_generated(ctx, generated, skip_checks=skip_checks)
    jobs = ctx.client.job_status_counts(workflow_id)
    click.echo(f"Created workflow {workflow_id} with {sum(jobs.values())} jobs", err=True)
    allocations = submit_workflow(ctx, workflow_id, ignore_missing_data)
    _emit_submitted(
        ctx,
        workflow_id,
        allocations,
        created=True,
        profile=generated.profile.name,
        schedulers=[s.name for s in generated.plan.schedulers],
    )


@click.command("submit")
@optional_id()
@click.option(
    "--force",
    is_flag=True,
    help="Submit although required input files or user data are missing (if false, fail "
    "the operation if missing data is present).",
)
@pass_context
def workflows_submit(ctx: Context, workflow_id: int | None, force: bool) -> None:
    """Submit a workflow: initialize it if needed and request its on_workflow_start
    allocations (requires an on_workflow_start action with schedule_nodes)."""
    workflow_id = pick_workflow(ctx, workflow_id)
    allocations = submit_workflow(ctx, workflow_id, force)
    _emit_submitted(ctx, workflow_id, allocations)


@click.command("create-slurm")
@click.argument("file", type=click.Path(dir_okay=False))
@hpc_options
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
@click.option("--dry-run", is_flag=True, help="Show the generated schedulers; create nothing.")
@pass_context
def workflows_create_slurm(
    ctx: Context,
    file: str,
    account: str | None,
    hpc_profile: str | None,
    single_allocation: bool,
    user: str | None,
    no_resource_monitoring: bool,
    skip_checks: bool,
    dry_run: bool,
) -> None:
    """Create a workflow with auto-generated Slurm schedulers (without submitting it)."""
    from cli.commands.slurm import _plan_text

    generated = generated_spec(ctx, file, account, hpc_profile, single_allocation)
    if dry_run:
        summary = generated.summary()
        ctx.emit(summary, text=_plan_text(summary))
        return
    workflow_id = create_generated(
        ctx, generated, user=user, monitoring=not no_resource_monitoring, skip_checks=skip_checks
    )
    ctx.emit(
        {
            "workflow_id": workflow_id,
            "id": workflow_id,
            "profile": generated.profile.name,
            "schedulers": [s.name for s in generated.plan.schedulers],
            "status": "success",
        },
        text=f"Created workflow {workflow_id} with {len(generated.plan.schedulers)} Slurm "
        f"scheduler(s) (profile {generated.profile.name}); submit it with "
        f"`torc workflows submit {workflow_id}`",
    )


@click.command("sync-status")
@optional_id()
@click.option("--dry-run", is_flag=True, help="Show what would be cleaned up; change nothing.")
@pass_context
def workflows_sync_status(ctx: Context, workflow_id: int | None, dry_run: bool) -> None:
    """Detect jobs stuck "running" whose Slurm allocation has ended, and mark them failed."""
    from cli.slurm.sync import sync_status

    workflow_id = pick_workflow(ctx, workflow_id)
    if ctx.format != "json":
        click.echo(f"Synchronizing job statuses for workflow {workflow_id}...")
    report = sync_status(ctx.client, workflow_id, dry_run)
    ctx.emit(report, text=sync_text(workflow_id, report))


def sync_text(workflow_id: int, report: dict[str, Any]) -> str:
    """The seed's report: what was cleaned up, each affected job, the total."""
    failed = report["failed_jobs"]
    terminated = report["terminated_allocations"]
    vanished = report["vanished_pending_allocations"]
    if not (failed or terminated or vanished or report["requeued_jobs"]):
        return "No orphaned jobs or ended allocations found."
    dry = report["dry_run"]
    from_slurm = [job for job in failed if job["slurm_job_id"] is not None]
    lines = ["Would clean up (dry run, nothing changed):" if dry else "Cleaned up orphaned jobs:"]
    lines.append(f"  - {len(from_slurm)} job(s) from terminated Slurm allocations")
    lines.append(f"  - {len(vanished)} pending allocation(s) that no longer exist in Slurm")
    if len(failed) > len(from_slurm):
        lines.append(f"  - {len(failed) - len(from_slurm)} running job(s) without an active runner")
    if report["requeued_jobs"]:
        lines.append(f"  - {len(report['requeued_jobs'])} claimed job(s) returned to ready")
    if failed:
        lines.append("Affected jobs:")
        lines += [f"  - Job {j['job_id']} ({j['name']}): {j['reason']}" for j in failed]
    marked = "would be marked" if dry else "marked"
    lines.append(f"Total: {len(failed)} job(s) {marked} as failed")
    if failed and not report["dry_run"]:
        lines.append(f"You can now run `torc recover {workflow_id}` to retry failed jobs.")
    return "\n".join(lines)


WORKFLOW_COMMANDS = (workflows_submit, workflows_create_slurm, workflows_sync_status)
