"""The widgets: tables that build only the rows in view, the text viewer, dialogs.

Widgets draw and scroll; what a key means outside a popup is the app's business
(``tui/app.py``). Popups handle their own keys and report what the user chose with urwid
signals (``close``, ``yes``/``no``, ``submit``/``cancel``), which the app connects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import urwid

from tui import keys
from tui.content import Content, Search
from tui.paging import LoadedRows, PagedRows
from tui.tables import Column, column_widths, fit
from tui.theme import status_attr

Markup = list[tuple[str, str]]
Record = dict[str, Any]
Rows = PagedRows | LoadedRows

MARKER = ">> "
NO_MARKER = "   "
SEPARATOR = " | "


def focused_attr(attr: str) -> str:
    return f"{attr}.focus" if attr.startswith("status.") else "row.focus"


class Row(urwid.Widget):
    """One line of a table: plain, or marked ``>>`` and bold when it has the focus."""

    _sizing = frozenset([urwid.Sizing.FLOW])
    _selectable = True

    def __init__(self, markup: Markup, marker: bool = True) -> None:
        super().__init__()
        prefix = [("body", NO_MARKER)] if marker else []
        focus_prefix = [("row.focus", MARKER)] if marker else []
        self._plain = urwid.Text(prefix + markup, wrap="clip")
        self._focused = urwid.Text(
            focus_prefix + [(focused_attr(attr), text) for attr, text in markup], wrap="clip"
        )

    def rows(self, size: tuple[int, ...], focus: bool = False) -> int:
        return 1

    def render(self, size: tuple[int, ...], focus: bool = False) -> urwid.Canvas:
        return (self._focused if focus else self._plain).render((size[0],), focus)

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        return key


class Line(urwid.Widget):
    """A line of a text view, wrapped to the width (not selectable: the view scrolls
    instead of moving a focus)."""

    _sizing = frozenset([urwid.Sizing.FLOW])

    def __init__(self, markup: Markup | str) -> None:
        super().__init__()
        self._text = urwid.Text(markup or "")

    def rows(self, size: tuple[int, ...], focus: bool = False) -> int:
        return self._text.rows((size[0],), focus)

    def render(self, size: tuple[int, ...], focus: bool = False) -> urwid.Canvas:
        return self._text.render((size[0],), focus)


class IndexWalker(urwid.ListWalker):
    """Positions 0..n-1, widgets built on demand by ``build(index)`` and kept until
    ``reset``: a ListBox over 100,000 rows builds only the ones it shows."""

    def __init__(self, length: Callable[[], int], build: Callable[[int], urwid.Widget]) -> None:
        self._length = length
        self._build = build
        self._cache: dict[int, urwid.Widget] = {}
        self.focus = 0

    def __len__(self) -> int:
        return self._length()

    def reset(self) -> None:
        """The data changed: rebuild widgets as they are shown again."""
        self._cache.clear()
        self.focus = min(self.focus, max(len(self) - 1, 0))
        self._modified()

    def forget(self, indexes: Sequence[int]) -> None:
        for index in indexes:
            self._cache.pop(index, None)
        self._modified()

    def _widget(self, index: int) -> urwid.Widget | None:
        if not 0 <= index < len(self):
            return None
        widget = self._cache.get(index)
        if widget is None:
            widget = self._cache[index] = self._build(index)
            if len(self._cache) > 2000:  # rows long scrolled past
                for stale in list(self._cache)[:1000]:
                    del self._cache[stale]
        return widget

    def get_focus(self) -> tuple[urwid.Widget | None, int | None]:
        widget = self._widget(self.focus)
        return (widget, self.focus) if widget is not None else (None, None)

    def set_focus(self, position: int) -> None:
        self.focus = position
        self._modified()

    def get_next(self, position: int) -> tuple[urwid.Widget | None, int | None]:
        widget = self._widget(position + 1)
        return (widget, position + 1) if widget is not None else (None, None)

    def get_prev(self, position: int) -> tuple[urwid.Widget | None, int | None]:
        widget = self._widget(position - 1) if position > 0 else None
        return (widget, position - 1) if widget is not None else (None, None)

    def positions(self, reverse: bool = False) -> range:
        count = len(self)
        return range(count - 1, -1, -1) if reverse else range(count)


class TableView(urwid.WidgetWrap):
    """A header line and the rows of ``data`` (paged or loaded), as wide as the screen."""

    def __init__(
        self,
        columns: Sequence[Column],
        data: Rows,
        on_missing: Callable[[], None] = lambda: None,
        empty_text: str = "No rows.",
    ) -> None:
        self.columns = tuple(columns)
        self.data = data
        self.empty_text = empty_text
        self._on_missing = on_missing
        self._width = 0
        self._widths: list[int] = []
        self.header = urwid.Text("", wrap="clip")
        self.walker = IndexWalker(lambda: len(self.data), self._build_row)
        self.listbox = urwid.ListBox(self.walker)
        self.empty = urwid.Filler(urwid.Text(("dim", empty_text)), valign="top")
        self.loading = urwid.Filler(urwid.Text(("dim", "Loading…")), valign="top")
        self.pile = urwid.Pile([("pack", self.header), self.listbox])
        super().__init__(self.pile)
        self.changed()

    # Data -------------------------------------------------------------------------------

    def set_rows(self, rows: Rows, focus: int = 0) -> None:
        self.data = rows
        self.walker.focus = max(0, min(focus, len(rows) - 1))
        self.changed()

    def changed(self) -> None:
        """The rows' data changed (a page arrived, a refresh)."""
        self.walker.reset()
        body: urwid.Widget
        if len(self.data):
            body = self.listbox
        elif self.data.loaded:
            body = self.empty
        else:
            body = self.loading
        if self.pile.contents[1][0] is not body:
            self.pile.contents[1] = (body, self.pile.options())
        self._invalidate()

    @property
    def focus_index(self) -> int:
        return self.walker.focus

    def focused_record(self) -> Record | None:
        if len(self.data) == 0:
            return None
        return self.data.row(self.walker.focus)

    def set_focus(self, index: int) -> None:
        """Jump to a row (Home/End, a found record), shown in the middle of the view."""
        if len(self.data):
            self.listbox.set_focus(max(0, min(index, len(self.data) - 1)))
            self.listbox.set_focus_valign("middle")

    def visible_range(self, height: int = 60) -> tuple[int, int]:
        focus = self.walker.focus
        return max(0, focus - height), focus + height

    # Drawing ------------------------------------------------------------------------------

    def render(self, size: tuple[int, ...], focus: bool = False) -> urwid.Canvas:
        maxcol = size[0]
        if maxcol != self._width:
            self._width = maxcol
            self._widths = column_widths(self.columns, maxcol - len(NO_MARKER), len(SEPARATOR))
            self.walker.reset()
        self.header.set_text(self._header_markup())
        canvas = super().render(size, focus)
        self._on_missing()
        return canvas

    def _header_markup(self) -> Markup:
        cells = [
            fit(column.title, width, column.align)
            for column, width in zip(self.columns, self._widths, strict=True)
        ]
        return [("title", NO_MARKER + SEPARATOR.join(cells))]

    def _build_row(self, index: int) -> urwid.Widget:
        record = self.data.row(index)
        if record is None:
            return Row([("dim", "… loading")])
        markup: Markup = []
        for number, (column, width) in enumerate(zip(self.columns, self._widths, strict=True)):
            if number:
                markup.append(("dim", SEPARATOR))
            attr = status_attr(column.value(record)) if column.status else "body"
            markup.append((attr, fit(column.value(record), width, column.align)))
        return Row(markup)


class LinesView(urwid.WidgetWrap):
    """Lines of text (the DAG, a file, a log) that scroll; built as they come into view."""

    def __init__(self, lines: Sequence[Markup | str] = ()) -> None:
        self.lines: Sequence[Markup | str] = lines
        self.decorate: Callable[[int, Markup | str], Markup | str] | None = None
        self.walker = IndexWalker(lambda: len(self.lines), self._build)
        self.listbox = urwid.ListBox(self.walker)
        self.height = 20
        super().__init__(self.listbox)

    def set_lines(self, lines: Sequence[Markup | str], keep_position: bool = False) -> None:
        self.lines = lines
        if not keep_position:
            self.walker.focus = 0
        self.walker.reset()

    def _build(self, index: int) -> urwid.Widget:
        line = self.lines[index]
        if self.decorate is not None:
            line = self.decorate(index, line)
        return Line(line)

    def render(self, size: tuple[int, ...], focus: bool = False) -> urwid.Canvas:
        self.height = size[1]
        return super().render(size, focus)

    # Scrolling: the top line is the walker's focus, placed at the top of the view.

    @property
    def top(self) -> int:
        return self.walker.focus

    def scroll_to(self, line: int, middle: bool = False) -> None:
        count = len(self.lines)
        if not count:
            return
        last_top = max(count - self.height, 0)
        top = line - self.height // 2 if middle else line
        self.walker.set_focus(max(0, min(top, last_top)))
        self.listbox.set_focus_valign("top")

    def scroll(self, lines: int) -> None:
        self.scroll_to(self.top + lines)

    def at_bottom(self) -> bool:
        return self.top >= max(len(self.lines) - self.height, 0)

    def bottom(self) -> None:
        self.scroll_to(len(self.lines))


class TextViewer(urwid.WidgetWrap):
    """The log and file viewer: one or more streams (stdout and stderr), scrolling,
    ``g``/``G``, ``/`` search with ``n``/``N``; the keys come from ``tui/keys.py``.
    Emits ``close``."""

    signals: ClassVar[list[str]] = ["close"]

    def selectable(self) -> bool:
        return True  # it takes keys though nothing in it is selectable

    def __init__(
        self,
        title: str,
        streams: Sequence[tuple[str, Content]],
        *,
        follow: bool = False,
    ) -> None:
        self.title = title
        self.streams = list(streams)
        self.stream = 0
        self.follow = follow  # a live output: keep showing the end while at the bottom
        self.search: Search | None = None
        self.view = LinesView()
        self.view.decorate = self._decorate
        self.tabs = urwid.Text("", wrap="clip")
        self.info = urwid.Text("", wrap="clip")
        self.prompt = urwid.Edit(("title", "Search: "))
        self.searching = False
        self.footer = urwid.Pile([self.info])
        self.frame = urwid.Frame(self.view, header=self.tabs, footer=self.footer)
        self.box = urwid.LineBox(self.frame, title=title, title_align="left")
        super().__init__(self.box)
        self._show_stream(0)

    # Content ---------------------------------------------------------------------------

    @property
    def content(self) -> Content:
        return self.streams[self.stream][1]

    def _show_stream(self, index: int) -> None:
        self.stream = index
        pattern = self.search.pattern if self.search else ""
        self.search = Search(pattern, self.content.lines) if pattern else None
        self.view.set_lines(self.content.lines)
        line = self.search.first_from(0) if self.search else None
        if line is not None:
            self.view.scroll_to(line, middle=True)
        elif self.follow:
            self.view.bottom()
        self._update_chrome()

    def replace(self, index: int, content: Content) -> None:
        """New content for a stream (a log re-read, live output)."""
        at_bottom = self.view.at_bottom()
        self.streams[index] = (self.streams[index][0], content)
        if index != self.stream:
            return
        self.view.set_lines(content.lines, keep_position=True)
        if self.search:
            self.search = Search(self.search.pattern, content.lines)
        if self.follow and at_bottom:
            self.view.bottom()
        self._update_chrome()

    def _update_chrome(self) -> None:
        if len(self.streams) > 1:
            tabs: Markup = []
            for index, (name, _content) in enumerate(self.streams):
                active = index == self.stream
                tabs.append(("tab.active", f"[{name}]") if active else ("tab", f" {name} "))
                tabs.append(("dim", " | "))
            tabs[-1] = ("dim", "   (Tab to switch)")
            self.tabs.set_text(tabs)
        else:
            self.tabs.set_text(("dim", self.streams[0][0]) if self.streams else "")
        lines: list[Markup] = []
        if self.content.path:
            lines.append([("dim", f"{self.content.source}: {self.content.path}")])
        status: Markup = []
        if self.content.note:
            status.append(("warning", f"({self.content.note})  "))
        if self.search:
            status.append(("info", self.search.describe()))
        if status:
            lines.append(status)
        hints = "q: close | /: search | n/N: next/prev | g/G: top/bottom | PgUp/PgDn: scroll"
        lines.append([("hint", hints)])
        markup: Markup = []
        for line in lines:
            markup += [*line, ("body", "\n")]
        self.info.set_text(markup[:-1])

    def _decorate(self, index: int, line: Markup | str) -> Markup | str:
        number = ("dim", f"{index + 1:>6}  ")
        text = line if isinstance(line, str) else "".join(part for _attr, part in line)
        if not self.search or not self.search.by_line.get(index):
            return [number, ("body", text)]
        markup: Markup = [number]
        position = 0
        for start, end, current in self.search.in_line(index):
            markup.append(("body", text[position:start]))
            markup.append(("match.current" if current else "match", text[start:end]))
            position = end
        markup.append(("body", text[position:]))
        return markup

    # Keys ---------------------------------------------------------------------------------

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        if self.searching:
            return self._search_key(size, key)
        command = keys.command_for(key, ["viewer"])
        actions: dict[str, Callable[[], None]] = {
            "SWITCH_STREAM": self._next_stream,
            "SCROLL_UP": lambda: self.view.scroll(-1),
            "SCROLL_DOWN": lambda: self.view.scroll(1),
            "SCROLL_PAGE_UP": lambda: self.view.scroll(-20),
            "SCROLL_PAGE_DOWN": lambda: self.view.scroll(20),
            "TOP": lambda: self.view.scroll_to(0),
            "BOTTOM": self.view.bottom,
            "SEARCH": self._start_search,
            "NEXT_MATCH": lambda: self._step(True),
            "PREV_MATCH": lambda: self._step(False),
            "CLOSE": lambda: self._emit("close"),
        }
        action = actions.get(command or "")
        if action is None:
            return key
        action()
        return None

    def _next_stream(self) -> None:
        if len(self.streams) > 1:
            self._show_stream((self.stream + 1) % len(self.streams))

    def _start_search(self) -> None:
        self.searching = True
        self.prompt.set_edit_text(self.search.pattern if self.search else "")
        self.prompt.set_edit_pos(len(self.prompt.edit_text))
        self.footer.contents.append((self.prompt, self.footer.options()))
        self.footer.focus_position = len(self.footer.contents) - 1
        self.frame.focus_position = "footer"

    def _end_search(self) -> None:
        self.searching = False
        self.footer.contents[:] = [(self.info, self.footer.options())]
        self.frame.focus_position = "body"

    def _search_key(self, size: tuple[int, ...], key: str) -> str | None:
        if key == "esc":
            self._end_search()
        elif key == "enter":
            self._end_search()
            self.run_search(self.prompt.edit_text)
        else:
            self.prompt.keypress((max(size[0] - 2, 1),), key)
        return None

    def run_search(self, pattern: str) -> None:
        self.search = Search(pattern, self.content.lines) if pattern else None
        if self.search:
            line = self.search.first_from(self.view.top)
            if line is not None:
                self.view.scroll_to(line, middle=True)
        self.view.walker.reset()
        self._update_chrome()

    def _step(self, forward: bool) -> None:
        if not self.search:
            return
        line = self.search.step(forward)
        if line is not None:
            self.view.scroll_to(line, middle=True)
        self.view.walker.reset()
        self._update_chrome()


class Dialog(urwid.WidgetWrap):
    """A question answered with ``y`` (emits ``yes``) or ``n``/``Esc`` (emits ``no``)."""

    signals: ClassVar[list[str]] = ["yes", "no"]

    def selectable(self) -> bool:
        return True  # it takes keys though nothing in it is selectable

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        danger: bool = False,
    ) -> None:
        attr = "dialog.danger" if danger else "dialog"
        body: list[urwid.Widget] = [urwid.Text((attr, line)) for line in lines]
        body += [
            urwid.Divider(),
            urwid.Text(("hint", "y: Yes | n: No | Esc: cancel"), align="center"),
        ]
        self.box = urwid.LineBox(urwid.Pile(body), title=title, title_align="left")
        super().__init__(self.box)

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        command = keys.command_for(key, ["dialog"])
        if command == "CONFIRM":
            self._emit("yes")
        elif command == "DECLINE":
            self._emit("no")
        return None


class InputDialog(urwid.WidgetWrap):
    """One line of text: ``Enter`` emits ``submit`` (the text, and the chosen column when
    there are ``choices``, which ``Tab`` steps through: the filter's), ``Esc`` ``cancel``."""

    signals: ClassVar[list[str]] = ["submit", "cancel"]

    def selectable(self) -> bool:
        return True  # it takes keys though nothing in it is selectable

    def __init__(
        self,
        title: str,
        label: str,
        *,
        text: str = "",
        hint: str = "Enter: apply | Esc: cancel",
        choices: Sequence[str] = (),
        choice: str | None = None,
    ) -> None:
        self.choices = list(choices)
        self.choice = self.choices.index(choice) if choice in self.choices else 0
        self.label = label
        self.edit = urwid.Edit(self._caption(), text)
        self.hint = urwid.Text(("hint", ("Tab: change column | " if choices else "") + hint))
        self.box = urwid.LineBox(
            urwid.Pile([self.edit, self.hint]), title=title, title_align="left"
        )
        super().__init__(self.box)

    def _caption(self) -> Markup:
        if self.choices:
            return [("title", f"{self.choices[self.choice]}: ")]
        return [("title", f"{self.label}: ")]

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        if key == "enter":
            column = self.choices[self.choice] if self.choices else None
            self._emit("submit", self.edit.edit_text, column)
        elif key == "esc":
            self._emit("cancel")
        elif key == "tab" and self.choices:
            self.choice = (self.choice + 1) % len(self.choices)
            self.edit.set_caption(self._caption())
        else:
            self.edit.keypress((max(size[0] - 2, 1),), key)
        return None


class TextPopup(urwid.WidgetWrap):
    """Lines to read (help, job details): scrolls; ``q``/``Esc`` emit ``close``, and the
    ``keys`` it is given (``l`` for a job's logs) emit ``key`` with the key."""

    signals: ClassVar[list[str]] = ["close", "key"]

    def selectable(self) -> bool:
        return True  # it takes keys though nothing in it is selectable

    def __init__(
        self,
        title: str,
        lines: Sequence[Markup | str],
        *,
        keys_used: Sequence[str] = (),
        footer: str = "q/Esc: close",
    ) -> None:
        self.keys_used = tuple(keys_used)
        self.view = LinesView(list(lines))
        frame: urwid.Widget = urwid.Frame(self.view, footer=urwid.Text(("hint", footer)))
        self.box = urwid.LineBox(frame, title=title, title_align="left")
        super().__init__(self.box)

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        if keys.command_for(key, ["popup"]) == "CLOSE_POPUP":
            self._emit("close")
        elif key in self.keys_used:
            self._emit("key", key)
        elif key in ("up", "down", "page up", "page down", "home", "end"):
            step = {"up": -1, "down": 1, "page up": -20, "page down": 20}.get(key)
            if step is None:
                self.view.scroll_to(0 if key == "home" else len(self.view.lines))
            else:
                self.view.scroll(step)
        return None


def help_lines() -> list[Markup | str]:
    """The help popup, rendered from the keymap."""
    lines: list[Markup | str] = []
    for section in keys.SECTIONS:
        lines.append([("title", section)])
        for shown, text in keys.help_rows(section):
            lines.append([("hint", f"  {shown:<16}"), ("body", text)])
        lines.append("")
    return lines[:-1]
