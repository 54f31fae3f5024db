"""``torc files``: the paths that jobs read and write."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from cli.context import Context, pass_context
from cli.options import list_options, list_params, resolve_workflow_id, workflow_argument

COLUMNS = [("ID", "id"), ("Name", "name"), ("Path", "path"), ("Modified", "modified")]
EXISTING_COLUMNS = [("ID", "id"), ("Name", "name"), ("Path", "path"), ("Exists", "exists")]


@click.group("files")
def group() -> None:
    """File management commands."""


@group.command("create")
@workflow_argument
@click.option("-n", "--name", required=True, help="Name of the file.")
@click.option("-p", "--path", required=True, help="Path of the file.")
@pass_context
def create(ctx: Context, workflow_id: int | None, name: str, path: str) -> None:
    """Create a file record in a workflow."""
    body = {"workflow_id": resolve_workflow_id(ctx, workflow_id), "name": name, "path": path}
    record = ctx.client.create_file(body)
    ctx.emit(record, text=f"Created file {record['id']}")


@group.command("list")
@workflow_argument
@click.option("--produced-by-job-id", type=int, help="Only files written by this job.")
@list_options()
@pass_context
def list_files(ctx: Context, workflow_id: int | None, produced_by_job_id, **options) -> None:
    """List the files of a workflow."""
    params = list_params(options)
    records = list(
        ctx.client.list_files(
            resolve_workflow_id(ctx, workflow_id),
            produced_by_job_id=produced_by_job_id,
            **params,
        )
    )
    ctx.emit({"files": records}, rows=[_display(r) for r in records], columns=COLUMNS)


def _display(record: dict) -> dict:
    """``st_mtime`` (epoch seconds, set when a job produced the file) as local time."""
    mtime = record.get("st_mtime")
    modified = "" if mtime is None else datetime.fromtimestamp(mtime).isoformat(" ", "seconds")
    return {**record, "modified": modified}


@group.command("get")
@click.argument("file_id", type=int)
@pass_context
def get(ctx: Context, file_id: int) -> None:
    """Show one file."""
    ctx.emit(ctx.client.get_file(file_id))


@group.command("update")
@click.argument("file_id", type=int)
@click.option("-n", "--name", help="New name.")
@click.option("-p", "--path", help="New path.")
@pass_context
def update(ctx: Context, file_id: int, name: str | None, path: str | None) -> None:
    """Change a file's name or path."""
    record = ctx.client.get_file(file_id)
    changes = {"name": name, "path": path}
    record.update({key: value for key, value in changes.items() if value is not None})
    ctx.emit(ctx.client.update_file(file_id, record), text=f"Updated file {file_id}")


@group.command("delete")
@click.argument("file_id", type=int)
@pass_context
def delete(ctx: Context, file_id: int) -> None:
    """Delete one file record (not the file on disk)."""
    ctx.emit(ctx.client.delete_file(file_id), text=f"Deleted file {file_id}")


@group.command("list-required-existing")
@workflow_argument
@pass_context
def list_required_existing(ctx: Context, workflow_id: int | None) -> None:
    """Files that some job reads and no job writes, and whether each exists here."""
    workflow_id = resolve_workflow_id(ctx, workflow_id)
    required = set(ctx.client.required_existing_files(workflow_id)["files"])
    records = [
        {**record, "exists": Path(record["path"]).exists()}
        for record in ctx.client.list_files(workflow_id)
        if record["id"] in required
    ]
    ctx.emit({"files": records}, rows=records, columns=EXISTING_COLUMNS)
