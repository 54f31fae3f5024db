"""Every table and JSON document the CLI prints comes from here."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import click
import orjson

# rich is imported when a table is drawn: it costs about 25 ms of start-up, which `-f json`,
# `torc run` and the other commands that print no table never need.

Column = tuple[str, str]  # (header, key in the row dict)

TABLE_WIDTH = 100
# A longer value is cut in tables: a 10 MB description is not something to read in a table.
MAX_CELL_CHARS = 2_000


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
    return neutralised(str(value))


# Control characters other than the line break, shown as escapes (ESC as \x1b): a name
# holding an ANSI or OSC sequence must not recolour, retitle or rewrite the user's terminal.
_CONTROLS: dict[int, str] = {
    code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if code != 0x0A
}
_CONTROLS[0x09] = " "  # a tab would only break the alignment


def neutralised(text: str) -> str:
    """``text`` with every terminal control character made visible (one pass, in C)."""
    return text.translate(_CONTROLS)


def print_table(rows: Iterable[dict], columns: Sequence[Column], title: str | None = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    cells = [[clipped(cell(row.get(key))) for _, key in columns] for row in rows]
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


def clipped(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """A table cell of at most about ``limit`` characters (``-f json`` shows every one)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def fitted_widths(headers: Sequence[str], cells: list[list[str]], total: int) -> list[int]:
    """Column widths that fit ``total``: each column keeps its natural width (its header or
    widest value) if it can. Otherwise columns give way widest first, in steps: first only
    headers wrap (down to the widest value), then values wrap at spaces (down to their
    longest word), then down to the header's longest word, then to 6 (words fold)."""
    widths = [
        max([len(header)] + [len(row[index]) for row in cells])
        for index, header in enumerate(headers)
    ]
    header_words = [_longest_word(header) for header in headers]
    values = [max([0] + [len(row[index]) for row in cells]) for index in range(len(headers))]
    value_words = [
        max([header_words[index]] + [_longest_word(row[index]) for row in cells])
        for index in range(len(headers))
    ]
    budget = total - 2 * (len(headers) - 1) - 1  # one pad and one separator between columns
    passes = (
        [max(value, word) for value, word in zip(values, header_words, strict=True)],
        value_words,
        [max(6, word) for word in header_words],
    )
    for floors in (*passes, [6] * len(widths)):
        widths = _shrunk(widths, floors, budget)
    return widths


def _shrunk(widths: list[int], floors: list[int], budget: int) -> list[int]:
    """``widths`` after taking one column from the widest column above its floor (the
    leftmost of equals) until they fit ``budget`` or none can give more.

    Computed without the steps, so a column a million characters wide costs no more than
    a narrow one: every column above its floor ends at a common level L (or its floor),
    with the rightmost of them one wider where the budget leaves room.
    """
    if sum(widths) <= budget:
        return widths

    def at(level: int) -> list[int]:
        return [w if w <= f else max(f, min(w, level)) for w, f in zip(widths, floors, strict=True)]

    low, high = 0, max(widths)  # at(high) is over budget; find the highest level that fits
    if sum(at(low)) > budget:
        return at(low)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if sum(at(middle)) <= budget else (low, middle)
    shrunk = at(low)
    room = budget - sum(shrunk)
    capped = [i for i, (w, f) in enumerate(zip(widths, floors, strict=True)) if w > low >= f]
    for index in capped[len(capped) - room :] if room else ():
        shrunk[index] += 1
    return shrunk


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _width() -> int:
    if sys.stdout.isatty():
        from rich.console import Console

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
        click.echo(fit_text(text))
    else:
        print_record(data)


def fit_text(text: str, width: int | None = None) -> str:
    """Lines of a multi-line text (a report, a plan) longer than the terminal (100 columns
    off one) wrap at spaces, continuing under their own indentation plus two; a single word
    longer than that (a path) stays whole. A one-line message is left as it is: scripts may
    match it."""
    width = width or _width()
    if "\n" not in text:
        return text
    lines = []
    for line in text.splitlines():
        if len(line) <= width:
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        lines += textwrap.wrap(
            line,
            width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [line]
    return "\n".join(lines)


def print_record(record: dict) -> None:
    """One object as aligned ``key  value`` lines; long values wrap under their column."""
    width = max((len(key) for key in record), default=0)
    room = max(_width() - width - 2, 20)
    for key, value in record.items():
        lines = wrap_value(cell(value), room) or [""]
        click.echo(f"{key.ljust(width)}  {lines[0]}".rstrip())
        for line in lines[1:]:
            click.echo(f"{'':{width}}  {line}")


def wrap_value(text: str, room: int) -> list[str]:
    """``text`` in lines of at most ``room`` characters (JSON and paths break anywhere)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, room, break_long_words=True, break_on_hyphens=False) or [
            ""
        ]
    return lines
