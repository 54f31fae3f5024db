"""``torc plot-resources``: interactive charts from time-series resource databases."""

from __future__ import annotations

from pathlib import Path

import click

from cli.context import Context, pass_context
from cli.options import output_dir_option
from cli.parsing import id_list
from cli.reporting.metrics_db import MetricsError, read_series


@click.command("plot-resources")
@click.argument(
    "db_paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@output_dir_option(
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the plots to.",
)
@click.option("-j", "--job-ids", help="Only these jobs (comma-separated IDs).")
@click.option(
    "-p", "--prefix", default="resource_plot", show_default=True, help="File name prefix."
)
@click.option(
    "-f",
    "--format",
    "plot_format",
    type=click.Choice(["html", "json"]),
    default="html",
    show_default=True,
    help="html: interactive pages (plotly.min.js is written beside them); json: Plotly figures.",
)
@pass_context
def plot_resources_command(
    ctx: Context,
    db_paths: tuple[Path, ...],
    output_dir: Path,
    job_ids: str | None,
    prefix: str,
    plot_format: str,
) -> None:
    """Plot CPU, memory and process counts from resource_metrics_*.db files.

    Writes PREFIX_job_ID (one per job), PREFIX_cpu_all_jobs, PREFIX_memory_all_jobs and
    PREFIX_summary, as .html or .json.
    """
    wanted = id_list(job_ids)
    try:
        jobs = read_series(db_paths, set(wanted) if wanted else None)
    except MetricsError as exc:
        raise click.ClickException(str(exc)) from None
    if not jobs:
        which = f" of jobs {job_ids}" if wanted else ""
        raise click.ClickException(f"no resource samples{which} in {', '.join(map(str, db_paths))}")
    from cli.reporting.plots import PLOTLY_JS, write_plots  # plotly takes a moment to import

    try:
        files = write_plots(jobs, output_dir, prefix, plot_format)
    except OSError as exc:
        raise click.ClickException(f"cannot write plots to {output_dir}: {exc}") from None
    written = {"job_ids": [job.job_id for job in jobs], "files": [str(path) for path in files]}
    text = f"Wrote {len(files)} plots for {len(jobs)} jobs to {output_dir}"
    if plot_format == "html":
        written["plotly_js"] = str(output_dir / PLOTLY_JS)
        text += f" (they load {PLOTLY_JS} from there: keep it beside them)"
    ctx.emit(written, text=text)


COMMANDS = [plot_resources_command]
