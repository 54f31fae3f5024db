"""``torc workflows export | import``: portable workflow documents (see cli.export)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import click
import orjson

from cli import export
from cli.commands.workflow_args import optional_id, pick_workflow
from cli.context import Context, pass_context
from cli.output import json_text


@click.command("export")
@optional_id()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (default: stdout).")
@click.option("--include-results", is_flag=True, help="Include job results.")
@click.option("--include-events", is_flag=True, help="Include events (workflow history).")
@pass_context
def export_command(
    ctx: Context,
    workflow_id: int | None,
    output: str | None,
    include_results: bool,
    include_events: bool,
) -> None:
    """Export a workflow to a portable JSON document (IDs are remapped on import)."""
    workflow_id = pick_workflow(ctx, workflow_id)
    document = export.export_workflow(ctx.client, workflow_id, include_results, include_events)
    if output is None:
        click.echo(json_text(document))
        return
    Path(output).write_text(json_text(document) + "\n")
    summary = export.export_summary(document, output)
    ctx.emit(
        summary,
        text=f"Exported workflow {workflow_id} to {output}: {summary['jobs']} jobs, "
        f"{summary['files']} files, {summary['user_data']} user data, "
        f"{summary['results']} results, {summary['events']} events",
    )


@click.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--name", help="Name of the new workflow (default: the exported name).")
@click.option("--skip-results", is_flag=True, help="Leave out the exported results.")
@click.option("--skip-events", is_flag=True, help="Leave out the exported events.")
@pass_context
def import_command(
    ctx: Context, file: BinaryIO, name: str | None, skip_results: bool, skip_events: bool
) -> None:
    """Import an exported workflow (FILE, or - for stdin); its jobs start uninitialized."""
    try:
        document = orjson.loads(file.read())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{file.name}: not valid JSON: {exc}") from None
    imported = export.import_workflow(
        ctx.client, document, name, results=not skip_results, events=not skip_events
    )
    counts = imported.counts
    lines = [
        "Successfully imported workflow:",
        f"  Workflow ID: {imported.workflow_id}",
        f"  Name: {imported.name}",
        f"  Jobs: {counts['jobs']}",
        f"  Files: {counts['files']}",
        f"  User data: {counts['user_data']}",
    ]
    ctx.emit(imported.as_json(), text="\n".join(lines))


COMMANDS = {"export": export_command, "import": import_command}
