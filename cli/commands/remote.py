"""``torc remote``: a workflow's SSH hosts, and a detached ``torc run`` on each of them.

The hosts ("workers") are stored per workflow on the server. ``run`` checks every host
first (SSH, then the torc version) and starts nothing unless all pass; each host then runs
the same runner as ``torc run``, which claims jobs from the server like any other runner.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import click

from app.version import __version__
from cli.commands.run import initialize_if_new, runner_settings
from cli.context import Context, pass_context
from cli.options import resolve_workflow_id, workflow_argument
from cli.remote import hosts
from cli.remote.hosts import HostReport
from cli.remote.ssh import Ssh
from cli.remote.workers import (
    WorkerAddress,
    WorkerAddressError,
    check_against_stored,
    parse_worker,
    parse_worker_file,
    parse_workers,
)

DEFAULT_REMOTE_DIR = "torc_output"
DEFAULT_MAX_PARALLEL_SSH = 10
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
STATUS_COLUMNS = [("Worker", "worker"), ("Status", "status"), ("PID", "pid"), ("Detail", "detail")]


@click.group("remote")
def group() -> None:
    """Remote worker execution commands (SSH-based distributed execution)."""


def max_parallel_ssh_option(function: Callable) -> Callable:
    return click.option(
        "--max-parallel-ssh",
        type=click.IntRange(1),
        default=DEFAULT_MAX_PARALLEL_SSH,
        show_default=True,
        help="Maximum parallel SSH connections.",
    )(function)


def remote_dir_option(*flags: str, name: str, help: str = "") -> Callable:
    return click.option(
        *flags,
        name,
        default=DEFAULT_REMOTE_DIR,
        show_default=True,
        callback=_check_remote_dir,
        help=help or "Remote output directory (must match the one given to run).",
    )


def _check_remote_dir(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Anything that would put the logs in, or delete, a home or root directory is refused."""
    normal = posixpath.normpath(value.strip()) if value.strip() else ""
    if normal in ("", ".", "/", "~", "..") or normal.startswith(("../", "~/..")):
        raise click.BadParameter(f"{value!r} is not a directory of its own")
    return value.strip()


# Stored workers ----------------------------------------------------------------------------


@group.command("add-workers")
@click.argument("workflow_id", type=int)
@click.argument("workers", nargs=-1, required=True)
@pass_context
def add_workers(ctx: Context, workflow_id: int, workers: tuple[str, ...]) -> None:
    """Add one or more remote workers to a workflow.

    Workers are stored on the server and used by the other remote commands.
    Format: [user@]hostname[:port]
    """
    with _worker_errors():
        parsed = parse_workers(workers)
    _store(ctx, workflow_id, parsed)


@group.command("add-workers-from-file")
@click.argument("worker_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@workflow_argument
@pass_context
def add_workers_from_file(ctx: Context, worker_file: Path, workflow_id: int | None) -> None:
    """Add remote workers to a workflow from a file.

    One [user@]hostname[:port] per line; blank lines and lines starting with # are skipped.
    """
    with _worker_errors():
        workers = parse_worker_file(worker_file)
    _store(ctx, resolve_workflow_id(ctx, workflow_id), workers)


@group.command("remove-worker")
@click.argument("worker")
@workflow_argument
@pass_context
def remove_worker(ctx: Context, worker: str, workflow_id: int | None) -> None:
    """Remove a remote worker from a workflow."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    removed = ctx.client.delete_remote_worker(workflow_id, worker.strip())
    ctx.emit(removed, text=f"Removed worker {removed['worker']} from workflow {workflow_id}")


@group.command("list-workers")
@workflow_argument
@pass_context
def list_workers(ctx: Context, workflow_id: int | None) -> None:
    """List remote workers stored in the database for a workflow."""
    workers = ctx.client.list_remote_workers(resolve_workflow_id(ctx, workflow_id))
    ctx.emit({"remote_workers": workers}, rows=workers, columns=[("Worker", "worker")])


@contextlib.contextmanager
def _worker_errors() -> Iterator[None]:
    """A bad address or worker file: one ``Error: …`` message (a line per problem)."""
    try:
        yield
    except WorkerAddressError as exc:
        raise click.ClickException(str(exc)) from None


def _store(ctx: Context, workflow_id: int, workers: Sequence[WorkerAddress]) -> list[dict]:
    stored = [record["worker"] for record in ctx.client.list_remote_workers(workflow_id)]
    with _worker_errors():
        check_against_stored(workers, stored)
    records = ctx.client.add_remote_workers(workflow_id, [worker.text for worker in workers])
    new = [worker.text for worker in workers if worker.text not in stored]
    ctx.emit(
        {"workflow_id": workflow_id, "added": new, "remote_workers": records},
        text=f"Added {len(new)} worker(s) to workflow {workflow_id} "
        f"({len(records)} in all): {', '.join(new) or 'all were there already'}",
    )
    return records


def _workers_of(ctx: Context, workflow_id: int) -> list[WorkerAddress]:
    """The workflow's stored workers; none is the seed's error."""
    stored = [record["worker"] for record in ctx.client.list_remote_workers(workflow_id)]
    if not stored:
        raise click.ClickException(
            f"No workers configured for workflow {workflow_id}. "
            "Use 'torc remote add-workers' or '--workers' flag."
        )
    with _worker_errors():
        return [parse_worker(text) for text in stored]


def _ssh(ctx: Context) -> Ssh:
    return Ssh.from_setting(ctx.settings.get("remote.ssh_command"))


# Running -----------------------------------------------------------------------------------


@group.command("run")
@workflow_argument
@click.option(
    "-w",
    "--workers",
    "worker_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Worker file: its workers are added to the workflow before running.",
)
@remote_dir_option(
    "-o",
    "--output-dir",
    name="output_dir",
    help="Output directory on the remote hosts (relative to the home directory).",
)
@max_parallel_ssh_option
@click.option(
    "-p",
    "--poll-interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Poll interval of the workers, in seconds.",
)
@click.option("--max-parallel-jobs", type=int, help="Maximum parallel jobs per worker.")
@click.option("--num-cpus", type=int, help="CPUs per worker (detected on each host if not given).")
@click.option("--memory-gb", type=float, help="Memory in GB per worker (detected if not given).")
@click.option("--num-gpus", type=int, help="GPUs per worker (detected if not given).")
@click.option(
    "--skip-version-check",
    is_flag=True,
    default=False,
    show_default=True,
    help="Skip the check that every host runs this torc version (not recommended).",
)
@pass_context
def run(
    ctx: Context,
    workflow_id: int | None,
    worker_file: Path | None,
    output_dir: str,
    max_parallel_ssh: int,
    skip_version_check: bool,
    **resources,
) -> None:
    """Run workers on remote machines via SSH.

    SSH into each stored worker and start a torc worker process. Workers run detached (via
    nohup) and survive SSH disconnection. Use add-workers first, or give --workers to add
    and run in one step.
    """
    runner_settings(ctx, **resources)  # nonsense flags fail before any host is touched
    new_workers: list[WorkerAddress] = []
    if worker_file is not None:
        with _worker_errors():
            new_workers = parse_worker_file(worker_file)
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    url = _server_url_for_workers(ctx)
    if new_workers:
        _store(ctx, workflow_id, new_workers)
    workers = _workers_of(ctx, workflow_id)
    _check_runnable(ctx, workflow_id)
    ssh = _ssh(ctx)
    click.echo(f"Checking {len(workers)} worker(s)...", err=True)
    hosts.check_hosts(ssh, workers, __version__, not skip_version_check, max_parallel_ssh)
    initialize_if_new(ctx, workflow_id)
    click.echo(f"Starting workers for workflow {workflow_id}...", err=True)
    reports = hosts.start_workers(
        ssh,
        workers,
        workflow_id,
        output_dir,
        _torc_run_args(workflow_id, output_dir, resources),
        worker_environment(ctx, url),
        max_parallel_ssh,
    )
    _emit_reports(ctx, workflow_id, reports, {"output_dir": output_dir})
    started = sum(report.status in ("started", "already running") for report in reports)
    click.echo(
        f"{started} of {len(reports)} worker(s) running workflow {workflow_id}; "
        f"`torc remote status {workflow_id}` shows them.",
        err=True,
    )
    if not all(report.ok for report in reports):
        raise SystemExit(1)


def _check_runnable(ctx: Context, workflow_id: int) -> None:
    """Workers started on a canceled or finished workflow would only exit again."""
    state = ctx.client.is_complete(workflow_id)
    if state["is_canceled"]:
        done = "canceled"
    elif state["is_complete"] and not ctx.client.is_uninitialized(workflow_id):
        done = "complete"
    else:
        return
    raise click.ClickException(
        f"Workflow {workflow_id} is {done}; there is nothing for workers to run "
        f"(torc workflows reinitialize {workflow_id} or reset-status first)"
    )


def _server_url_for_workers(ctx: Context) -> str:
    """The URL the hosts' workers use: the configured one (an embedded server on this
    machine's loopback cannot be reached from other hosts)."""
    if not ctx.url_configured:
        raise click.ClickException(
            "torc remote run needs the URL of a torc server the hosts can reach: "
            "give --url or set TORC_API_URL (no server URL is configured)"
        )
    host = urlsplit(ctx.url).hostname or ""
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        click.echo(
            f"Warning: the server URL {ctx.url} is this machine's loopback address; hosts "
            "other than this one cannot reach it (use an address they can).",
            err=True,
        )
    return ctx.url


def worker_environment(ctx: Context, url: str) -> dict[str, str]:
    """What a worker needs to reach the server as this user. It goes to a file only the
    worker's user can read, which the worker deletes once read: it is never on a command
    line (``ps`` on either machine would show it). Credentials ride here."""
    # The client's own: the user it authenticates as and the password it was given or asked.
    return {"TORC_API_URL": url, **ctx.client.credential_env()}


def _torc_run_args(workflow_id: int, output_dir: str, resources: dict) -> list[str]:
    """``torc run`` with the per-host flags given (those left out are detected there)."""
    args = ["run", str(workflow_id), "--output-dir", output_dir]
    for name, value in resources.items():
        if value is not None:
            args += ["--" + name.replace("_", "-"), str(value)]
    return args


# Watching and stopping ---------------------------------------------------------------------


@group.command("status")
@workflow_argument
@remote_dir_option("--output-dir", name="output_dir")
@max_parallel_ssh_option
@pass_context
def status(ctx: Context, workflow_id: int | None, output_dir: str, max_parallel_ssh: int) -> None:
    """Check status of remote workers: which still run."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    workers = _workers_of(ctx, workflow_id)
    reports = hosts.worker_states(_ssh(ctx), workers, workflow_id, output_dir, max_parallel_ssh)
    running = sum(report.status == "running" for report in reports)
    ctx.emit(
        {
            "workflow_id": workflow_id,
            "output_dir": output_dir,
            "running": running,
            "workers": [report.as_json() for report in reports],
        },
        rows=[report.as_json() for report in reports],
        columns=STATUS_COLUMNS,
        title=f"Workflow {workflow_id}: {running} of {len(reports)} worker(s) running",
    )


@group.command("stop")
@workflow_argument
@remote_dir_option("--output-dir", name="output_dir")
@max_parallel_ssh_option
@click.option(
    "--force",
    is_flag=True,
    default=False,
    show_default=True,
    help="Force kill (SIGKILL instead of SIGTERM).",
)
@pass_context
def stop(
    ctx: Context, workflow_id: int | None, output_dir: str, max_parallel_ssh: int, force: bool
) -> None:
    """Stop workers on remote machines.

    SIGTERM lets each worker stop its jobs and report them, as torc run does on a signal;
    --force kills the workers at once (their jobs are then found by orphan detection).
    """
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    workers = _workers_of(ctx, workflow_id)
    reports = hosts.stop_workers(
        _ssh(ctx), workers, workflow_id, output_dir, force, max_parallel_ssh
    )
    _emit_reports(ctx, workflow_id, reports, {"output_dir": output_dir})
    if not all(report.ok for report in reports):
        raise SystemExit(1)


# Logs --------------------------------------------------------------------------------------


@group.command("collect-logs")
@workflow_argument
@click.option(
    "-l",
    "--local-output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("remote_logs"),
    show_default=True,
    help="Local directory for the collected logs (one subdirectory per worker).",
)
@remote_dir_option("--remote-output-dir", name="remote_output_dir")
@max_parallel_ssh_option
@click.option(
    "--delete",
    is_flag=True,
    default=False,
    show_default=True,
    help="Delete remote logs after successful collection.",
)
@pass_context
def collect_logs(
    ctx: Context,
    workflow_id: int | None,
    local_output_dir: Path,
    remote_output_dir: str,
    max_parallel_ssh: int,
    delete: bool,
) -> None:
    """Collect logs from remote workers.

    Copies each host's output directory (job logs, worker logs, resource-monitor
    databases) into LOCAL_OUTPUT_DIR/<worker>/.
    """
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    workers = _workers_of(ctx, workflow_id)
    local_output_dir.mkdir(parents=True, exist_ok=True)
    reports = hosts.collect_logs(
        _ssh(ctx), workers, remote_output_dir, local_output_dir, delete, max_parallel_ssh
    )
    _emit_reports(ctx, workflow_id, reports, {"local_output_dir": str(local_output_dir)})
    if not all(report.ok for report in reports):
        raise SystemExit(1)


@group.command("delete-logs")
@workflow_argument
@remote_dir_option("--remote-output-dir", name="remote_output_dir")
@max_parallel_ssh_option
@pass_context
def delete_logs(
    ctx: Context, workflow_id: int | None, remote_output_dir: str, max_parallel_ssh: int
) -> None:
    """Delete logs from remote workers.

    Removes the output directory from every remote worker (not where a worker still runs).
    Use collect-logs --delete to collect them first.
    """
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    workers = _workers_of(ctx, workflow_id)
    reports = hosts.delete_logs(_ssh(ctx), workers, remote_output_dir, max_parallel_ssh)
    _emit_reports(ctx, workflow_id, reports, {"remote_output_dir": remote_output_dir})
    if not all(report.ok for report in reports):
        raise SystemExit(1)


def _emit_reports(
    ctx: Context, workflow_id: int, reports: Sequence[HostReport], fields: dict
) -> None:
    """One ``[OK]``/``[FAILED]`` line per host (details indented under it), or JSON."""
    if ctx.format == "json":
        ctx.emit(
            {
                "workflow_id": workflow_id,
                **fields,
                "workers": [report.as_json() for report in reports],
            }
        )
        return
    for report in reports:
        click.echo(_line(report))


def _line(report: HostReport) -> str:
    mark = "[OK]" if report.ok else "[FAILED]"
    if report.status == "failed" and report.pid is not None:
        return f"{mark} {report.worker}: Process died immediately. Last log:\n{report.detail}"
    pid = f" (PID {report.pid})" if report.pid is not None else ""
    extra = report.extra
    if "files" in extra:
        deleted = ", remote copy deleted" if extra.get("deleted") else ""
        text = f"collected {extra['files']} file(s) into {extra['path']}{deleted}"
    else:
        text = report.status + pid
    detail = f": {report.detail}" if report.detail else ""
    return f"{mark} {report.worker}: {text}{detail}"
