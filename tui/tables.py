"""What each detail tab's table shows: its columns, how a page is fetched, how it filters.

Pure data and functions of records: the views draw them, the model fetches with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.shared.status import STATUS_NAMES
from cli.client import TorcClient

Record = dict[str, Any]
Page = Record  # the list envelope: items, total_count, ...


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Record], str]
    width: int = 0  # fixed width; 0: shares the remaining width by ``weight``
    weight: int = 1
    status: bool = False  # drawn in the status colour of the row
    align: str = "left"


@dataclass(frozen=True)
class TableSpec:
    tab: str
    title: str
    columns: tuple[Column, ...]
    fetch: Callable[..., Page]  # (client, workflow_id, offset=, limit=, **filters) -> envelope
    filter_columns: tuple[str, ...]
    # Filters the server can apply itself: column -> function of the typed text giving the
    # query parameters, or None when the text does not name one value exactly.
    server_filters: dict[str, Callable[[str], dict[str, Any] | None]] = field(default_factory=dict)
    hints: str = ""

    def column(self, title: str) -> Column:
        return next(column for column in self.columns if column.title == title)


@dataclass(frozen=True)
class Filter:
    column: str
    text: str

    def matches(self, spec: TableSpec, record: Record) -> bool:
        return self.text.lower() in spec.column(self.column).value(record).lower()

    def describe(self) -> str:
        return f"{self.column} contains '{self.text}'"


def text(key: str) -> Callable[[Record], str]:
    def value(record: Record) -> str:
        found = record.get(key)
        return "" if found is None else str(found)

    return value


def one_line(value: Any) -> str:
    return " ".join(str(value).split())


def status_name(text_typed: str) -> dict[str, Any] | None:
    """The one status the text names (exactly, or as the start of only one name)."""
    typed = text_typed.strip().lower()
    if typed in STATUS_NAMES:
        return {"status": typed}
    candidates = [name for name in STATUS_NAMES if name.startswith(typed)]
    return {"status": candidates[0]} if typed and len(candidates) == 1 else None


def integer(name: str) -> Callable[[str], dict[str, Any] | None]:
    def params(text_typed: str) -> dict[str, Any] | None:
        try:
            return {name: int(text_typed.strip())}
        except ValueError:
            return None

    return params


def timestamp_ms(record: Record) -> str:
    stamp = record.get("timestamp")
    if not isinstance(stamp, int | float):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp / 1000))


def event_type(record: Record) -> str:
    data = record.get("data")
    return str(data.get("type", "")) if isinstance(data, dict) else ""


def event_data(record: Record) -> str:
    data = record.get("data")
    if not isinstance(data, dict):
        return one_line(data)
    shown = {key: value for key, value in data.items() if key not in ("type", "category")}
    return ", ".join(f"{key}={one_line(value)}" for key, value in shown.items())


def minutes(record: Record) -> str:
    value = record.get("exec_time_minutes")
    return "" if value is None else f"{value:.2f}"


def mtime(record: Record) -> str:
    value = record.get("st_mtime")
    if value is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def job_status(record: Record) -> str:
    return str(record.get("status", ""))


JOBS = TableSpec(
    tab="jobs",
    title="Jobs",
    columns=(
        Column("ID", text("id"), width=8, align="right"),
        Column("Name", text("name"), weight=2),
        Column("Status", job_status, width=14, status=True),
        Column("Attempt", text("attempt_id"), width=7, align="right"),
        Column("Command", lambda record: one_line(record.get("command", "")), weight=3),
    ),
    fetch=TorcClient.jobs_page,
    filter_columns=("Status", "Name", "Command"),
    server_filters={"Status": status_name},
    hints="Enter: details | l: logs | c: cancel | t: terminate | y: retry | f: filter",
)

FILES = TableSpec(
    tab="files",
    title="Files",
    columns=(
        Column("ID", text("id"), width=8, align="right"),
        Column("Name", text("name"), weight=2),
        Column("Path", text("path"), weight=4),
        Column("Modified", mtime, width=19),
    ),
    fetch=TorcClient.files_page,
    filter_columns=("Name", "Path"),
    hints="Enter: view file | f: filter",
)

EVENTS = TableSpec(
    tab="events",
    title="Events",
    columns=(
        Column("ID", text("id"), width=8, align="right"),
        Column("Time", timestamp_ms, width=19),
        Column("Event Type", event_type, width=26),
        Column("Data", event_data, weight=1),
    ),
    fetch=TorcClient.events_page,
    filter_columns=("Event Type", "Data"),
    hints="newest first | f: filter",
)

RESULTS = TableSpec(
    tab="results",
    title="Results",
    columns=(
        Column("ID", text("id"), width=8, align="right"),
        Column("Job ID", text("job_id"), width=8, align="right"),
        Column("Run", text("run_id"), width=4, align="right"),
        Column("Attempt", text("attempt_id"), width=7, align="right"),
        Column("Return Code", text("return_code"), width=11, align="right"),
        Column("Status", job_status, width=14, status=True),
        Column("Minutes", minutes, width=8, align="right"),
        Column("Completed", text("completion_time"), weight=1),
        Column("Compute Node", text("compute_node_id"), width=12, align="right"),
    ),
    fetch=TorcClient.results_page,
    filter_columns=("Status", "Return Code", "Job ID"),
    server_filters={
        "Status": status_name,
        "Return Code": integer("return_code"),
        "Job ID": integer("job_id"),
    },
    hints="f: filter",
)

NODES = TableSpec(
    tab="nodes",
    title="Scheduled Nodes",
    columns=(
        Column("ID", text("id"), width=8, align="right"),
        Column("Scheduler ID", text("scheduler_id"), width=14, align="right"),
        Column("Scheduler Type", text("scheduler_type"), width=15),
        Column("Config ID", text("scheduler_config_id"), width=9, align="right"),
        Column("Status", job_status, width=12, status=True),
        Column(
            "Logs",
            lambda record: "l: view" if record.get("scheduler_type") == "slurm" else "",
            weight=1,
        ),
    ),
    fetch=TorcClient.scheduled_compute_nodes_page,
    filter_columns=("Status", "Scheduler Type"),
    hints="l: Slurm logs | f: filter",
)

TABLES: dict[str, TableSpec] = {spec.tab: spec for spec in (JOBS, FILES, EVENTS, RESULTS, NODES)}

# The detail tabs in Tab order: the seed's five, then Scheduled Nodes.
TABS: tuple[tuple[str, str], ...] = (
    ("jobs", "Jobs"),
    ("files", "Files"),
    ("events", "Events"),
    ("results", "Results"),
    ("dag", "DAG"),
    ("nodes", "Scheduled Nodes"),
)


def column_widths(columns: tuple[Column, ...], width: int, separator: int = 3) -> list[int]:
    """Each column's width in ``width`` cells (fixed ones first, the rest by weight)."""
    fixed = sum(column.width for column in columns if column.width)
    flexible = [column for column in columns if not column.width]
    spare = max(width - fixed - separator * (len(columns) - 1), len(flexible) * 4)
    weights = sum(column.weight for column in flexible) or 1
    widths, given = [], 0
    for column in columns:
        if column.width:
            widths.append(column.width)
            continue
        share = spare * column.weight // weights
        widths.append(share)
        given += share
    if flexible:  # the remainder of the division goes to the last flexible column
        last = max(i for i, column in enumerate(columns) if not column.width)
        widths[last] += spare - given
    return widths


def fit(value: str, width: int, align: str = "left") -> str:
    if len(value) > width:
        return value[: max(width - 1, 0)] + "…" if width > 0 else ""
    return value.rjust(width) if align == "right" else value.ljust(width)
