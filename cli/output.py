"""Every table and JSON document the CLI prints comes from here."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

Column = tuple[str, str]  # (header, key in the row dict)

TABLE_WIDTH = 100


def json_text(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def print_json(data: Any) -> None:
    click.echo(json_text(data))


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1e6 else f"{value:.3g}"
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


def print_table(rows: Iterable[dict], columns: Sequence[Column], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False, header_style="bold", title_justify="left")
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    count = 0
    for row in rows:
        table.add_row(*(cell(row.get(key)) for _, key in columns))
        count += 1
    console = Console(width=_width(), highlight=False, soft_wrap=False)
    if count == 0:
        console.print("(none)")
        return
    console.print(table)


def _width() -> int:
    if sys.stdout.isatty():
        return max(Console().width, 60)
    return TABLE_WIDTH


def emit(
    data: Any,
    fmt: str,
    *,
    rows: Iterable[dict] | None = None,
    columns: Sequence[Column] = (),
    text: str | None = None,
    title: str | None = None,
) -> None:
    """Print ``data`` as JSON, or as a table of ``rows`` / a ``text`` line for humans."""
    if fmt == "json":
        print_json(data)
    elif rows is not None:
        print_table(rows, columns, title)
    elif text is not None:
        click.echo(text)
    else:
        print_record(data)


def print_record(record: dict) -> None:
    """One object as aligned ``key: value`` lines."""
    width = max((len(key) for key in record), default=0)
    for key, value in record.items():
        click.echo(f"{key.ljust(width)}  {cell(value)}")
