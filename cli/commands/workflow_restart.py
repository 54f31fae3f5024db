"""``torc workflows initialize | reinitialize | reset-status``: starting a run again.

The logic lives in cli.workflow_manager; these commands ask, call it and render the outcome.
"""

from __future__ import annotations

from collections import Counter

import click

from cli import workflow_manager
from cli.commands.workflow_args import confirm, optional_id, pick_workflow
from cli.context import Context, pass_context


@click.command("initialize")
@optional_id()
@click.option(
    "--force",
    is_flag=True,
    help="Go ahead although required input files or user data are missing or jobs run.",
)
@click.option("--no-prompts", is_flag=True, help="Skip the confirmation prompt.")
@click.option("--dry-run", is_flag=True, help="Show what would happen without changing anything.")
@pass_context
def initialize(
    ctx: Context, workflow_id: int | None, force: bool, no_prompts: bool, dry_run: bool
) -> None:
    """Start a workflow afresh: every job back to uninitialized, then ready or blocked."""
    workflow_id = pick_workflow(ctx, workflow_id)
    report = workflow_manager.plan_initialize(ctx.client, workflow_id, force)
    _warn_inputs(report.check)
    if dry_run:
        text = (
            f"Dry run: workflow {workflow_id} would be initialized as run {report.run_id}; "
            f"{report.jobs} jobs would be reset and re-evaluated"
        )
        ctx.emit(report.as_json(), text=text)
        return
    if report.finished_jobs and not force:
        confirm(
            f"Workflow {workflow_id} has {report.finished_jobs} finished job(s). "
            f"Reset every job and start run {report.run_id}?",
            no_prompts,
        )
    workflow_manager.apply_initialize(ctx.client, report)
    counts = report.counts
    text = (
        f"Initialized workflow {workflow_id} (run {report.run_id}): "
        f"{counts['ready']} ready, {counts['blocked']} blocked"
    )
    ctx.emit(report.as_json(), text=text)


def _warn_inputs(check: workflow_manager.InputCheck) -> None:
    notes = [
        ("missing required input files", check.missing_files),
        ("missing user data", check.missing_user_data),
        ("output files that exist and will be overwritten", check.existing_outputs),
    ]
    for label, items in notes:
        if items:
            click.echo(f"Warning: {label}: {', '.join(items)}", err=True)


@click.command("reinitialize")
@optional_id()
@click.option(
    "--force", is_flag=True, help="Go ahead although inputs are missing or jobs are running."
)
@click.option("--dry-run", is_flag=True, help="Show which jobs would rerun; change nothing.")
@pass_context
def reinitialize(ctx: Context, workflow_id: int | None, force: bool, dry_run: bool) -> None:
    """Rerun what changed: jobs whose inputs changed or outputs vanished, and their downstream."""
    workflow_id = pick_workflow(ctx, workflow_id)
    report = workflow_manager.reinitialize(ctx.client, workflow_id, force, dry_run)
    ctx.emit(report.as_json(), text=_reinitialize_text(report))


def _reinitialize_text(report: workflow_manager.ReinitializeReport) -> str:
    """What reruns and why: jobs whose inputs changed (and their downstream), and jobs that
    did not finish (canceled, terminated, pending_failed)."""
    count, unfinished = len(report.reset_jobs), report.unfinished_jobs
    lines = []
    if count or not unfinished:
        if report.dry_run:
            lines.append(f"Dry run: {count} jobs would be reset due to changed inputs")
        else:
            lines.append(f"Reset {count} jobs due to changed inputs")
        lines += [f"- {name}" for name in report.reset_jobs]
    if unfinished:
        by_status = Counter(unfinished.values())
        which = ", ".join(f"{number} {status}" for status, number in by_status.items())
        verb = "Would rerun" if report.dry_run else "Rerunning"
        lines.append(f"{verb} {len(unfinished)} jobs that did not finish ({which})")
        lines += [f"- {name} ({status})" for name, status in unfinished.items()]
    if not report.dry_run:
        lines.append(f"Reinitialized workflow {report.workflow_id} (run {report.run_id})")
    return "\n".join(lines)


@click.command("reset-status")
@optional_id()
@click.option(
    "--failed-only",
    "--failed",
    "failed_only",
    is_flag=True,
    help="Only failed, canceled, terminated and pending_failed jobs.",
)
@click.option(
    "-r", "--reinitialize", "then_reinitialize", is_flag=True, help="Reinitialize afterwards."
)
@click.option("--force", is_flag=True, help="Reset even while jobs are pending or running.")
@click.option("--no-prompts", is_flag=True, help="Skip the confirmation prompt.")
@pass_context
def reset_status(
    ctx: Context,
    workflow_id: int | None,
    failed_only: bool,
    then_reinitialize: bool,
    force: bool,
    no_prompts: bool,
) -> None:
    """Send jobs back to uninitialized (all, or the failed, canceled and terminated ones)."""
    workflow_id = pick_workflow(ctx, workflow_id)
    which = "failed, canceled and terminated" if failed_only else "all"
    confirm(f"Reset {which} jobs of workflow {workflow_id}?", no_prompts)
    answer = workflow_manager.reset_status(ctx.client, workflow_id, failed_only, force)
    lines = [f"Reset {answer['updated_count']} job(s) of workflow {workflow_id} to uninitialized"]
    if then_reinitialize:
        report = workflow_manager.reinitialize(ctx.client, workflow_id, force)
        answer["reinitialize"] = report.as_json()
        lines.append(_reinitialize_text(report))
    ctx.emit(answer, text="\n".join(lines))


COMMANDS = {
    "initialize": initialize,
    "initialize-jobs": initialize,
    "reinitialize": reinitialize,
    "reset-status": reset_status,
}
