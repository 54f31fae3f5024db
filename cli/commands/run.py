"""``torc run`` (spec or ID, with an embedded server by default) and ``torc workflows run``."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from app.shared.status import ORPHAN_RETURN_CODE
from cli.client import TorcClient, TorcClientError
from cli.commands.workflow_args import optional_id, pick_workflow
from cli.commands.workflows import create_from_spec, is_spec_path, workflow_id_arg
from cli.context import DEFAULT_DATABASE, Context, pass_context
from cli.options import output_dir_option
from cli.workflow_manager import check_inputs, record_mtimes
from runner.resources import detect

FINAL_COUNTS_TIMEOUT = 5.0  # after a signal the server may be gone: do not wait long


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


@click.command("run", context_settings={"allow_extra_args": True})
@click.argument("spec_or_id")
@runner_options
@output_dir_option(
    type=click.Path(file_okay=False),
    default=None,
    show_default=False,
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
    initialize it and run its jobs on this machine until it finishes.

    The output directory may also follow as a second argument (`torc run 42 my_output`)."""
    runner_settings(ctx, **resources)  # bad flags fail before anything is created
    output_dir = _output_dir_argument(output_dir)
    output = Path(output_dir or ctx.settings["run.output_dir"])
    with server_session(ctx, database, output, resources.get("poll_interval")) as session:
        if is_spec_path(spec_or_id):
            created = create_from_spec(ctx, spec_or_id, skip_checks=skip_checks, initialize=True)
            assert created is not None  # only a dry run creates nothing
            workflow_id = created
            click.echo(f"Created workflow {workflow_id} from {spec_or_id}", err=True)
        else:
            workflow_id = workflow_id_arg(spec_or_id)
            initialize_if_new(ctx, workflow_id)
        exit_code = run_workflow(ctx, workflow_id, output, **resources)
        session.keep_server = exit_code < 128  # not after a signal: then stop it too
    raise SystemExit(exit_code)


def _output_dir_argument(output_dir: str | None) -> str | None:
    """The seed's how-tos write ``torc run ID OUTPUT_DIR``; its CLI reference ``-o``. Both
    work (one positional beyond the spec or ID, not a second, different ``-o``)."""
    extra = click.get_current_context().args
    if not extra:
        return output_dir
    if len(extra) > 1:
        raise click.UsageError(f"unexpected arguments: {' '.join(extra[1:])}")
    if output_dir is not None and Path(output_dir) != Path(extra[0]):
        raise click.UsageError(f"two output directories: -o {output_dir} and {extra[0]}")
    return extra[0]


@dataclass
class Session:
    keep_server: bool = False  # leave an embedded server up for the commands that follow


@contextlib.contextmanager
def server_session(
    ctx: Context, database: str | None, output: Path, poll_interval: float | None = None
) -> Iterator[Session]:
    """The configured server, the embedded one an earlier command left on the database, or
    a new embedded one on a free loopback port.

    A new embedded server is left when the block is left, after the runner has stopped its
    jobs and reported them: up for the next commands when the session says so (it stops
    itself when idle), else stopped.
    """
    session = Session()
    db_path = Path(database or DEFAULT_DATABASE).resolve()
    shared = None if ctx.url_configured or ctx.embedded else ctx.shared_server(db_path)
    if ctx.url_configured or ctx.embedded is not None or shared is not None:
        if shared is not None:
            ctx.use_client(TorcClient(shared))
        ctx.client.ping()  # a clear error naming the URL before anything else
        yield session
        return
    # Idle longer than the runner's polls, so it never leaves a run.
    poll = poll_interval or ctx.settings["run.poll_interval"]
    idle = ctx.settings["embedded_idle_seconds"]
    server = ctx.start_embedded(db_path, output / "torc_server.log", idle and max(idle, 10 * poll))
    click.echo(f"Started an embedded torc server at {server.url} (database {db_path})", err=True)
    try:
        yield session
    finally:
        if session.keep_server:
            ctx.detach_embedded()
        else:
            ctx.stop_embedded()


def initialize_if_new(ctx: Context, workflow_id: int) -> None:
    """A workflow whose jobs are all uninitialized (or disabled) is initialized first, with
    the input checks of `workflows initialize` (missing files or user data stop it).

    The server checks and initializes in one step: of several runners started together on a
    new workflow, exactly one initializes it and the others join its run.
    """
    client = ctx.client
    if not client.is_uninitialized(workflow_id):
        return
    check = check_inputs(client, workflow_id)
    check.raise_if_missing(
        workflow_id,
        force=False,
        override=f"create them, or `torc workflows initialize {workflow_id} --force` first",
    )
    record_mtimes(client, check.files, check.baseline)  # reinitialize's change baseline
    client.initialize_if_uninitialized(workflow_id)


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
    from cli.run_progress import RunProgress
    from runner.runner import ForcedExit, JobRunner, RunnerOptions

    given = runner_settings(
        ctx,
        max_parallel_jobs=max_parallel_jobs,
        num_cpus=num_cpus,
        memory_gb=memory_gb,
        num_gpus=num_gpus,
        poll_interval=poll_interval,
    )
    options = RunnerOptions(
        workflow_id=workflow_id,
        output_dir=output,
        poll_interval=given["poll_interval"],
        max_parallel_jobs=given["max_parallel_jobs"],
        resources=detect(given["num_cpus"], given["memory_gb"], given["num_gpus"]),
    )
    before = ctx.client.job_status_counts(workflow_id)
    progress = RunProgress(sum(before.values()), counts=before)
    started = time.monotonic()
    try:
        summary = JobRunner(ctx.client, options, progress).run()
    except ForcedExit as exc:
        progress.close()
        click.echo(f"torc: {exc}; jobs were killed and not reported", err=True)
        return 128 + exc.signum
    except BaseException:
        progress.close()
        raise
    client = ctx.client
    if summary.stopped_by_signal is not None:
        client = ctx.client.clone(timeout=FINAL_COUNTS_TIMEOUT)
    try:
        counts = client.job_status_counts(workflow_id)
    except TorcClientError as exc:
        counts = None
        progress.close()
        click.echo(f"torc: could not read the final job counts: {exc}", err=True)
    else:
        progress.close(counts)
    # summary.problems and summary.stuck were logged, so the console has them already.
    statuses = Counter({status: count for status, count in (counts or {}).items() if count})
    if counts is not None:
        ran_here = sum(summary.counts.values())
        _report(workflow_id, statuses, time.monotonic() - started, ran_here, options.output_dir)
        if statuses.get("failed"):
            _hint_lost_runners(client, workflow_id)
    if summary.stopped_by_signal is not None:
        return 128 + summary.stopped_by_signal
    if counts is None or summary.stuck is not None:
        return 1
    return 0 if set(statuses) <= {"completed"} else 1


def runner_settings(ctx: Context, **flags) -> dict:
    """The runner flags merged with the ``[client.run]`` settings, checked: nonsense (say
    ``--max-parallel-jobs -1``, which would wait forever) is a usage error."""
    merged = {
        name: value if value is not None else ctx.settings[f"run.{name}"]
        for name, value in flags.items()
    }
    for name, minimum in (("max_parallel_jobs", 1), ("num_cpus", 1), ("num_gpus", 0)):
        value = merged[name]
        if value is not None and value < minimum:
            raise click.BadParameter(
                f"must be at least {minimum}, not {value}", param_hint=_flag(name)
            )
    for name in ("memory_gb", "poll_interval"):
        value = merged[name]
        if value is not None and not value > 0:
            raise click.BadParameter(f"must be more than 0, not {value}", param_hint=_flag(name))
    return merged


def _flag(name: str) -> str:
    return "-p/--poll-interval" if name == "poll_interval" else "--" + name.replace("_", "-")


def _report(
    workflow_id: int, statuses: Counter, seconds: float, ran_here: int, output: Path
) -> None:
    """The final line: the workflow's counts, and the rate of the jobs this session ran."""
    parts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    if ran_here:
        pace = f"{ran_here} run here, {ran_here / seconds if seconds > 0 else 0.0:.1f} jobs/s"
    else:
        pace = "none run here"
    click.echo(
        f"Workflow {workflow_id}: {parts or 'no jobs'} in {seconds:.1f}s ({pace}). "
        f"Output: {output}",
        err=True,
    )


def _hint_lost_runners(client: TorcClient, workflow_id: int) -> None:
    """Failed jobs whose runner died are not broken: say how to run them again."""
    try:
        failed = {job["id"] for job in client.list_jobs(workflow_id, status="failed")}
        lost = {
            result["job_id"]
            for result in client.list_results(workflow_id, return_code=ORPHAN_RETURN_CODE)
            if result["job_id"] in failed
        }
    except TorcClientError:
        return
    if lost:
        click.echo(
            f"torc: {len(lost)} job(s) failed because the runner running them was lost "
            f"(return code {ORPHAN_RETURN_CODE}); `torc recover {workflow_id}` runs them again",
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
    runner_settings(ctx, **resources)
    output = Path(output_dir or ctx.settings["run.output_dir"])
    with server_session(ctx, None, output, resources.get("poll_interval")) as session:
        workflow_id = pick_workflow(ctx, workflow_id)
        initialize_if_new(ctx, workflow_id)
        exit_code = run_workflow(ctx, workflow_id, output, **resources)
        session.keep_server = exit_code < 128  # not after a signal: then stop it too
    raise SystemExit(exit_code)
