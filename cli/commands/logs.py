"""``torc logs``: bundle a workflow's logs into one tarball, scan logs for known errors."""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path
from typing import Any

import click

from app.version import __version__
from cli.context import Context, pass_context
from cli.options import output_dir_option, resolve_workflow_id, workflow_argument
from cli.output import print_json, print_table
from cli.reporting.bundle import bundle_metadata, bundle_root, workflow_files, write_bundle
from cli.reporting.log_analysis import (
    LogSourceError,
    analysis_report,
    choose_workflow,
    log_files,
    scan,
    workflow_log_files,
)

ERROR_TYPE_COLUMNS = [
    ("Error Type", "type"),
    ("Category", "category"),
    ("Severity", "severity"),
    ("Count", "count"),
    ("Files", "files"),
]
UNREADABLE = (OSError, EOFError, tarfile.TarError, zlib.error)


@click.group("logs")
def group() -> None:
    """Log bundle and analysis commands."""


@group.command("bundle")
@workflow_argument
@output_dir_option()
@click.option(
    "--bundle-dir", default=".", show_default=True, help="Directory to write wf<ID>.tar.gz to."
)
@pass_context
def bundle(ctx: Context, workflow_id: int | None, output_dir: str, bundle_dir: str) -> None:
    """Pack a workflow's logs, metrics databases and records into wf<ID>.tar.gz."""
    output = Path(output_dir)
    if not output.is_dir():
        raise click.ClickException(f"Output directory does not exist: {output_dir}")
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    records = _workflow_records(ctx, workflow_id)
    files = workflow_files(output, workflow_id, records["compute_nodes"])
    if not files:
        click.echo(f"Warning: no log files of workflow {workflow_id} in {output_dir}", err=True)
    bundle_path = Path(bundle_dir) / f"{bundle_root(workflow_id)}.tar.gz"
    metadata = bundle_metadata(output, files, records, __version__)
    try:
        bundle_path.parent.mkdir(parents=True, exist_ok=True)
        write_bundle(bundle_path, bundle_root(workflow_id), output, files, metadata)
    except OSError as exc:
        raise click.ClickException(f"cannot write {bundle_path}: {exc}") from None
    summary = {
        "workflow_id": workflow_id,
        "bundle": str(bundle_path),
        "file_count": len(files),
        "files": metadata["files"],
    }
    ctx.emit(summary, text=f"Created {bundle_path} with {len(files)} files from {output_dir}")


def _workflow_records(ctx: Context, workflow_id: int) -> dict[str, Any]:
    client = ctx.client
    return {
        "workflow": client.get_workflow(workflow_id),
        "jobs": list(client.list_jobs(workflow_id)),
        "results": list(client.list_results(workflow_id, all_runs=True)),
        "compute_nodes": list(client.list_compute_nodes(workflow_id)),
    }


@group.command("analyze")
@click.argument("path")
@click.option(
    "-w", "--workflow-id", type=int, help="Workflow to analyze when the logs hold several."
)
@pass_context
def analyze(ctx: Context, path: str, workflow_id: int | None) -> None:
    """Scan a log directory or a wf<ID>.tar.gz bundle for known error patterns."""
    try:
        with log_files(path) as files:
            chosen = choose_workflow(files, workflow_id, path)
            selected = workflow_log_files(files, chosen)
            findings = scan(selected)
    except LogSourceError as exc:
        raise click.ClickException(str(exc)) from None
    except UNREADABLE as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    report = analysis_report(path, chosen, len(selected), findings)
    if ctx.format == "json":
        print_json(report)
    else:
        _print_analysis(report)


def _print_analysis(report: dict[str, Any]) -> None:
    click.echo("Log Analysis Results\n====================")
    click.echo(f"Analyzing: {report['path']}")
    if report["workflow_id"] is not None:
        click.echo(f"Workflow: {report['workflow_id']}")
    if report["files"]:
        click.echo("\nFiles with detected errors:")
    for entry in report["files"]:
        click.echo(f"\n{entry['file']}")
        for error in entry["errors"]:
            click.echo(f"  Line {error['line']}: {error['text']}")
            click.echo(f"    Severity: {error['severity']}")
            click.echo(f"    Type: {error['type']}")
    if report["errors_by_type"]:
        click.echo("\nErrors by type:")
        print_table(report["errors_by_type"], ERROR_TYPE_COLUMNS)
    _print_analysis_summary(report)


def _print_analysis_summary(report: dict[str, Any]) -> None:
    click.echo("\nSummary:")
    click.echo(f"Total files scanned: {report['total_files_scanned']}")
    click.echo(f"Files with errors: {report['files_with_errors']}")
    types = ", ".join(report["error_types_found"]) or "none"
    click.echo(f"Error types found: {types}")
