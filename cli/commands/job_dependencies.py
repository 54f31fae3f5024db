"""``torc job-dependencies``: how a workflow's jobs connect to each other, files and data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import click

from cli.client import TorcClient
from cli.context import Context, pass_context
from cli.options import page_options, resolve_workflow_id, workflow_argument

LINK_COLUMNS = [
    ("Producer ID", "producer_job_id"),
    ("Producer", "producer_job_name"),
    ("Consumer ID", "consumer_job_id"),
    ("Consumer", "consumer_job_name"),
]


class Relationship(NamedTuple):
    command: str
    help: str
    key: str  # the JSON key of the list (the endpoint's name)
    columns: list[tuple[str, str]]
    records: Callable[..., Iterator[dict[str, Any]]]  # the client method listing them


RELATIONSHIPS = (
    Relationship(
        "job-job",
        "List job-to-job dependencies of a workflow.",
        "job_dependencies",
        [
            ("Job ID", "job_id"),
            ("Job", "job_name"),
            ("Depends On ID", "depends_on_job_id"),
            ("Depends On", "depends_on_job_name"),
        ],
        TorcClient.list_job_dependencies,
    ),
    Relationship(
        "job-file",
        "List which jobs write and read each file of a workflow.",
        "job_file_relationships",
        [("File ID", "file_id"), ("File", "file_name"), ("Path", "file_path"), *LINK_COLUMNS],
        TorcClient.list_job_file_relationships,
    ),
    Relationship(
        "job-user-data",
        "List which jobs write and read each user data record of a workflow.",
        "job_user_data_relationships",
        [("User Data ID", "user_data_id"), ("User Data", "user_data_name"), *LINK_COLUMNS],
        TorcClient.list_job_user_data_relationships,
    ),
)


@click.group("job-dependencies")
def group() -> None:
    """Job dependency and relationship queries."""


def relationship_command(relationship: Relationship) -> click.Command:
    @click.command(relationship.command, help=relationship.help)
    @workflow_argument
    @page_options
    @pass_context
    def command(ctx: Context, workflow_id: int | None, limit: int, offset: int) -> None:
        workflow_id = resolve_workflow_id(ctx, workflow_id)
        listed = relationship.records(ctx.client, workflow_id, limit=limit, offset=offset)
        rows = list(listed)
        ctx.emit({relationship.key: rows}, rows=rows, columns=relationship.columns)

    return command


for _relationship in RELATIONSHIPS:
    group.add_command(relationship_command(_relationship))
