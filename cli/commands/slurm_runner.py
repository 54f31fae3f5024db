"""``torc-slurm-job-runner``: the console script the generated sbatch scripts run (see
``runner/slurm.py`` for what it does; this is only its command line)."""

from __future__ import annotations

from pathlib import Path

import click

from app.version import __version__
from cli.client import TorcClientError


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.argument("workflow_id", type=int)
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "-p",
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Longest wait between checks for new jobs, in seconds.",
)
@click.option("--max-parallel-jobs", type=click.IntRange(min=1), help="Run at most N jobs at once.")
@click.option(
    "--is-subtask",
    is_flag=True,
    help="One of several runners of this allocation (one per node, started by srun).",
)
@click.option(
    "--wait-for-healthy-database-minutes",
    type=click.FloatRange(min=0),
    help="How long to wait for an unreachable server (default: the workflow's setting, 20).",
)
@click.option(
    "--job-launcher",
    type=click.Choice(["srun", "local"]),
    default="srun",
    show_default=True,
    help="Start each job as a Slurm job step (srun) or as a local process of this node.",
)
@click.version_option(__version__, prog_name="torc-slurm-job-runner")
def cli(
    url: str,
    workflow_id: int,
    output_dir: Path,
    poll_interval: float,
    max_parallel_jobs: int | None,
    is_subtask: bool,
    wait_for_healthy_database_minutes: float | None,
    job_launcher: str,
) -> None:
    """Run a torc workflow's jobs inside this Slurm allocation."""
    from runner.slurm import NotInAllocation, serve

    try:
        ok = serve(
            url,
            workflow_id,
            output_dir,
            poll_interval,
            max_parallel_jobs,
            is_subtask,
            wait_for_healthy_database_minutes,
            job_launcher,
        )
    except (NotInAllocation, TorcClientError) as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(0 if ok else 1)


def main() -> None:
    cli(prog_name="torc-slurm-job-runner")
