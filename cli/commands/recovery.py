"""``torc recover`` (one-shot) and ``torc watch`` (poll until done, optionally recovering)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from app.shared.status import UNSUCCESSFUL_NAMES
from cli.client import TorcClientError
from cli.commands.run import server_session
from cli.context import Context, pass_context
from cli.options import output_dir_option
from cli.output import print_json
from cli.workflow_manager import job_counts

if TYPE_CHECKING:
    from cli.recovery import RecoveryOptions

WATCH_COUNTS = ("completed", "running", "pending", "failed", "blocked")


def recovery_options(runtime_default: float):
    """Flags ``recover`` and ``watch`` share (their runtime multipliers differ upstream)."""

    def decorate(function):
        decorators = [
            click.option(
                "--memory-multiplier",
                type=click.FloatRange(min=1.0),
                default=1.5,
                show_default=True,
                help="Memory multiplier for OOM failures.",
            ),
            click.option(
                "--runtime-multiplier",
                type=click.FloatRange(min=1.0),
                default=runtime_default,
                show_default=True,
                help="Runtime multiplier for timeout failures.",
            ),
            click.option(
                "--retry-unknown",
                is_flag=True,
                help="Also retry jobs with unknown failure causes (not just OOM or timeout).",
            ),
            click.option(
                "--recovery-hook",
                help="Custom recovery command for unknown failures; gets the workflow ID as "
                "its last argument and in TORC_WORKFLOW_ID.",
            ),
            output_dir_option(
                type=click.Path(file_okay=False), help="Output directory for job files."
            ),
        ]
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


@click.command("recover")
@click.argument("workflow_id", type=int)
@recovery_options(runtime_default=1.4)
@click.option("--dry-run", is_flag=True, help="Show what would be done without changing anything.")
@pass_context
def recover_command(
    ctx: Context,
    workflow_id: int,
    memory_multiplier: float,
    runtime_multiplier: float,
    retry_unknown: bool,
    recovery_hook: str | None,
    output_dir: str,
    dry_run: bool,
) -> None:
    """Diagnose failed jobs (OOM, timeout), raise their resources and reset them for retry.

    Runs orphan detection first, then needs a finished workflow with no active workers.
    """
    from cli.recovery import RecoveryOptions, recover  # psutil and friends: only when used

    options = RecoveryOptions(
        memory_multiplier, runtime_multiplier, retry_unknown, recovery_hook, dry_run
    )
    as_json = ctx.format == "json"
    say = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    with server_session(ctx, None, Path(output_dir)):
        report = recover(ctx.client, workflow_id, options, say)
    if as_json:
        print_json(report.as_json())
    if report.diagnoses and not report.retry_job_ids:
        raise SystemExit(1)  # failures remain and none could be recovered


@click.command("watch")
@click.argument("workflow_id", type=int)
@click.option(
    "-p",
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=60,
    show_default=True,
    help="Seconds between status checks.",
)
@click.option("-r", "--recover", "do_recover", is_flag=True, help="Enable automatic recovery.")
@click.option(
    "-m",
    "--max-retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Maximum number of recovery attempts.",
)
@recovery_options(runtime_default=1.5)
@click.option("-s", "--show-job-counts", is_flag=True, help="Print job counts at every poll.")
@pass_context
def watch_command(
    ctx: Context,
    workflow_id: int,
    poll_interval: float,
    do_recover: bool,
    max_retries: int,
    memory_multiplier: float,
    runtime_multiplier: float,
    retry_unknown: bool,
    recovery_hook: str | None,
    output_dir: str,
    show_job_counts: bool,
) -> None:
    """Watch a workflow until it finishes; with --recover, fix and retry failures.

    Exits 0 when every job completed, 1 on failures (without --recover), when no failed job
    is recoverable, or when the recovery attempts are used up.
    """
    from cli.recovery import RecoveryOptions

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with watch_log_path(output, workflow_id).open("a") as log:
        watcher = Watcher(ctx, workflow_id, output, log, poll_interval, show_job_counts)
        try:
            with server_session(ctx, None, output):
                options = RecoveryOptions(
                    memory_multiplier, runtime_multiplier, retry_unknown, recovery_hook
                )
                code = watcher.watch(options if do_recover else None, max_retries)
        except (click.ClickException, TorcClientError) as exc:
            # The terminal gets it from the CLI's error boundary; the log gets it here.
            message = exc.format_message() if isinstance(exc, click.ClickException) else exc
            watcher.log_line(f"Error: {message}")
            raise
    raise SystemExit(code)


def watch_log_path(output: Path, workflow_id: int) -> Path:
    """``<output-dir>/watch_<hostname>_<workflow_id>.log``, as the seed names it."""
    return output / f"watch_{socket.gethostname()}_{workflow_id}.log"


class Watcher:
    """Polls ``is_complete``; every line goes to the terminal and to the watch log."""

    def __init__(
        self,
        ctx: Context,
        workflow_id: int,
        output: Path,
        log: TextIO,
        poll_interval: float,
        show_job_counts: bool,
    ) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.workflow_id = workflow_id
        self.output = output
        self.log = log
        self.poll_interval = poll_interval
        self.show_job_counts = show_job_counts
        self.runner: subprocess.Popen | None = None

    def say(self, line: str) -> None:
        click.echo(line)
        self.log_line(line)

    def log_line(self, line: str) -> None:
        self.log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        self.log.flush()

    def watch(self, options: RecoveryOptions | None, max_retries: int) -> int:
        from cli.recovery import recover

        attempt = 0
        while True:
            self._announce(options, max_retries)
            self._wait_until_complete()
            counts = job_counts(self.client, self.workflow_id)
            total = sum(counts.values())
            self.say(f"Workflow {self.workflow_id} is complete")
            if not any(counts.get(status) for status in UNSUCCESSFUL_NAMES):
                self.say(f"Workflow completed successfully ({total} jobs)")
                return 0
            self.say("Workflow completed with failures:")
            for status in (*UNSUCCESSFUL_NAMES, "completed"):
                self.say(f"  - {status.title()}: {counts.get(status, 0)}")
            if options is None:
                return 1
            if attempt >= max_retries:
                self.say(f"Max retries ({max_retries}) exceeded. Manual intervention required.")
                self.say("Use the Torc MCP server with your AI assistant to investigate.")
                return 1
            attempt += 1
            self.say(f"Attempting automatic recovery (attempt {attempt}/{max_retries})")
            self._wait_for_runner()
            report = recover(self.client, self.workflow_id, options, self.say)
            if not report.retry_job_ids:
                return 1
            self._restart_jobs()
            self.say("Recovery initiated. Resuming monitoring...")

    def _announce(self, options: RecoveryOptions | None, max_retries: int) -> None:
        parts = [f"poll interval: {self.poll_interval:g}s"]
        if options is not None:
            parts += ["recover enabled", f"max retries: {max_retries}"]
        if self.show_job_counts:
            parts.append("job counts enabled")
        self.say(f"Watching workflow {self.workflow_id} ({', '.join(parts)})")

    def _wait_until_complete(self) -> None:
        from cli.recovery import orphan_line, poll_orphans

        while True:
            if line := orphan_line(poll_orphans(self.client, self.workflow_id)):
                self.say(line)
            if self.show_job_counts:
                counts = job_counts(self.client, self.workflow_id)
                self.say(", ".join(f"{status}={counts.get(status, 0)}" for status in WATCH_COUNTS))
            if self.client.is_complete(self.workflow_id)["is_complete"]:
                return
            time.sleep(self.poll_interval)

    def _restart_jobs(self) -> None:
        """Slurm workflows get new allocations in the Slurm commands; a local one gets a
        job runner here, since the runner that ran it has exited."""
        if list(self.client.list_slurm_schedulers(self.workflow_id)):
            self.say(
                f"Submit new allocations for the reset jobs (torc slurm regenerate "
                f"{self.workflow_id} --submit)."
            )
            return
        runner_log = f"watch_runner_{socket.gethostname()}_{self.workflow_id}.log"
        log = (self.output / runner_log).open("a")
        # Credentials travel in the environment: a command line is visible to every user.
        env = {**os.environ, **self.client.credential_env()}
        self.runner = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli.main",
                "--url",
                self.client.base_url,
                "workflows",
                "run",
                str(self.workflow_id),
                "--output-dir",
                str(self.output),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        self.say(f"Started a local job runner (pid {self.runner.pid})")

    def _wait_for_runner(self) -> None:
        """The runner this watch started must exit before its workflow is recovered again."""
        if self.runner is not None:
            self.runner.wait()
            self.runner = None
