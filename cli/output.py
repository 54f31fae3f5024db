"""Every table and JSON document the CLI prints comes from here."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
import orjson
from rich import box
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
    cells = [[cell(row.get(key)) for _, key in columns] for row in rows]
    console = Console(width=_width(), highlight=False, soft_wrap=False)
    if not cells:
        console.print("(none)")
        return
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        header_style="bold",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    widths = fitted_widths([header for header, _ in columns], cells, console.width)
    for (header, _), width in zip(columns, widths, strict=True):
        table.add_column(header, width=width, overflow="fold")
    for values in cells:
        table.add_row(*values)
    console.print(table)


def fitted_widths(headers: Sequence[str], cells: list[list[str]], total: int) -> list[int]:
    """Column widths that fit ``total``: columns keep their natural width (widest value, or
    the header's longest word) and only the widest columns give way, down to 6."""
    widths = [
        max(
            [max((len(word) for word in header.split()), default=0)]
            + [len(row[index]) for row in cells]
        )
        for index, header in enumerate(headers)
    ]
    budget = total - 2 * (len(headers) - 1) - 1  # one pad and one separator between columns
    while sum(widths) > budget:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= 6:
            break
        widths[widest] -= 1
    return widths


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
