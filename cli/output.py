"""Every table and JSON document the CLI prints comes from here."""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import click
import orjson

# Tables are laid out here rather than by rich's Table, which took about 1 ms a row (13 s
# for a 10,000-job `jobs list`); the rules are this module's own anyway: widths fitted in
# linear time, values wrapped at spaces, long words ending in an ellipsis.

Column = tuple[str, str]  # (header, key in the row dict)

TABLE_WIDTH = 100  # without a terminal
MIN_WIDTH = 20
# A longer value is cut in tables, its last line saying how much was left out: a 10 MB
# description is not something to read in a table (``-f json`` has every value whole).
MAX_CELL_LINES = 20
MAX_CELL_CHARS = 2_000
_CUT_NOTE = re.compile(r"\([\d,]+ more characters\)")


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
    """Rows under a header, fitted to the terminal: values wrap at spaces inside their
    column, and a word longer than its column ends in an ellipsis (never cut in two)."""
    total = _width()
    cells = [[capped(cell(row.get(key)), total) for _, key in columns] for row in rows]
    if not cells:
        click.echo("(none)")
        return
    headers = [header for header, _ in columns]
    widths = fitted_widths(headers, cells, total)
    lines = [title] if title else []
    lines += table_lines(headers, cells, widths, bold=_styled())
    click.echo("\n".join(lines))


def table_lines(
    headers: Sequence[str], cells: list[list[str]], widths: list[int], bold: bool = False
) -> list[str]:
    """The header (its lines at the bottom), a rule, then the rows (their lines at the
    top); two spaces between columns, no trailing spaces."""
    header_cells = [
        cell_lines(header, width) for header, width in zip(headers, widths, strict=True)
    ]
    height = max(map(len, header_cells))
    header_cells = [[""] * (height - len(lines)) + lines for lines in header_cells]
    header_rows = _joined(header_cells, widths)
    if bold:
        header_rows = [f"\x1b[1m{line}\x1b[0m" for line in header_rows]
    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    body = [
        line
        for values in cells
        for line in _joined(
            [cell_lines(text, width) for text, width in zip(values, widths, strict=True)], widths
        )
    ]
    return [*header_rows, rule, *body]


def _joined(columns: list[list[str]], widths: list[int]) -> list[str]:
    height = max(map(len, columns))
    return [
        "  ".join(
            (lines[index] if index < len(lines) else "").ljust(width)
            for lines, width in zip(columns, widths, strict=True)
        ).rstrip()
        for index in range(height)
    ]


def cell_lines(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``: wrapped at spaces, a longer word cut to end in
    an ellipsis, at most MAX_CELL_LINES lines (the last then ends in an ellipsis). The note
    of a value ``capped`` cut stays, as its last lines."""
    if len(text) <= width and "\n" not in text:
        return [text]
    paragraphs = text.split("\n")
    note: list[str] = []
    if len(paragraphs) > 1 and _CUT_NOTE.fullmatch(paragraphs[-1]):
        note = _wrapped(paragraphs.pop(), width)
    room = MAX_CELL_LINES - len(note)
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += textwrap.wrap(
            paragraph, width, break_long_words=False, break_on_hyphens=False
        ) or [""]
        if len(lines) > room:
            lines[room - 1] += "…"  # cut below
            break
    return _wrapped_to(lines[:room], width) + note


def _wrapped(text: str, width: int) -> list[str]:
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    return _wrapped_to(lines or [""], width)


def _wrapped_to(lines: list[str], width: int) -> list[str]:
    return [line if len(line) <= width else line[: max(width - 1, 0)] + "…" for line in lines]


def capped(text: str, width: int) -> str:
    """``text`` cut to what a table shows of it (at most MAX_CELL_LINES lines of ``width``
    characters, and MAX_CELL_CHARS), then a line saying how many characters were left out:
    a table is for reading (``-f json`` has every value whole), and later steps then take
    time in proportion to the table, not to a 10 MB value."""
    limit = min(MAX_CELL_CHARS, MAX_CELL_LINES * width)
    lines = text[: limit + 1].split("\n", MAX_CELL_LINES)
    if len(lines) > MAX_CELL_LINES:
        kept = "\n".join(lines[:MAX_CELL_LINES])
    elif len(text) > limit:
        kept = text[:limit]
    else:
        return text
    return f"{kept}…\n({len(text) - len(kept):,} more characters)"


def fitted_widths(headers: Sequence[str], cells: list[list[str]], total: int) -> list[int]:
    """Column widths that fit ``total``: each column keeps its natural width (its header or
    widest value) if it can. Otherwise columns give way widest first, in steps: first only
    headers wrap at spaces (down to the widest value), then values wrap at spaces (down to
    their longest word), then headers' long words end in an ellipsis (down to 4), then
    values' long words do (down to 6, then 3). A word is never cut in two. Linear in the
    size of the cells."""
    count = len(headers)
    natural = [len(header) for header in headers]
    values = [0] * count
    header_words = [_longest_word(header) for header in headers]
    value_words = [0] * count
    for row in cells:
        for index, text in enumerate(row):
            width = max(map(len, text.split("\n"))) if "\n" in text else len(text)
            values[index] = max(values[index], width)
            value_words[index] = max(value_words[index], _longest_word(text))
    widths = [max(n, v) for n, v in zip(natural, values, strict=True)]
    budget = total - 2 * (count - 1) - 1  # one pad and one separator between columns
    passes = (
        [max(value, word) for value, word in zip(values, header_words, strict=True)],
        [max(value, word) for value, word in zip(value_words, header_words, strict=True)],
        [max(value, min(word, 4)) for value, word in zip(value_words, header_words, strict=True)],
        [6] * count,
        [3] * count,
    )
    for floors in passes:
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
    at_level = [i for i, (w, f) in enumerate(zip(widths, floors, strict=True)) if w > low >= f]
    for index in at_level[len(at_level) - room :] if room else ():
        shrunk[index] += 1
    return shrunk


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _styled() -> bool:
    """Bold headers on a terminal, unless NO_COLOR is set."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _width() -> int:
    """The terminal's width (COLUMNS wins, as everywhere); without a terminal, COLUMNS or
    100 columns."""
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size((TABLE_WIDTH, 24)).columns, MIN_WIDTH)
    columns = os.environ.get("COLUMNS", "")
    return max(int(columns), MIN_WIDTH) if columns.isdecimal() else TABLE_WIDTH


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
