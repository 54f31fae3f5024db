"""Plotly figures of time-series resource samples (``torc plot-resources``).

Files (CLARIFICATIONS 101): ``{prefix}_job_{id}`` (CPU, memory and process count of one job
over time), ``{prefix}_cpu_all_jobs`` and ``{prefix}_memory_all_jobs`` (every job on one
chart), ``{prefix}_summary`` (peak and average per job, as bars). HTML files embed plotly.js,
so they open anywhere without a network; JSON files hold the figure (``plotly.io.from_json``).
"""

from __future__ import annotations

from pathlib import Path
from statistics import fmean

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from cli.reporting.metrics_db import JobSeries

# metric -> (JobSeries attribute, axis title, chart title)
OVERVIEWS = {
    "cpu": ("cpu_percent", "CPU (%)", "CPU use of all jobs"),
    "memory": ("memory_megabytes", "Memory (MB)", "Memory use of all jobs"),
}


def job_figure(job: JobSeries) -> go.Figure:
    figure = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("CPU (%)", "Memory (MB)", "Processes"),
    )
    panels = (
        ("CPU %", job.cpu_percent),
        ("Memory MB", job.memory_megabytes),
        ("Processes", job.num_processes),
    )
    for row, (name, values) in enumerate(panels, start=1):
        figure.add_trace(
            go.Scatter(x=job.times, y=values, name=name, mode="lines+markers"), row=row, col=1
        )
    figure.update_layout(title=f"Resource use of job {job.label}", showlegend=False, height=800)
    return figure


def overview_figure(jobs: list[JobSeries], metric: str) -> go.Figure:
    """Every job's CPU (``metric="cpu"``) or memory (``"memory"``) over time."""
    attribute, axis, title = OVERVIEWS[metric]
    figure = go.Figure(
        [
            go.Scatter(x=job.times, y=getattr(job, attribute), name=job.label, mode="lines+markers")
            for job in jobs
        ]
    )
    figure.update_layout(title=title, xaxis_title="Time", yaxis_title=axis)
    return figure


def summary_figure(jobs: list[JobSeries]) -> go.Figure:
    """Peak and average CPU and memory of every job."""
    labels = [job.label for job in jobs]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("CPU (%)", "Memory (MB)"))
    cpu = [(max(job.cpu_percent), fmean(job.cpu_percent)) for job in jobs]
    memory = [(max(job.memory_megabytes), fmean(job.memory_megabytes)) for job in jobs]
    for column, pairs in ((1, cpu), (2, memory)):
        for index, name in ((0, "Peak"), (1, "Average")):
            figure.add_trace(
                go.Bar(
                    x=labels,
                    y=[pair[index] for pair in pairs],
                    name=name,
                    legendgroup=name,
                    showlegend=column == 1,
                ),
                row=1,
                col=column,
            )
    figure.update_layout(title="Peak and average resource use per job", barmode="group")
    return figure


PLOTLY_JS = "plotly.min.js"


def write_figure(figure: go.Figure, path: Path, fmt: str) -> Path:
    """``path`` without extension; ``fmt`` is ``html`` or ``json``. A page loads plotly.js
    from the PLOTLY_JS file beside it (written by ``write_plotly_js``): embedding it made
    every page 4.8 MB, and compute nodes are often offline, so no CDN."""
    target = path.with_name(f"{path.name}.{fmt}")
    if fmt == "json":
        target.write_text(pio.to_json(figure))
    else:
        figure.write_html(target, include_plotlyjs="directory", full_html=True)
    return target


def write_plotly_js(output_dir: Path) -> Path:
    """The plotly.js the pages load, once per directory (rewritten each time, so it matches
    the version the pages were made with)."""
    from plotly.offline import get_plotlyjs

    target = output_dir / PLOTLY_JS
    target.write_text(get_plotlyjs(), encoding="utf-8")
    return target


def write_plots(jobs: list[JobSeries], output_dir: Path, prefix: str, fmt: str) -> list[Path]:
    """One figure per job, the two overviews and the summary; returns the files written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    figures = [(f"{prefix}_job_{job.job_id}", job_figure(job)) for job in jobs]
    figures += [
        (f"{prefix}_cpu_all_jobs", overview_figure(jobs, "cpu")),
        (f"{prefix}_memory_all_jobs", overview_figure(jobs, "memory")),
        (f"{prefix}_summary", summary_figure(jobs)),
    ]
    if fmt == "html":
        write_plotly_js(output_dir)
    return [write_figure(figure, output_dir / name, fmt) for name, figure in figures]
