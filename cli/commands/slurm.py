"""``torc slurm``: Slurm schedulers of a workflow, their allocations, and what Slurm says
about them (sacct, log files); generating schedulers for a spec or for the jobs still to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.shared.hpc import ProfileError
from app.shared.scheduler_plan import GROUP_BY, WALLTIME_STRATEGIES, PlanOptions
from cli.context import Context, pass_context
from cli.options import resolve_workflow_id, workflow_argument
from cli.output import emit, print_table

COLUMNS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Account", "account"),
    ("Nodes", "nodes"),
    ("Walltime", "walltime"),
    ("Partition", "partition"),
    ("Mem", "mem"),
    ("GRES", "gres"),
    ("QOS", "qos"),
    ("Extra", "extra"),
]
ALLOCATION_COLUMNS = [
    ("Scheduled compute node", "scheduled_compute_node_id"),
    ("Slurm job", "slurm_job_id"),
    ("Scheduler", "scheduler_id"),
]
LOG_COLUMNS = [
    ("File", "file"),
    ("Slurm Job ID", "slurm_job_id"),
    ("Line", "line"),
    ("Pattern", "pattern"),
    ("Severity", "severity"),
    ("Affected Torc Jobs", "affected"),
]
SACCT_COLUMNS = [
    ("Slurm Job", "slurm_job"),
    ("Job Step", "step"),
    ("State", "state"),
    ("Exit Code", "exit_code"),
    ("Elapsed", "elapsed"),
    ("Max RSS", "max_rss"),
    ("CPU Time", "cpu_time"),
    ("Nodes", "nodes"),
]
GRES_HELP = "Request nodes that have at least this number of GPUs. Ex: 'gpu:2'"
MEM_HELP = "Request nodes that have at least this amount of memory. Ex: '180G'"
TMP_HELP = "Request nodes that have at least this amount of storage scratch space."
EXTRA_HELP = "Add extra Slurm parameters, for example --extra='--reservation=my-reservation'"


@click.group("slurm")
def group() -> None:
    """Slurm scheduler commands."""


# --------------------------------------------------------------------------------------------
# Scheduler records
# --------------------------------------------------------------------------------------------


@group.command("create")
@workflow_argument
@click.option("-n", "--name", required=True, help="Name of config.")
@click.option("-a", "--account", required=True, help="HPC account.")
@click.option("-g", "--gres", help=GRES_HELP)
@click.option("-m", "--mem", help=MEM_HELP)
@click.option(
    "-N", "--nodes", type=click.IntRange(1), default=1, show_default=True, help="Number of nodes."
)
@click.option("-p", "--partition", help="HPC partition. Default is determined by the scheduler.")
@click.option("-q", "--qos", default="normal", show_default=True, help="Priority of the jobs.")
@click.option("-t", "--tmp", help=TMP_HELP)
@click.option("-W", "--walltime", default="04:00:00", show_default=True, help="Slurm job walltime.")
@click.option("-e", "--extra", help=EXTRA_HELP)
@pass_context
def create(ctx: Context, workflow_id: int | None, **fields: Any) -> None:
    """Add a Slurm config to the database."""
    _check_walltime(fields["walltime"], "-W/--walltime")
    body = {"workflow_id": resolve_workflow_id(ctx, workflow_id), **fields}
    record = ctx.client.create_slurm_scheduler(body)
    ctx.emit(record, text=f"Created Slurm scheduler {record['id']} ({record['name']})")


@group.command("update")
@click.argument("scheduler_id", type=int)
@click.option("-N", "--name", help="Name of config.")
@click.option("-a", "--account", help="HPC account.")
@click.option("-g", "--gres", help=GRES_HELP)
@click.option("-m", "--mem", help=MEM_HELP)
@click.option("-n", "--nodes", type=click.IntRange(1), help="Number of nodes.")
@click.option("-p", "--partition", help="HPC partition.")
@click.option("-q", "--qos", help="Priority of the jobs.")
@click.option("-t", "--tmp", help=TMP_HELP)
@click.option("--walltime", help="Slurm job walltime.")
@click.option("-e", "--extra", help="Add extra Slurm parameters.")
@pass_context
def update(ctx: Context, scheduler_id: int, **changes: Any) -> None:
    """Modify a Slurm config in the database."""
    if changes.get("walltime"):
        _check_walltime(changes["walltime"], "--walltime")
    record = ctx.client.get_slurm_scheduler(scheduler_id)
    record.update({key: value for key, value in changes.items() if value is not None})
    updated = ctx.client.update_slurm_scheduler(scheduler_id, record)
    ctx.emit(updated, text=f"Updated Slurm scheduler {scheduler_id}")


def _check_walltime(text: str, flag: str) -> None:
    from app.shared.slurm import walltime_seconds

    try:
        if walltime_seconds(text) is None:
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a Slurm time limit (HH:MM:SS or D-HH:MM:SS)", param_hint=flag
        ) from None


@group.command("list")
@workflow_argument
@click.option(
    "-l", "--limit", type=click.IntRange(1), default=10000, show_default=True,
    help="Maximum number of configs to return.",
)  # fmt: skip
@click.option(
    "--offset", type=click.IntRange(0), default=0, show_default=True,
    help="Offset for pagination (0-based).",
)  # fmt: skip
@pass_context
def list_schedulers(ctx: Context, workflow_id: int | None, limit: int, offset: int) -> None:
    """Show the current Slurm configs in the database."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    records = list(ctx.client.list_slurm_schedulers(workflow_id, limit=limit, offset=offset))
    ctx.emit({"slurm_schedulers": records}, rows=records, columns=COLUMNS)


@group.command("get")
@click.argument("record_id", type=int, metavar="ID")
@pass_context
def get(ctx: Context, record_id: int) -> None:
    """Get a specific Slurm config by ID."""
    ctx.emit(ctx.client.get_slurm_scheduler(record_id))


@group.command("delete")
@click.argument("record_id", type=int, metavar="ID")
@pass_context
def delete(ctx: Context, record_id: int) -> None:
    """Delete a Slurm config by ID."""
    deleted = ctx.client.delete_slurm_scheduler(record_id)
    ctx.emit(deleted, text=f"Deleted Slurm scheduler {record_id}")


# --------------------------------------------------------------------------------------------
# Allocations
# --------------------------------------------------------------------------------------------


@group.command("schedule-nodes")
@workflow_argument
@click.option(
    "-j", "--job-prefix", default="worker", show_default=True,
    help="Job prefix for the Slurm job names.",
)  # fmt: skip
@click.option(
    "--keep-submission-scripts", is_flag=True, help="Keep submission scripts after submission."
)
@click.option(
    "-m", "--max-parallel-jobs", type=click.IntRange(1), help="Maximum number of parallel jobs."
)
@click.option(
    "-n", "--num-hpc-jobs", type=click.IntRange(1), default=1, show_default=True,
    help="Number of HPC jobs (allocations) to submit.",
)  # fmt: skip
@click.option(
    "-o", "--output", type=click.Path(file_okay=False), default="output", show_default=True,
    help="Output directory for job output files.",
)  # fmt: skip
@click.option(
    "-p", "--poll-interval", type=click.FloatRange(min=0.1), default=60, show_default=True,
    help="Poll interval of the job runners, in seconds.",
)  # fmt: skip
@click.option(
    "--scheduler-config-id", type=int,
    help="Slurm scheduler to use (needed when the workflow has several).",
)  # fmt: skip
@click.option("--start-one-worker-per-node", is_flag=True, help="Start one worker per node.")
@pass_context
def schedule_nodes(
    ctx: Context,
    workflow_id: int | None,
    job_prefix: str,
    keep_submission_scripts: bool,
    max_parallel_jobs: int | None,
    num_hpc_jobs: int,
    output: str,
    poll_interval: float,
    scheduler_config_id: int | None,
    start_one_worker_per_node: bool,
) -> None:
    """Schedule compute nodes using Slurm: submit allocations of a Slurm scheduler."""
    from cli.slurm.submit import SubmitOptions, submit_allocations

    workflow_id = resolve_workflow_id(ctx, workflow_id)
    scheduler_id = _scheduler_for(ctx, workflow_id, scheduler_config_id)
    options = SubmitOptions(
        output_dir=Path(output),
        poll_interval=poll_interval,
        max_parallel_jobs=max_parallel_jobs,
        start_one_worker_per_node=start_one_worker_per_node,
        job_prefix=job_prefix,
        keep_submission_scripts=keep_submission_scripts,
    )
    allocations = submit_allocations(ctx.client, workflow_id, scheduler_id, num_hpc_jobs, options)
    rows = [vars(a) for a in allocations]
    ids = ", ".join(str(a.slurm_job_id) for a in allocations)
    ctx.emit(
        {"workflow_id": workflow_id, "allocations": rows},
        text=f"Submitted {len(allocations)} Slurm allocation(s) for workflow {workflow_id}: {ids}",
    )


def _scheduler_for(ctx: Context, workflow_id: int, scheduler_id: int | None) -> int:
    if scheduler_id is not None:
        return scheduler_id
    schedulers = list(ctx.client.list_slurm_schedulers(workflow_id))
    if len(schedulers) == 1:
        return schedulers[0]["id"]
    if not schedulers:
        raise click.ClickException(
            f"workflow {workflow_id} has no Slurm schedulers; create one with `torc slurm "
            "create` (or use `torc slurm regenerate`)"
        )
    listed = ", ".join(f"{s['id']} ({s['name']})" for s in schedulers)
    raise click.UsageError(
        f"workflow {workflow_id} has several Slurm schedulers ({listed}); choose one with "
        "--scheduler-config-id"
    )


# --------------------------------------------------------------------------------------------
# What Slurm says
# --------------------------------------------------------------------------------------------


@group.command("parse-logs")
@workflow_argument
@click.option(
    "-o", "--output-dir", type=click.Path(file_okay=False), default="output", show_default=True,
    help="Output directory containing Slurm log files.",
)  # fmt: skip
@click.option("--errors-only", is_flag=True, help="Only show errors (skip warnings).")
@pass_context
def parse_logs(ctx: Context, workflow_id: int | None, output_dir: str, errors_only: bool) -> None:
    """Parse Slurm log files for known error messages."""
    from cli.slurm.logs import parse_logs as scan

    workflow_id = resolve_workflow_id(ctx, workflow_id)
    directory = Path(output_dir)
    if not directory.is_dir():
        raise click.ClickException(f"Output directory does not exist: {output_dir}")
    errors = scan(ctx.client, workflow_id, directory, errors_only)
    if ctx.format == "json":
        emit(
            {
                "workflow_id": workflow_id,
                "output_dir": output_dir,
                "total_errors": len(errors),
                "errors": [error.as_json() for error in errors],
            },
            "json",
        )
        return
    click.echo("Slurm Log Analysis Results")
    click.echo("==========================")
    if not errors:
        click.echo(f"No known errors found in the Slurm logs of workflow {workflow_id}.")
        return
    click.echo(f"Found {len(errors)} error(s) in log files:")
    rows = [{**error.as_json(), "affected": error.affected_text()} for error in errors]
    print_table(rows, LOG_COLUMNS)


@group.command("sacct")
@workflow_argument
@click.option(
    "-o", "--output-dir", type=click.Path(file_okay=False), default="output", show_default=True,
    help="Output directory for sacct JSON files (only used with --save-json).",
)  # fmt: skip
@click.option(
    "--save-json", is_flag=True, help="Save sacct's full JSON output to sacct_<jobid>.json files."
)
@pass_context
def sacct(ctx: Context, workflow_id: int | None, output_dir: str, save_json: bool) -> None:
    """Call sacct for scheduled compute nodes and display summary."""
    from cli.slurm.accounting import collect, table_rows

    workflow_id = resolve_workflow_id(ctx, workflow_id)
    summary = collect(ctx.client, workflow_id, Path(output_dir) if save_json else None)
    for problem in summary.problems:
        click.echo(f"Warning: {problem}", err=True)
    if ctx.format == "json":
        emit(summary.as_json(), "json")
        return
    if not summary.steps and summary.problems:
        raise click.ClickException("sacct answered for none of the workflow's Slurm jobs")
    print_table(
        table_rows(summary),
        SACCT_COLUMNS,
        title=f"Slurm Accounting Summary for Workflow {workflow_id}",
    )
    click.echo(f"Total: {len(summary.steps)} job steps")
    for path in summary.saved:
        click.echo(f"Saved {path}")


# --------------------------------------------------------------------------------------------
# Generating schedulers
# --------------------------------------------------------------------------------------------


def plan_options(function):
    """--group-by, --walltime-strategy, --walltime-multiplier, --single-allocation, --dry-run."""
    decorators = [
        click.option(
            "--single-allocation",
            is_flag=True,
            help="Bundle all nodes into a single Slurm allocation per scheduler (1xN); by "
            "default each node is its own allocation (Nx1), so jobs start as nodes come.",
        ),
        click.option(
            "--group-by",
            type=click.Choice(GROUP_BY),
            default="resource-requirements",
            show_default=True,
            help="Group jobs into schedulers by resource requirements or by partition.",
        ),
        click.option(
            "--walltime-strategy",
            type=click.Choice(WALLTIME_STRATEGIES),
            default="max-job-runtime",
            show_default=True,
            help="max-job-runtime: longest runtime x multiplier (capped by the partition); "
            "max-partition-time: the partition's maximum.",
        ),
        click.option(
            "--walltime-multiplier",
            type=click.FloatRange(min=0.01),
            default=1.5,
            show_default=True,
            help="Multiplier for job runtime with --walltime-strategy=max-job-runtime.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def resolve_profile_and_account(profile_name: str | None, account: str | None):
    from cli.slurm.profiles import resolve_profile_or_cluster

    try:
        profile = resolve_profile_or_cluster(profile_name)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    account = account or profile.default_account
    if not account:
        raise click.UsageError(
            f"--account is required (profile {profile.name} has no default_account)"
        )
    return profile, account


@group.command("generate")
@click.argument("workflow_file", type=click.Path(dir_okay=False))
@click.option("--account", help="Slurm account to use (default: the profile's default_account).")
@click.option("--profile", help="HPC profile to use (if not specified, tries to detect).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False),
    help="Output file path (if not specified, prints to stdout).",
)  # fmt: skip
@plan_options
@click.option("--no-actions", is_flag=True, help="Don't add workflow actions for scheduling nodes.")
@click.option("--overwrite", is_flag=True, help="Overwrite existing schedulers in the workflow.")
@click.option("--dry-run", is_flag=True, help="Show what would be generated without writing it.")
@pass_context
def generate(
    ctx: Context,
    workflow_file: str,
    account: str | None,
    profile: str | None,
    output: str | None,
    single_allocation: bool,
    group_by: str,
    walltime_strategy: str,
    walltime_multiplier: float,
    no_actions: bool,
    overwrite: bool,
    dry_run: bool,
) -> None:
    """Generate Slurm schedulers for a workflow based on job resource requirements.

    The output is the whole spec with a scheduler on every job, the slurm_schedulers and the
    actions that request their allocations: review it, then `torc submit` it.
    """
    from cli.slurm.generate import dump_spec, generate_spec
    from cli.spec import load_spec

    chosen, account = resolve_profile_and_account(profile, account)
    options = PlanOptions(
        account=account,
        group_by=group_by,
        walltime_strategy=walltime_strategy,
        walltime_multiplier=walltime_multiplier,
        single_allocation=single_allocation,
        add_actions=not no_actions,
    )
    generated = generate_spec(load_spec(workflow_file), chosen, options, overwrite)
    for warning in generated.plan.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if dry_run:
        summary = generated.summary()
        ctx.emit(summary, text=_plan_text(summary))
        return
    if ctx.format == "json" and output is None:
        emit(generated.data, "json")
        return
    target = Path(output) if output else None
    text = dump_spec(generated.data, target, generated.source.format)
    if target is None:
        click.echo(text, nl=False)
        return
    target.write_text(text)
    click.echo(
        f"Wrote {target}: {len(generated.plan.schedulers)} scheduler(s), "
        f"{len(generated.plan.actions)} action(s) (profile {chosen.name})",
        err=True,
    )


def _plan_text(summary: dict[str, Any]) -> str:
    lines = [f"Profile: {summary['profile']}", "Slurm schedulers:"]
    for scheduler in summary["schedulers"]:
        details = ", ".join(
            f"{key} {scheduler[key]}"
            for key in ("partition", "nodes", "walltime", "mem", "gres", "extra")
            if scheduler.get(key)
        )
        lines.append(f"  {scheduler['name']}: {details}")
    lines.append("Actions:")
    for action in summary["actions"]:
        jobs = f" [{', '.join(action['jobs'])}]" if action.get("jobs") else ""
        lines.append(
            f"  {action['trigger_type']}{jobs}: {action['num_allocations']} allocation(s) of "
            f"{action['scheduler']}"
        )
    if not summary["actions"]:
        lines.append("  (none)")
    return "\n".join(lines)


@group.command("regenerate")
@click.argument("workflow_id", type=int)
@click.option("--account", help="Slurm account to use (defaults to existing schedulers').")
@click.option("--profile", help="HPC profile to use (if not specified, tries to detect).")
@click.option("--submit", is_flag=True, help="Submit the allocations that are due at once.")
@click.option(
    "-o", "--output-dir", type=click.Path(file_okay=False), default="output", show_default=True,
    help="Output directory for job output files (used when submitting).",
)  # fmt: skip
@click.option(
    "-p", "--poll-interval", type=click.FloatRange(min=0.1), default=60, show_default=True,
    help="Poll interval of the job runners (used when submitting).",
)  # fmt: skip
@plan_options
@click.option("--dry-run", is_flag=True, help="Show what would be created without changes.")
@click.option(
    "--include-job-ids",
    help="Comma-separated job IDs to plan whatever their status (e.g. failed ones, to preview "
    "a recovery).",
)
@pass_context
def regenerate(
    ctx: Context,
    workflow_id: int,
    account: str | None,
    profile: str | None,
    submit: bool,
    output_dir: str,
    poll_interval: float,
    single_allocation: bool,
    group_by: str,
    walltime_strategy: str,
    walltime_multiplier: float,
    dry_run: bool,
    include_job_ids: str | None,
) -> None:
    """Regenerate Slurm schedulers for an existing workflow based on pending jobs.

    Plans the jobs that are uninitialized, ready or blocked: new schedulers (named
    <rr>_regen_<time>), the jobs bound to them, and recovery actions that request their
    allocations; the existing schedule_nodes actions are retired. With --submit the
    allocations the jobs need now are submitted at once.
    """
    from cli.slurm.profiles import resolve_profile_or_cluster
    from cli.slurm.recovery import RegenerateOptions, regenerate_and_submit

    try:
        chosen = resolve_profile_or_cluster(profile)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    options = RegenerateOptions(
        profile=chosen,
        account=account,
        group_by=group_by,
        walltime_strategy=walltime_strategy,
        walltime_multiplier=walltime_multiplier,
        single_allocation=single_allocation,
        include_job_ids=_job_ids(include_job_ids),
        dry_run=dry_run,
        submit=submit,
        output_dir=Path(output_dir),
        poll_interval=poll_interval,
    )
    result = regenerate_and_submit(ctx.client, workflow_id, options)
    for warning in result.get("warnings") or []:
        click.echo(f"Warning: {warning}", err=True)
    ctx.emit(result, text=_regenerate_text(result))


def _job_ids(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of job IDs", param_hint="--include-job-ids"
        ) from None


def _regenerate_text(result: dict[str, Any]) -> str:
    if result.get("nothing"):
        return (
            f"Workflow {result['workflow_id']}: no uninitialized, ready or blocked jobs; "
            "nothing to do"
        )
    prefix = "[dry run] Would create" if result["dry_run"] else "Created"
    lines = [
        f"{prefix} {len(result['schedulers'])} Slurm scheduler(s) for "
        f"{result['jobs_planned']} job(s) (profile {result['profile']}):"
    ]
    summary = _plan_text(result).splitlines()[1:]
    lines += summary
    submitted = result.get("submitted") or []
    if submitted:
        ids = ", ".join(str(a["slurm_job_id"]) for a in submitted)
        lines.append(f"Submitted {len(submitted)} Slurm allocation(s): {ids}")
    return "\n".join(lines)
