"""``torc run`` (spec or ID, with an embedded server by default) and ``torc workflows run``."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import click

from cli.commands.workflow_args import optional_id, pick_workflow
from cli.commands.workflows import create_from_spec, is_spec_path, workflow_id_arg
from cli.context import Context, pass_context
from cli.embedded import EmbeddedServer
from cli.workflow_manager import record_input_mtimes
from runner.resources import detect

DEFAULT_DATABASE = "torc.db"


def runner_options(function):
    """The resource and polling flags ``torc run`` and ``torc workflows run`` share."""
    decorators = [
        click.option(
            "--max-parallel-jobs",
            type=int,
            help="Run at most N jobs at once, ignoring resource requirements.",
        ),
        click.option("--num-cpus", type=int, help="CPUs available (default: all)."),
        click.option("--memory-gb", type=float, help="Memory available in GiB (default: all)."),
        click.option("--num-gpus", type=int, help="GPUs available (default: detected)."),
        click.option(
            "-p",
            "--poll-interval",
            type=float,
            help="Longest wait between checks for new jobs, in seconds.  [default: 5]",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@click.command("run")
@click.argument("spec_or_id")
@runner_options
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Directory for job logs and results.  [default: output]",
)
@click.option("--skip-checks", is_flag=True, help="Skip scheduler node validation checks.")
@click.option(
    "--database",
    type=click.Path(dir_okay=False),
    help="Database of the embedded server (used when no server URL is configured).  "
    "[default: ./torc.db]",
)
@pass_context
def run(
    ctx: Context,
    spec_or_id: str,
    output_dir: str | None,
    skip_checks: bool,
    database: str | None,
    **resources,
) -> None:
    """Run a workflow locally: create it from a spec file (or take an existing ID),
    initialize it and run its jobs on this machine until it finishes."""
    output = Path(output_dir or ctx.settings["run.output_dir"])
    with server_session(ctx, database, output):
        if is_spec_path(spec_or_id):
            workflow_id = create_from_spec(
                ctx, spec_or_id, skip_checks=skip_checks, initialize=True
            )
            click.echo(f"Created workflow {workflow_id} from {spec_or_id}", err=True)
        else:
            workflow_id = workflow_id_arg(spec_or_id)
            _initialize_if_new(ctx, workflow_id)
        exit_code = run_workflow(ctx, workflow_id, output, **resources)
    raise SystemExit(exit_code)


@contextlib.contextmanager
def server_session(ctx: Context, database: str | None, output: Path) -> Iterator[None]:
    """The configured server, or an embedded one on a free loopback port."""
    if ctx.url_configured:
        ctx.client.ping()
        yield
        return
    db_path = Path(database or DEFAULT_DATABASE).resolve()
    with EmbeddedServer(db_path, output / "torc_server.log") as server:
        click.echo(
            f"Started an embedded torc server at {server.url} (database {db_path})", err=True
        )
        from cli.client import TorcClient

        ctx.use_client(TorcClient(server.url))
        yield


def _initialize_if_new(ctx: Context, workflow_id: int) -> None:
    """A workflow whose jobs are all uninitialized (or disabled) is initialized first."""
    client = ctx.client
    if not client.get(f"/workflows/{workflow_id}/is_uninitialized")["is_uninitialized"]:
        return
    status = client.workflow_status(workflow_id)
    if status["run_id"] > 0:
        client.update_workflow_status(
            workflow_id, {**status, "run_id": status["run_id"] + 1, "is_canceled": False}
        )
    record_input_mtimes(client, workflow_id)  # the baseline for reinitialize's change checks
    client.initialize_jobs(workflow_id)


def run_workflow(
    ctx: Context,
    workflow_id: int,
    output: Path,
    *,
    max_parallel_jobs=None,
    num_cpus=None,
    memory_gb=None,
    num_gpus=None,
    poll_interval=None,
) -> int:
    """Run the workflow's jobs here; return the process exit code (0: every job completed)."""
    from runner.progress import RunProgress
    from runner.runner import JobRunner, RunnerOptions

    settings = ctx.settings
    options = RunnerOptions(
        workflow_id=workflow_id,
        output_dir=output,
        poll_interval=poll_interval or settings["run.poll_interval"],
        max_parallel_jobs=max_parallel_jobs or settings["run.max_parallel_jobs"],
        resources=detect(
            num_cpus if num_cpus is not None else settings["run.num_cpus"],
            memory_gb if memory_gb is not None else settings["run.memory_gb"],
            num_gpus if num_gpus is not None else settings["run.num_gpus"],
        ),
    )
    total = ctx.client.get(f"/workflows/{workflow_id}/job_ids")["count"]
    progress = RunProgress(total)
    started = time.monotonic()
    try:
        summary = JobRunner(ctx.client, options, progress).run()
    finally:
        progress.close()
    counts = ctx.client.job_status_counts(workflow_id)
    statuses = Counter({status: count for status, count in counts.items() if count})
    _report(workflow_id, statuses, time.monotonic() - started, options.output_dir)
    if summary.stopped_by_signal is not None:
        return 128 + summary.stopped_by_signal
    return 0 if statuses and set(statuses) == {"completed"} or not statuses else 1


def _report(workflow_id: int, statuses: Counter, seconds: float, output: Path) -> None:
    finished = sum(statuses.values())
    parts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    rate = finished / seconds if seconds > 0 else 0.0
    click.echo(
        f"Workflow {workflow_id}: {parts or 'no jobs'} in {seconds:.1f}s "
        f"({rate:.1f} jobs/s). Output: {output}",
        err=True,
    )


@click.command("run")
@optional_id()
@runner_options
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Directory for job logs and results.  [default: output]",
)
@pass_context
def workflows_run(
    ctx: Context, workflow_id: int | None, output_dir: str | None, **resources
) -> None:
    """Run an existing workflow's jobs on this machine (picked on a terminal if no ID)."""
    ctx.client.ping()
    workflow_id = pick_workflow(ctx, workflow_id)
    output = Path(output_dir or ctx.settings["run.output_dir"])
    _initialize_if_new(ctx, workflow_id)
    raise SystemExit(run_workflow(ctx, workflow_id, output, **resources))
