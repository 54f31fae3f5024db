"""``torc tui``: the terminal console (the seed's Terminal UI section).

``TorcTUI.create(client, options, ...)`` builds the screen and the urwid loop;
``TorcTUI.run()`` runs it. The app owns the widgets and the state (``tui/model.py``),
turns keys into commands through the keymap (``tui/keys.py``), and sends every server call
to the worker (``tui/worker.py``): the screen never waits for the network, and a server that
is down or slow shows "Could not connect to server" instead of freezing the UI.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import urwid

from app.shared.status import status_title
from cli import workflow_manager
from cli.client import ApiError, NotFound, ServerUnreachable, TorcClient, TorcClientError
from cli.spec.errors import SpecError
from tui import keys, model
from tui.content import Content
from tui.model import Options, State, TabData
from tui.paging import LoadedRows, PagedRows
from tui.process import ManagedServer, OutputProcess, child_env, torc_command
from tui.tables import TABLES, TABS, Column, Filter, TableSpec, text
from tui.theme import PALETTE, status_attr
from tui.views import Dialog, InputDialog, LinesView, TableView, TextPopup, TextViewer, help_lines
from tui.worker import PipeBridge, Post, Worker

logger = logging.getLogger("tui")

T = TypeVar("T")
Markup = list[tuple[str, str]]
Record = dict[str, Any]

CONNECT_ERROR = "Could not connect to server"
HEADER_HINTS = (
    "?: help | n: new | i: init | I: reinit | R: reset | x: run | s: submit | C: cancel | "
    "d: delete | q: quit"
)
NAVIGATION = {"UP", "DOWN", "PAGE_UP", "PAGE_DOWN"}
TAB_TITLES = dict(TABS)
WORKFLOW_COLUMNS = (
    Column("ID", text("id"), width=6, align="right"),
    Column("Name", text("name"), weight=2),
    Column("User", text("user"), width=14),
    Column("Description", text("description"), weight=4),
)
DAG_REFRESH_LIMIT = 2000  # above this many jobs the DAG is redrawn on `r` only
SLOW_CALL_SECONDS = 2.0  # a call taking longer says "Waiting for the server"
MAX_MESSAGE = 360  # the status line: three lines of a 120-column terminal


def on(widget: urwid.Widget, signal: str, callback: Callable[..., None]) -> None:
    """Connect a widget's signal to ``callback`` (called with the signal's arguments)."""
    urwid.connect_signal(widget, signal, lambda _widget, *args: callback(*args))


class Clock(Protocol):
    def call_later(self, seconds: float, callback: Callable[[], None]) -> Any: ...


class LoopClock:
    """Timers on the urwid loop (callbacks run on the UI thread)."""

    def __init__(self, loop: urwid.MainLoop) -> None:
        self.loop = loop

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Any:
        return self.loop.set_alarm_in(seconds, lambda _loop, _data: callback())


class Swallow(urwid.WidgetWrap):
    """A pane that keeps the arrow keys it does not use, so reaching the top of a table
    does not move the focus to the pane above."""

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        rest = super().keypress(size, key)
        return None if rest in ("up", "down", "page up", "page down") else rest


class Screen(urwid.WidgetWrap):
    """The top widget: popups take keys first, then the app's keymap, then the panes."""

    def __init__(self, app: TorcTUI, body: urwid.Widget) -> None:
        self.app = app
        self.holder = urwid.WidgetPlaceholder(body)
        super().__init__(self.holder)

    def selectable(self) -> bool:
        return True  # urwid gives keys only to a selectable top widget

    def keypress(self, size: tuple[int, ...], key: str) -> str | None:
        if self.app.popups:
            return self.holder.keypress(size, key)
        if self.app.on_key(key):
            return None
        return super().keypress(size, key)


class TorcTUI:
    """The console: its widgets, its state, and what each key does.

    Built without a loop (``attach`` gives it a worker, timers and the way back to the UI
    thread), so tests drive the same object key by key; ``create`` puts it on urwid."""

    def __init__(
        self,
        state: State,
        options: Options,
        client_factory: Callable[[str], TorcClient],
    ) -> None:
        self.state = state
        self.options = options
        self.client_factory = client_factory
        self.worker: Worker | None = None
        self.clock: Clock | None = None
        self.post: Post = lambda callback: callback()
        self.loop: urwid.MainLoop | None = None
        self.popups: list[urwid.Widget] = []
        self.server: ManagedServer | None = None
        self.runs: dict[int, OutputProcess] = {}  # workflow ID -> its `torc run`
        self.message: Markup = []
        self.focus = "workflows"
        self._poll_in_flight = False
        self._waiting = False
        self._new_url = False
        self._process_view: Callable[[], None] | None = None
        self._auto_refresh_generation = 0
        self._events_all: list[Record] = []
        self._events_total = 0
        self._build()

    # Construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        client: TorcClient,
        options: Options,
        *,
        user: str,
        client_factory: Callable[[str], TorcClient],
    ) -> TorcTUI:
        """The app on a urwid loop, its worker and timers attached."""
        state = State(url=client.base_url, user=user, user_filter=user)
        app = cls(state, options, client_factory)
        loop = urwid.MainLoop(app.top, PALETTE, handle_mouse=False)
        bridge = PipeBridge(loop, app._callback_failed)
        app.attach(Worker(client, bridge), LoopClock(loop), bridge)
        app.loop = loop
        return app

    def attach(self, worker: Worker, clock: Clock, post: Post) -> None:
        self.worker, self.clock, self.post = worker, clock, post

    def _build(self) -> None:
        self.header_text = urwid.Text("", wrap="clip")
        self.server_text = urwid.Text("", wrap="clip")
        self.user_text = urwid.Text("", wrap="clip")
        # Wrapped, so the reason an action failed is read whole (a few lines at most).
        self.status_text = urwid.Text("")
        self.workflows = TableView(
            WORKFLOW_COLUMNS,
            LoadedRows(),
            empty_text="No workflows (n: create one from a spec file).",
        )
        self.workflows_box = urwid.LineBox(Swallow(self.workflows), title_align="left")
        self.tabbar = urwid.Text("", wrap="clip")
        self.placeholder = urwid.Filler(
            urwid.Text(("dim", "Select a workflow and press Enter to load its details.")),
            valign="top",
        )
        self.details = urwid.Pile([("pack", self.tabbar), self.placeholder])
        self.details_box = urwid.LineBox(Swallow(self.details), title_align="left")
        self.tables: dict[str, TableView] = {}
        self.dag_view = LinesView()
        self.header_box = urwid.LineBox(self.header_text, "Torc Management Console", "left")
        self.panes = urwid.Pile(
            [
                ("pack", self.header_box),
                ("pack", urwid.LineBox(self.server_text, "Server", "left")),
                ("pack", urwid.LineBox(self.user_text, "User Filter", "left")),
                ("weight", 1, self.workflows_box),
                ("weight", 2, self.details_box),
            ]
        )
        frame: urwid.Widget = urwid.Frame(self.panes, footer=self.status_text)
        self.top = Screen(self, urwid.AttrMap(frame, "body"))
        self._set_focus("workflows")
        self._redraw_bars()

    # Running -----------------------------------------------------------------------------

    def run(self) -> None:
        assert self.loop is not None
        self.start()
        previous = self._quit_on_hangup()
        try:
            self.loop.run()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self.shutdown()

    def _quit_on_hangup(self) -> dict[int, Any]:
        """SIGHUP (the terminal is gone: a dropped SSH connection, a closed tmux) and SIGTERM
        end the TUI as ``q`` does, so the server and runs it started are stopped, not left
        behind. The handler only posts the quit: the loop ends between two callbacks."""

        def quit_soon(_number: int, _frame: Any) -> None:
            self.post(self.quit)

        return {
            number: signal.signal(number, quit_soon) for number in (signal.SIGHUP, signal.SIGTERM)
        }

    def start(self) -> None:
        """First loads and the timers (and the server, in standalone mode)."""
        if self.options.standalone:
            self._start_server(self.options.port)
        else:
            self.refresh_workflows()
        self._schedule_tick()

    def shutdown(self) -> None:
        """Stop what the TUI started: its runs (they stop and report their jobs) and its
        server. Called after the screen is restored, so it can say what it waits for."""
        for workflow_id, process in self.runs.items():
            if process.running:
                _tell(f"torc tui: stopping the run of workflow {workflow_id}…")
                process.stop()
        if self.server is not None and self.server.running:
            _tell(f"torc tui: stopping torc-server (pid {self.server.pid})…")
            self.server.stop()
        if self.worker is not None:
            self.worker.close()

    def quit(self) -> None:
        raise urwid.ExitMainLoop()

    # Calls to the server ------------------------------------------------------------------

    def call(
        self,
        fn: Callable[[TorcClient], T],
        done: Callable[[T], None],
        what: str,
        failed: Callable[[Exception], None] | None = None,
    ) -> None:
        """``fn(client)`` on the worker; ``done(result)`` here. ``what`` names the call in
        an error message ("Load jobs failed: ...")."""
        assert self.worker is not None

        def succeeded(value: T) -> None:
            self._connected()
            done(value)

        def went_wrong(exc: Exception) -> None:
            if failed is not None:
                failed(exc)
            self._call_failed(what, exc)

        self.worker.submit(fn, succeeded, went_wrong)

    def _call_failed(self, what: str, exc: Exception) -> None:
        if isinstance(exc, ServerUnreachable):
            self._disconnected(exc)
            return
        if isinstance(exc, ApiError):
            self._connected()
        if not isinstance(exc, TorcClientError | SpecError | OSError | ValueError):
            logger.error("%s failed", what, exc_info=exc)
        self.say(f"{what} failed: {exc}", "error")

    def _callback_failed(self, exc: BaseException) -> None:
        self.say(f"Internal error: {type(exc).__name__}: {exc}", "error")

    def _connected(self) -> None:
        was = self.state.connected
        if was is True:
            return
        self.state.connected = True
        self._redraw_bars()
        if was is False or self._new_url:
            self._new_url = False
            self.say(f"Connected to server at {self.state.url}", "ok")
            self.refresh_workflows()
            if self.state.workflow is not None:
                self._reload_details()

    def _disconnected(self, exc: Exception) -> None:
        was = self.state.connected
        self.state.connected = False
        self._redraw_bars()
        if was is False:
            return  # said already; the Server bar keeps saying it
        hint = " (S: start a server, u: change the URL)" if self.server is None else ""
        self.say(f"{CONNECT_ERROR} at {self.state.url}{hint}", "error")
        logger.info("server unreachable: %s", exc)

    # Timers -------------------------------------------------------------------------------

    def _schedule_tick(self) -> None:
        if self.clock is not None:
            self.clock.call_later(self.options.live_interval, self.tick)

    def tick(self) -> None:
        """Every second: one cheap question (the loaded workflow's newest event time, or a
        ping); an answer that changed means news, an error means the server is gone. Live
        updates are asked for, not streamed: D19 (docs/decisions.md)."""
        self._schedule_tick()
        self._say_if_waiting()
        if self._poll_in_flight:
            return
        if self.server is not None and self.server.port is None and self.server.running:
            return  # a server the TUI starts is not listening yet
        self._poll_in_flight = True
        workflow_id = self.workflow_id

        def answered(latest: int | None) -> None:
            self._poll_in_flight = False
            if workflow_id != self.workflow_id:
                return
            previous, self.state.latest_event = self.state.latest_event, latest
            if workflow_id is not None and previous is not None and latest != previous:
                self._on_news(previous)

        def failed(exc: Exception) -> None:
            self._poll_in_flight = False
            if isinstance(exc, NotFound) and workflow_id == self.workflow_id:
                self._unload_workflow()  # deleted elsewhere
                self.refresh_workflows()

        self.call(lambda client: model.poll(client, workflow_id), answered, "Refresh", failed)

    def _say_if_waiting(self) -> None:
        """A call taking long: say so (it ends as an answer or "Could not connect")."""
        since = self.worker.busy_since if self.worker else None
        waited = time.monotonic() - since if since is not None else 0.0
        if waited >= SLOW_CALL_SECONDS and self.state.connected is not False:
            self.say(f"Waiting for the server ({waited:.0f} s)…", "warning")
            self._waiting = True
        elif self._waiting and since is None:
            self._waiting = False
            if self.message and self.message[0][1].startswith("Waiting for the server"):
                self.say("")

    def toggle_auto_refresh(self) -> None:
        self.state.auto_refresh = not self.state.auto_refresh
        self._auto_refresh_generation += 1
        if self.state.auto_refresh:
            self._schedule_auto_refresh(self._auto_refresh_generation)
        self.say(
            f"Auto-refresh {'enabled (30s interval)' if self.state.auto_refresh else 'disabled'}"
        )
        self._redraw_bars()

    def _schedule_auto_refresh(self, generation: int) -> None:
        def fire() -> None:
            if generation != self._auto_refresh_generation or not self.state.auto_refresh:
                return
            self.refresh_all(quiet=True)
            self._schedule_auto_refresh(generation)

        if self.clock is not None:
            self.clock.call_later(self.options.auto_refresh_interval, fire)

    # Keys ---------------------------------------------------------------------------------

    def contexts(self) -> list[str]:
        if self.focus == "workflows":
            return ["workflows", "main"]
        return [self.state.tab, "details", "main"]

    def on_key(self, key: str) -> bool:
        """Handle a key outside popups; False lets the focused pane have it (scrolling)."""
        if not isinstance(key, str):
            return True  # mouse events
        command = keys.command_for(key, self.contexts())
        if command in NAVIGATION:
            return False  # the focused table scrolls
        if command is None:
            return True  # keys with no meaning here do nothing (and move no focus)
        handler = getattr(self, f"cmd_{command.lower()}", None)
        if handler is not None:
            handler()
        return True

    # Navigation commands

    def cmd_first(self) -> None:
        self._focused_table_jump(0)

    def cmd_last(self) -> None:
        self._focused_table_jump(None)

    def _focused_table_jump(self, index: int | None) -> None:
        table = self.workflows if self.focus == "workflows" else self.tables.get(self.state.tab)
        if table is not None:
            table.set_focus(len(table.data) - 1 if index is None else index)
        elif self.state.tab == "dag" and self.focus == "details":
            self.dag_view.scroll_to(0 if index == 0 else len(self.dag_view.lines))

    def cmd_focus_workflows(self) -> None:
        self._set_focus("workflows")

    def cmd_focus_details(self) -> None:
        self._set_focus("details")

    def cmd_next_tab(self) -> None:
        self._switch_tab(1)

    def cmd_prev_tab(self) -> None:
        self._switch_tab(-1)

    def cmd_quit(self) -> None:
        self.quit()

    def cmd_help(self) -> None:
        self.show(TextPopup("Help: torc tui keys", help_lines()), height=("relative", 90))

    def cmd_refresh(self) -> None:
        if self.loop is not None:
            self.loop.screen.clear()
        self.refresh_all()

    def cmd_auto_refresh(self) -> None:
        self.toggle_auto_refresh()

    def cmd_load_workflow(self) -> None:
        record = self.workflows.focused_record()
        if record is None:
            self.say("No workflow selected", "warning")
            return
        self.load_workflow(record)
        self._set_focus("details")

    # Focus and tabs -----------------------------------------------------------------------

    def _set_focus(self, pane: str) -> None:
        self.focus = pane
        self.panes.focus_position = 3 if pane == "workflows" else 4
        self._redraw_titles()

    def _switch_tab(self, step: int) -> None:
        names = [name for name, _title in TABS]
        self.state.tab = names[(names.index(self.state.tab) + step) % len(names)]
        self._show_tab()

    def _show_tab(self) -> None:
        tab = self.state.tab
        if self.state.workflow is None:
            body: urwid.Widget = self.placeholder
        elif tab == "dag":
            body = self.dag_view
            self._load_dag()
        else:
            data = self.state.tabs[tab]
            table = self.tables[tab]
            if not data.loaded:
                self._load_tab(tab)
            body = table
        self.details.contents[1] = (body, self.details.options())
        self.details.focus_position = 1
        self._redraw_titles()

    # Workflows ----------------------------------------------------------------------------

    @property
    def workflow_id(self) -> int | None:
        return None if self.state.workflow is None else self.state.workflow["id"]

    @property
    def loaded_id(self) -> int:
        """The loaded workflow's ID, where code runs only while one is loaded."""
        assert self.state.workflow is not None
        return int(self.state.workflow["id"])

    def refresh_workflows(self, select: int | None = None) -> None:
        user = self.state.user_filter

        def loaded(records: list[Record]) -> None:
            if user != self.state.user_filter:
                return
            current = self.workflows.focused_record()
            wanted = select if select is not None else (current or {}).get("id")
            self.state.workflows = records
            index = next((i for i, r in enumerate(records) if r["id"] == wanted), 0)
            self.workflows.set_rows(LoadedRows(records), index)
            workflow = self.state.workflow
            if workflow is not None and user in (None, workflow["user"]):
                if not any(r["id"] == workflow["id"] for r in records):
                    self._unload_workflow()  # deleted elsewhere
            self._redraw_titles()

        self.call(lambda client: model.fetch_workflows(client, user), loaded, "Load workflows")

    def load_workflow(self, record: Record) -> None:
        self.state.workflow = record
        self.state.reset_details()
        self._events_all, self._events_total = [], 0
        self.tables = {
            name: TableView(spec.columns, self.state.tabs[name].rows, self._fetch_missing(name))
            for name, spec in TABLES.items()
        }
        self.dag_view.set_lines([])
        self._load_counts()
        workflow_id = record["id"]

        def latest(stamp: int | None) -> None:
            if workflow_id == self.workflow_id:
                self.state.latest_event = stamp

        self.call(lambda client: model.poll(client, workflow_id), latest, "Load workflow")
        self._show_tab()

    def _unload_workflow(self) -> None:
        self.state.workflow = None
        self.state.reset_details()
        self.tables = {}
        self._show_tab()

    def _reload_details(self) -> None:
        for data in self.state.tabs.values():
            data.loaded = False
        self._load_counts()
        self._show_tab()

    def refresh_all(self, quiet: bool = False) -> None:
        self.refresh_workflows()
        if self.state.workflow is not None:
            self._load_counts()
            self._refresh_tab(self.state.tab)
            for name, data in self.state.tabs.items():
                if name != self.state.tab:
                    data.loaded = False
        if not quiet:
            self.say("Refreshed")

    def _load_counts(self) -> None:
        if self.state.workflow is None:
            return
        workflow_id = self.loaded_id

        def loaded(counts: dict[str, int]) -> None:
            if workflow_id == self.workflow_id:
                self.state.counts = counts
                self._redraw_titles()
                if self._process_view is not None:
                    self._process_view()

        self.call(lambda client: model.fetch_counts(client, workflow_id), loaded, "Load job counts")

    def _on_news(self, since: int) -> None:
        """Something happened in the loaded workflow: refresh what is in view."""
        self._load_counts()
        tab = self.state.tab
        if tab == "events":
            self._load_new_events(since)
        else:
            self._refresh_tab(tab)
        for name, data in self.state.tabs.items():
            if name not in (tab, "events"):
                data.loaded = False
        if tab != "events" and self.state.tabs["events"].loaded:
            self._load_new_events(since)

    # Detail tabs --------------------------------------------------------------------------

    def _fetch_missing(self, tab: str) -> Callable[[], None]:
        def fetch() -> None:
            data = self.state.tabs.get(tab)
            if data is None or not isinstance(data.rows, PagedRows):
                return
            for page in data.rows.take_wanted():
                self._fetch_page(tab, data, page)

        return fetch

    def _fetch_page(self, tab: str, data: TabData, page: int) -> None:
        rows = data.rows
        assert isinstance(rows, PagedRows)
        spec = TABLES[tab]
        workflow_id = self.loaded_id
        params = model.server_params(spec, data.filter) or {}
        offset, limit = rows.offset_of(page), rows.page_size

        def stored(envelope: Record) -> None:
            if self.state.tabs.get(tab) is not data or data.rows is not rows:
                return
            rows.store(page, envelope["items"], envelope["total_count"])
            self.tables[tab].changed()
            self._redraw_titles()

        def failed(_exc: Exception) -> None:
            rows.dropped(page)

        self.call(
            lambda client: model.fetch_page(client, spec, workflow_id, offset, limit, params),
            stored,
            f"Load {TAB_TITLES[tab].lower()}",
            failed,
        )

    def _load_tab(self, tab: str) -> None:
        data = self.state.tabs[tab]
        data.loaded = True
        if tab == "events":
            self._load_events()
            return
        spec = TABLES[tab]
        params = model.server_params(spec, data.filter)
        if params is None and data.filter is not None:
            self._load_filtered(tab, spec, data, data.filter)
            return
        data.rows = PagedRows()
        self.tables[tab].set_rows(data.rows)
        data.rows.want(0)
        self._fetch_missing(tab)()

    def _refresh_tab(self, tab: str) -> None:
        data = self.state.tabs.get(tab)
        if data is None or tab == "dag":
            if tab == "dag":
                self._load_dag(refresh=True)
            return
        if tab == "events":
            self._load_events()
            return
        if isinstance(data.rows, PagedRows) and data.rows.loaded:
            first, last = self.tables[tab].visible_range()
            data.rows.refresh(first, min(last, max(len(data.rows) - 1, 0)))
            self._fetch_missing(tab)()
        else:
            self._load_tab(tab)

    def _load_filtered(self, tab: str, spec: TableSpec, data: TabData, flt: Filter) -> None:
        workflow_id = self.loaded_id
        self.say(f"Filtering {spec.title.lower()}: {flt.describe()}…")

        def found(records: list[Record]) -> None:
            if self.state.tabs.get(tab) is not data or data.filter is not flt:
                return
            data.rows = LoadedRows(records)
            self.tables[tab].set_rows(data.rows)
            self.say(f"{len(records)} {spec.title.lower()} where {flt.describe()}")
            self._redraw_titles()

        self.call(
            lambda client: model.fetch_filtered(client, spec, workflow_id, flt),
            found,
            f"Filter {spec.title.lower()}",
        )

    def _load_events(self) -> None:
        workflow_id = self.loaded_id
        data = self.state.tabs["events"]
        data.loaded = True

        def loaded(answer: tuple[list[Record], int]) -> None:
            if workflow_id != self.workflow_id:
                return
            self._events_all, self._events_total = answer
            self._show_events()

        self.call(lambda client: model.fetch_events(client, workflow_id), loaded, "Load events")

    def _load_new_events(self, since: int) -> None:
        workflow_id = self.loaded_id

        def loaded(records: list[Record]) -> None:
            if workflow_id != self.workflow_id:
                return
            known = {record["id"] for record in self._events_all[:1000]}
            fresh = [record for record in records if record["id"] not in known]
            fresh.sort(key=lambda record: record["id"], reverse=True)
            self._events_all = (fresh + self._events_all)[: model.EVENTS_KEPT]
            self._events_total += len(fresh)
            self._show_events(shifted=len(fresh))

        self.call(
            lambda client: model.fetch_new_events(client, workflow_id, since),
            loaded,
            "Load events",
        )

    def _show_events(self, shifted: int = 0) -> None:
        data = self.state.tabs["events"]
        spec = TABLES["events"]
        records = self._events_all
        if data.filter is not None:
            records = [record for record in records if data.filter.matches(spec, record)]
        table = self.tables["events"]
        focus = table.focus_index
        # Newest at the top: keep the focus on the event it was on, unless at the top.
        keep = focus + shifted if focus > 0 and data.filter is None else 0
        data.rows = LoadedRows(records)
        table.set_rows(data.rows, keep)
        self._redraw_titles()

    def _load_dag(self, refresh: bool = False) -> None:
        if self.state.dag_lines and not refresh:
            return
        total = sum(self.state.counts.values())
        if refresh and self.state.dag_lines and total > DAG_REFRESH_LIMIT:
            return
        workflow_id = self.loaded_id
        if not self.state.dag_lines:
            self.dag_view.set_lines([[("dim", "Building the DAG…")]])

        def drawn(lines: list[Markup]) -> None:
            if workflow_id == self.workflow_id:
                self.state.dag_lines = lines
                self.dag_view.set_lines(lines, keep_position=refresh)

        self.call(lambda client: model.fetch_dag(client, workflow_id), drawn, "Build the DAG")

    def cmd_filter(self) -> None:
        tab = self.state.tab
        spec = TABLES[tab]
        data = self.state.tabs[tab]
        current = data.filter

        def apply(value: str, column: str | None) -> None:
            self.close_popup()
            data.filter = Filter(column or spec.filter_columns[0], value) if value.strip() else None
            if tab == "events":
                self._show_events()
            else:
                self._load_tab(tab)
            if data.filter is None:
                self.say(f"{spec.title}: filter cleared")

        dialog = InputDialog(
            f"Filter {spec.title}",
            "Filter",
            text=current.text if current else "",
            hint="Enter: apply (empty: clear) | Esc: cancel",
            choices=spec.filter_columns,
            choice=current.column if current else None,
        )
        self.ask(dialog, apply)

    # Jobs tab -----------------------------------------------------------------------------

    def _focused(self, tab: str) -> Record | None:
        table = self.tables.get(tab)
        record = table.focused_record() if table is not None else None
        if record is None:
            self.say(f"No {TAB_TITLES[tab].lower().rstrip('s')} selected", "warning")
        return record

    def cmd_job_details(self) -> None:
        job = self._focused("jobs")
        if job is None:
            return
        lines: list[Markup | str] = [
            [("title", "ID: "), ("body", str(job["id"]))],
            [("title", "Name: "), ("body", job["name"])],
            [("title", "Status: "), (status_attr(job["status"]), status_title(job["status"]))],
            [("title", "Attempt: "), ("body", str(job.get("attempt_id")))],
            "",
            [("title", "Command:")],
            *job["command"].splitlines(),
        ]
        for key in (
            "invocation_script",
            "resource_requirements_id",
            "scheduler_id",
            "failure_handler_id",
        ):
            if job.get(key) is not None:
                lines.append([("title", f"{key}: "), ("body", str(job[key]))])

        def logs() -> None:
            self.close_popup()
            self.cmd_job_logs()

        popup = TextPopup(
            f"Job Details: {job['name']}",
            lines,
            keys_used=["l"],
            footer="q/Esc: close | l: view logs",
        )
        on(popup, "key", lambda _key: logs())
        self.show(popup, height=("relative", 80))

    def cmd_job_logs(self) -> None:
        job = self._focused("jobs")
        if job is None:
            return
        workflow_id = self.loaded_id
        output_dir = self.options.output_dir

        def show(streams: list[tuple[str, Content]]) -> None:
            self.show(TextViewer(f"Logs: {job['name']} (job {job['id']})", streams))

        self.call(
            lambda client: model.read_job_logs(client, workflow_id, job, output_dir),
            show,
            "Load logs",
        )

    def cmd_cancel_job(self) -> None:
        self._job_status_action("canceled", "Cancel Job", "Cancel job '{}'?", "Job '{}' canceled")

    def cmd_terminate_job(self) -> None:
        self._job_status_action(
            "terminated", "Terminate Job", "Terminate job '{}'?", "Job '{}' terminated"
        )

    def _job_status_action(self, status: str, title: str, question: str, done_text: str) -> None:
        job = self._focused("jobs")
        if job is None:
            return

        self.confirm_call(
            title,
            [question.format(job["name"])],
            lambda client: model.change_job_status(client, job["id"], status),
            lambda _job: self._after_action(done_text.format(job["name"])),
        )

    def cmd_retry_job(self) -> None:
        job = self._focused("jobs")
        if job is None:
            return
        workflow_id = self.loaded_id
        if job["status"] not in workflow_manager.RETRYABLE_BY_USER:
            self.say(
                f"Job '{job['name']}' is {job['status']}: only a failed job can be retried",
                "warning",
            )
            return

        def retried(fresh: Record) -> None:
            attempt, status = fresh["attempt_id"], fresh["status"]
            self._after_action(
                f"Job '{job['name']}' queued for retry (attempt {attempt}, {status})"
            )

        self.confirm_call(
            "Retry Job",
            [f"Retry job '{job['name']}'?"],
            lambda client: workflow_manager.retry_job(client, workflow_id, job["id"]),
            retried,
            "Retry job",
        )

    def cmd_view_file(self) -> None:
        record = self._focused("files")
        if record is None:
            return

        def show(content: Content) -> None:
            self.show(TextViewer(f"File: {record['name']}", [(record["path"], content)]))

        self.call(lambda _client: model.read_workflow_file(record), show, "Read file")

    def cmd_slurm_logs(self) -> None:
        node = self._focused("nodes")
        if node is None:
            return
        workflow_id = self.loaded_id
        if node.get("scheduler_type") != "slurm":
            self.say("Log viewing is only available for Slurm scheduled nodes", "warning")
            return
        output_dir = self.options.output_dir

        def show(streams: list[tuple[str, Content]]) -> None:
            title = f"Slurm logs: job {node['scheduler_id']}"
            self.show(TextViewer(title, streams))

        self.call(
            lambda _client: model.read_slurm_logs(workflow_id, node, output_dir),
            show,
            "Load Slurm logs",
        )

    # Workflow actions ---------------------------------------------------------------------

    def target_workflow(self) -> Record | None:
        """The loaded workflow when the details pane has the focus, else the selected one."""
        record = self.state.workflow if self.focus == "details" else None
        record = record or self.workflows.focused_record()
        if record is None:
            self.say("No workflow selected", "warning")
        return record

    def cmd_new(self) -> None:
        def create(path: str, _column: str | None) -> None:
            self.close_popup()
            path = os.path.expanduser(path.strip())
            if not path:
                return
            user = self.state.user

            def created(result: workflow_manager.Created) -> None:
                warnings = (
                    f" ({len(result.warnings)} warning(s): {'; '.join(result.warnings)})"
                    if result.warnings
                    else ""
                )
                self.say(f"Created workflow {result.workflow_id} from {path}{warnings}", "ok")
                self.refresh_workflows(select=result.workflow_id)

            self.call(
                lambda client: workflow_manager.create_from_spec_file(
                    client, path, user=user, max_jobs=self.options.max_jobs
                ),
                created,
                "Create workflow",
            )

        dialog = InputDialog(
            "Create Workflow from Spec File",
            "Workflow spec file",
            hint="Enter: create | Esc: cancel (YAML, JSON, JSON5 or KDL; ~ allowed)",
        )
        self.ask(dialog, create)

    def cmd_initialize(self) -> None:
        self._initialize(reinitialize=False)

    def cmd_reinitialize(self) -> None:
        self._initialize(reinitialize=True)

    def _initialize(self, reinitialize: bool) -> None:
        workflow = self.target_workflow()
        if workflow is None:
            return
        workflow_id, name = workflow["id"], workflow["name"]
        verb = "Re-initialize" if reinitialize else "Initialize"
        plan_fn = model.plan_reinitialize if reinitialize else model.plan_initialize

        def planned(plan: model.InitPlan) -> None:
            self.say("")
            if plan.existing_outputs:
                shown = plan.existing_outputs[:5]
                lines = [f"Found {len(plan.existing_outputs)} existing output file(s):"]
                lines += [f"  - {path}" for path in shown]
                if len(plan.existing_outputs) > len(shown):
                    lines.append(f"  ... and {len(plan.existing_outputs) - len(shown)} more.")
                lines += ["", f"Delete these files and {verb.lower()} workflow '{name}'?"]
                title, delete, danger = f"{verb} with Existing Files", True, True
            else:
                lines = [f"{verb} workflow '{name}'?", plan.summary]
                title, delete, danger = f"{verb} Workflow", False, reinitialize
            self.confirm_call(
                title,
                lines,
                lambda client: model.apply_plan(client, plan, delete),
                self._after_action,
                verb,
                danger=danger,
            )

        self.say(f"Checking workflow '{name}'…")
        self.call(lambda client: plan_fn(client, workflow_id), planned, verb)

    def cmd_reset(self) -> None:
        workflow = self.target_workflow()
        if workflow is None:
            return
        workflow_id, name = workflow["id"], workflow["name"]

        self.confirm_call(
            "Reset Workflow",
            [f"Reset workflow '{name}' status?", "This will clear all job statuses."],
            lambda client: workflow_manager.reset_status(client, workflow_id),
            lambda answer: self._after_action(
                f"Workflow '{name}' status reset ({answer.get('updated_count', 0)} job(s))"
            ),
            "Reset",
            danger=True,
        )

    def cmd_cancel_workflow(self) -> None:
        workflow = self.target_workflow()
        if workflow is None:
            return
        workflow_id, name = workflow["id"], workflow["name"]

        self.confirm_call(
            "Cancel Workflow",
            [f"Cancel workflow '{name}'?"],
            lambda client: client.cancel_workflow(workflow_id),
            lambda _answer: self._after_action(f"Workflow '{name}' canceled"),
            "Cancel workflow",
        )

    def cmd_delete_workflow(self) -> None:
        workflow = self.target_workflow()
        if workflow is None:
            return
        workflow_id, name = workflow["id"], workflow["name"]

        def deleted(_answer: Record) -> None:
            if workflow_id == self.workflow_id:
                self._unload_workflow()
            self.say(f"Workflow '{name}' deleted", "ok")
            self.refresh_workflows()

        self.confirm_call(
            "Delete Workflow",
            [f"DELETE workflow '{name}'?", "This action cannot be undone!"],
            lambda client: client.delete_workflow(workflow_id),
            deleted,
            "Delete workflow",
            danger=True,
        )

    def cmd_run(self) -> None:
        workflow = self.target_workflow()
        if workflow is None:
            return
        workflow_id, name = workflow["id"], workflow["name"]
        current = self.runs.get(workflow_id)
        if current is not None and current.running:
            self._show_process(current)
            return

        def go() -> None:
            if workflow_id != self.workflow_id:
                self.load_workflow(workflow)  # its jobs change colour as the run goes
            args = ["run", str(workflow_id), "--output-dir", self.options.output_dir]
            self._start_process(f"Running: {name}", args, workflow_id)

        self.confirm("Run Workflow", [f"Run workflow '{name}' locally?"], go)

    def cmd_submit(self) -> None:
        workflow = self.target_workflow()
        if workflow is None:
            return
        workflow_id, name = workflow["id"], workflow["name"]

        def go() -> None:
            self._start_process(
                f"Submitting: {name}", ["workflows", "submit", str(workflow_id)], None
            )

        self.confirm("Submit Workflow", [f"Submit workflow '{name}' to scheduler?"], go)

    def _start_process(self, title: str, args: list[str], workflow_id: int | None) -> None:
        command = torc_command("--url", self.state.url, *args)
        env = child_env(self._credentials_env())
        process = OutputProcess(
            title, command, self.post, env=env, shown_as=f"torc {' '.join(args)}"
        )
        try:
            process.start()
        except OSError as exc:
            self.say(f"Could not start `torc {args[0]}`: {exc}", "error")
            return
        if workflow_id is not None:
            self.runs[workflow_id] = process
            process.workflow_id = workflow_id
        self.say(f"{title} (pid {process.pid})")
        self._show_process(process)

    def _credentials_env(self) -> dict[str, str]:
        client = self.worker.client if self.worker else None
        env = {}
        if client is not None and client.username:
            env["TORC_CLIENT__USERNAME"] = client.username
        if client is not None and client.password:
            env["TORC_PASSWORD"] = client.password
        return env

    def _show_process(self, process: OutputProcess) -> None:
        viewer = TextViewer(
            process.title, [("live output", self._process_content(process))], follow=True
        )

        def update() -> None:
            viewer.replace(0, self._process_content(process))

        def close() -> None:
            process.listeners.remove(update)
            self._process_view = None
            self.close_popup()
            if process.running and process is not self.server:
                self.say(f"{process.title}: continues in the background (x shows it again)")
            self.refresh_all(quiet=True)

        on(viewer, "close", close)
        process.listeners.append(update)
        self._process_view = update  # the job counts in its status line follow the run
        self.open_popup(viewer)

    def _process_content(self, process: OutputProcess) -> Content:
        lines = process.snapshot() or ["(no output yet)"]
        if process.returncode is not None:
            lines = [*lines, "", f"[exited with code {process.returncode}]"]
        state = "running" if process.running else f"exited with code {process.returncode}"
        if process.workflow_id is not None and process.workflow_id == self.workflow_id:
            state += f"; {self._counts_text()}"
        return Content(lines, process.shown_as, note=state, source="Command")

    def _after_action(self, message: str) -> None:
        self.say(message, "ok")
        self.refresh_all(quiet=True)

    # Server management --------------------------------------------------------------------

    def cmd_start_server(self) -> None:
        if self.server is not None and self.server.running:
            self.say(f"torc-server already running (pid {self.server.pid})", "warning")
            return
        self._start_server(self._url_port())

    def _start_server(self, port: int) -> None:
        host = urlsplit(self.state.url).hostname or "127.0.0.1"
        if self.options.standalone or host in ("localhost", "::1"):
            host = "127.0.0.1"
        database = self.options.database or "torc.db"
        server = ManagedServer(self.post, host, port, database, cwd=None)

        def news() -> None:
            if server.url is not None and server.running and server.port != self._url_port():
                self.use_url(server.url)  # standalone --port 0: the port the server took
                self.state.connected = False  # the next answer reloads everything
            self._redraw_bars()

        server.listeners.append(news)
        try:
            server.start()
        except OSError as exc:
            self.say(f"Could not start torc-server: {exc}", "error")
            return
        self.server = server
        self.state.connected = False  # it answers in a moment; then everything loads
        self.say(
            f"Started torc-server (pid {server.pid}) on port {port}, database {database}", "ok"
        )
        self._redraw_bars()

    def _url_port(self) -> int:
        return urlsplit(self.state.url).port or 8080

    def cmd_stop_server(self) -> None:
        server = self.server
        if server is None or not server.running:
            self.say("No running torc-server started by this TUI (external ones stay)", "warning")
            return
        self.say(f"Stopping torc-server (pid {server.pid})…")

        def stopped() -> None:
            self._redraw_bars()
            self.say("torc-server stopped", "ok")

        def stop() -> None:  # waiting for it to exit must not freeze the screen
            server.stop()
            self.post(stopped)

        threading.Thread(target=stop, daemon=True).start()

    def cmd_server_output(self) -> None:
        if self.server is None:
            self.say("No torc-server was started by this TUI (S starts one)", "warning")
            return
        self._show_process(self.server)

    # Connection settings ------------------------------------------------------------------

    def cmd_change_url(self) -> None:
        def apply(value: str, _column: str | None) -> None:
            self.close_popup()
            if value.strip() and value.strip() != self.state.url:
                self.use_url(value.strip())

        self.ask(InputDialog("Server URL", "URL", text=self.state.url), apply)

    def use_url(self, url: str) -> None:
        try:
            client = self.client_factory(url)
        except TorcClientError as exc:
            self.say(str(exc), "error")
            return
        assert self.worker is not None
        self.worker.use_client(client)
        self.state.url = client.base_url
        self.state.connected = None
        self._new_url = True  # the first answer says "Connected to server at …"
        self._unload_workflow()
        self._redraw_bars()
        self.refresh_workflows()

    def cmd_change_user(self) -> None:
        def apply(value: str, _column: str | None) -> None:
            self.close_popup()
            self.state.user_filter = value.strip() or None
            self._redraw_bars()
            self.refresh_workflows()

        current = self.state.user_filter or ""
        self.ask(InputDialog("User Filter", "User (empty: all users)", text=current), apply)

    def cmd_all_users(self) -> None:
        self.state.user_filter = None if self.state.user_filter else self.state.user
        self._redraw_bars()
        self.refresh_workflows()

    # Popups -------------------------------------------------------------------------------

    def show(self, widget: urwid.Widget, height: Any = ("relative", 85)) -> None:
        """A viewer or text popup, closed by its ``close`` signal."""
        on(widget, "close", self.close_popup)
        self.open_popup(widget, height)

    def ask(self, dialog: InputDialog, submit: Callable[[str, str | None], None]) -> None:
        on(dialog, "submit", submit)
        on(dialog, "cancel", self.close_popup)
        self.open_dialog(dialog)

    def open_popup(self, widget: urwid.Widget, height: Any = ("relative", 85)) -> None:
        below = self.top.holder.original_widget
        overlay = urwid.Overlay(
            widget, below, "center", ("relative", 90), "middle", height, min_width=40, min_height=5
        )
        self.popups.append(below)
        self.top.holder.original_widget = overlay

    def open_dialog(self, widget: urwid.Widget) -> None:
        below = self.top.holder.original_widget
        overlay = urwid.Overlay(
            widget, below, "center", ("relative", 80), "middle", "pack", min_width=40
        )
        self.popups.append(below)
        self.top.holder.original_widget = overlay

    def close_popup(self) -> None:
        if self.popups:
            self.top.holder.original_widget = self.popups.pop()

    def confirm_call(
        self,
        title: str,
        lines: list[str],
        request: Callable[[TorcClient], Any],
        done: Callable[[Any], None],
        label: str | None = None,
        danger: bool = False,
    ) -> None:
        """Ask; on yes, make ``request`` in the background (``call``) and hand its answer to
        ``done``. ``label`` names the action in an error (default: the title)."""

        def go() -> None:
            self.call(request, done, label or title)

        self.confirm(title, lines, go, danger=danger)

    def confirm(
        self, title: str, lines: list[str], on_yes: Callable[[], None], danger: bool = False
    ) -> None:
        def yes() -> None:
            self.close_popup()
            on_yes()

        def no() -> None:
            self.close_popup()
            self.say(f"{title}: canceled")

        dialog = Dialog(title, lines, danger=danger)
        on(dialog, "yes", yes)
        on(dialog, "no", no)
        self.open_dialog(dialog)

    # Drawing ------------------------------------------------------------------------------

    def say(self, message: str, level: str = "info") -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        self.message = [(level, message)]
        self.status_text.set_text(self.message)

    def _redraw_bars(self) -> None:
        self.header_text.set_text(("hint", HEADER_HINTS))
        title = "Torc Management Console"
        if self.state.auto_refresh:
            title += " - Auto-refresh enabled (30s interval)"
        self.header_box.set_title(title)
        markup: Markup = []
        if self.server is not None:
            running = self.server.running
            markup.append(
                ("server.running" if running else "server.stopped", "● " if running else "○ ")
            )
        markup.append(("title", self.state.url))
        markup.append(("hint", "  S: start | K: stop | O: output | u: change URL"))
        if self.state.connected is False:
            markup.append(("error", f"  {CONNECT_ERROR}"))
        elif self.state.connected:
            markup.append(("ok", "  connected"))
        self.server_text.set_text(markup)
        who = self.state.user_filter or "all users"
        self.user_text.set_text(
            [("title", f"Current: {who}"), ("dim", "  (press 'w' to change, 'a' for all users)")]
        )
        self._redraw_titles()

    def _redraw_titles(self) -> None:
        focused = " [FOCUSED]"
        count = len(self.state.workflows)
        self.workflows_box.set_title(
            f"Workflows{focused if self.focus == 'workflows' else ''} ({count})"
        )
        tab = self.state.tab
        title = TAB_TITLES[tab]
        if tab == "events" and self.state.workflow is not None:
            title += " [SSE Live]" if self.state.connected else " [disconnected]"
        if self.focus == "details":
            title += focused
        workflow = self.state.workflow
        if workflow is not None:
            title += f" ─ workflow {workflow['id']}: {workflow['name']}"
            title += " ─ " + self._counts_text()
        self.details_box.set_title(title)
        self._redraw_tabbar()

    def _counts_text(self) -> str:
        counts = self.state.counts
        total = sum(counts.values())
        parts = ", ".join(f"{count} {status}" for status, count in counts.items())
        return f"{total} jobs" + (f": {parts}" if parts else "")

    def _redraw_tabbar(self) -> None:
        markup: Markup = []
        for name, title in TABS:
            active = name == self.state.tab
            markup.append(("tab.active", f"[{title}]") if active else ("tab", f" {title} "))
            markup.append(("dim", "│"))
        spec = TABLES.get(self.state.tab)
        hints: Markup = [("hint", spec.hints if spec else "↑/↓ PgUp/PgDn Home/End: scroll")]
        if self.state.tab == "events" and self._events_total > len(self._events_all):
            hints.append(("dim", f" (the newest {len(self._events_all)} of {self._events_total})"))
        data = self.state.tabs.get(self.state.tab) if self.state.workflow else None
        if data is not None and data.filter is not None:
            hints.append(("warning", f"   filter: {data.filter.describe()} (f, then Enter: clear)"))
        self.tabbar.set_text([*markup, ("body", "\n"), *hints])


def _tell(message: str) -> None:
    """A line on stderr, which may be a terminal that has gone away (after a hangup)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass


def run_tui(
    client: TorcClient,
    options: Options,
    *,
    user: str,
    client_factory: Callable[[str], TorcClient],
) -> None:
    """``torc tui``'s entry point."""
    TorcTUI.create(client, options, user=user, client_factory=client_factory).run()
