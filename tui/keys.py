"""Every key of ``torc tui``, declared once.

``KEY_BINDINGS`` maps a command name to the keys that trigger it, where (the contexts) and
the line the help popup and docs/tui.md show for it. The app asks ``command_for(key,
contexts)`` what a key means where the user is; the help screen (``help_rows``) and the key
tables of docs/tui.md (``markdown_tables``) are rendered from the same table, so they cannot
drift from what the keys do.

Contexts, from the most specific to the most general, are chosen by the app:
``jobs``/``files``/``events``/``results``/``dag``/``nodes`` (the details pane on that tab),
``details``, ``workflows`` (the workflows pane), ``main`` (no popup open), and the popups'
own ``viewer``, ``dialog``, ``filter`` and ``popup``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TABLE_TABS = ("jobs", "files", "events", "results", "nodes")


@dataclass(frozen=True)
class Binding:
    keys: tuple[str, ...]  # urwid key names ("up", "page down", "shift tab", "A")
    help_text: str
    section: str
    contexts: tuple[str, ...]
    # How help and docs print the keys; None: shown on the previous binding's line.
    label: str | None = ""

    def shown_keys(self) -> str:
        return self.label or " / ".join(KEY_LABELS.get(key, key) for key in self.keys)


KEY_LABELS = {
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "page up": "PgUp",
    "page down": "PgDn",
    "home": "Home",
    "end": "End",
    "tab": "Tab",
    "shift tab": "Shift+Tab",
    "enter": "Enter",
    "esc": "Esc",
}

MAIN = ("main",)
VIEWER = ("viewer",)

KEY_BINDINGS: dict[str, Binding] = {
    # Basic navigation ----------------------------------------------------------------------
    "UP": Binding(("up",), "Move up/down in the current table", "Basic Navigation", MAIN, "↑ / ↓"),
    "DOWN": Binding(("down",), "Move down", "Basic Navigation", MAIN, None),
    "PAGE_UP": Binding(
        ("page up",), "Move a page up/down", "Basic Navigation", MAIN, "PgUp / PgDn"
    ),
    "PAGE_DOWN": Binding(("page down",), "Move a page down", "Basic Navigation", MAIN, None),
    "FIRST": Binding(("home",), "First/last row", "Basic Navigation", MAIN, "Home / End"),
    "LAST": Binding(("end",), "Last row", "Basic Navigation", MAIN, None),
    "FOCUS_WORKFLOWS": Binding(
        ("left",),
        "Switch focus between Workflows and Details panes",
        "Basic Navigation",
        MAIN,
        "← / →",
    ),
    "FOCUS_DETAILS": Binding(("right",), "Focus the Details pane", "Basic Navigation", MAIN, None),
    "NEXT_TAB": Binding(
        ("tab",),
        "Switch between detail tabs (Jobs → Files → Events → Results → DAG → Scheduled Nodes)",
        "Basic Navigation",
        MAIN,
        "Tab / Shift+Tab",
    ),
    "PREV_TAB": Binding(("shift tab",), "Previous detail tab", "Basic Navigation", MAIN, None),
    "LOAD_WORKFLOW": Binding(
        ("enter",), "Load details for selected workflow", "Basic Navigation", ("workflows",)
    ),
    "QUIT": Binding(("q",), "Quit (or close popup/dialog)", "Basic Navigation", MAIN),
    "HELP": Binding(("?",), "Show help popup with all keybindings", "Basic Navigation", MAIN),
    "REFRESH": Binding(("r",), "Refresh now and redraw the screen", "Basic Navigation", MAIN),
    "AUTO_REFRESH": Binding(
        ("A",), "Toggle auto-refresh (30-second interval)", "Basic Navigation", MAIN
    ),
    # Workflow actions ----------------------------------------------------------------------
    "NEW": Binding(("n",), "New: create workflow from spec file", "Workflow Actions", MAIN),
    "INITIALIZE": Binding(
        ("i",),
        "Initialize: set up job dependencies, mark ready jobs",
        "Workflow Actions",
        MAIN,
    ),
    "REINITIALIZE": Binding(
        ("I",),
        "Re-initialize: rerun what changed (prompts if output files exist)",
        "Workflow Actions",
        MAIN,
    ),
    "RESET": Binding(("R",), "Reset: reset all job statuses", "Workflow Actions", MAIN),
    "RUN": Binding(
        ("x",), "Run: run workflow locally (shows real-time output)", "Workflow Actions", MAIN
    ),
    "SUBMIT": Binding(("s",), "Submit: submit to HPC scheduler (Slurm)", "Workflow Actions", MAIN),
    "CANCEL_WORKFLOW": Binding(("C",), "Cancel: cancel running workflow", "Workflow Actions", MAIN),
    "DELETE_WORKFLOW": Binding(
        ("d",), "Delete: delete workflow (destructive!)", "Workflow Actions", MAIN
    ),
    # Detail tabs ---------------------------------------------------------------------------
    "JOB_DETAILS": Binding(("enter",), "View job details", "Jobs Tab", ("jobs",)),
    "JOB_LOGS": Binding(("l",), "View job logs (stdout/stderr)", "Jobs Tab", ("jobs",)),
    "CANCEL_JOB": Binding(("c",), "Cancel job", "Jobs Tab", ("jobs",)),
    "TERMINATE_JOB": Binding(("t",), "Terminate job", "Jobs Tab", ("jobs",)),
    "RETRY_JOB": Binding(("y",), "Retry failed job (a new attempt)", "Jobs Tab", ("jobs",)),
    "FILTER": Binding(
        ("f",),
        "Filter the table by a column (Events: Event Type or Data)",
        "Jobs Tab",
        TABLE_TABS,
    ),
    "VIEW_FILE": Binding(("enter",), "View file contents", "Files Tab", ("files",)),
    "SLURM_LOGS": Binding(
        ("l",), "View the Slurm job's logs (stdout/stderr)", "Scheduled Nodes Tab", ("nodes",)
    ),
    # Log, file and output viewers ----------------------------------------------------------
    "SWITCH_STREAM": Binding(("tab",), "Switch between stdout and stderr", "Log Viewer", VIEWER),
    "SCROLL_UP": Binding(("up",), "Scroll one line", "Log Viewer", VIEWER, "↑ / ↓"),
    "SCROLL_DOWN": Binding(("down",), "Scroll one line down", "Log Viewer", VIEWER, None),
    "SCROLL_PAGE_UP": Binding(("page up",), "Scroll 20 lines", "Log Viewer", VIEWER, "PgUp / PgDn"),
    "SCROLL_PAGE_DOWN": Binding(("page down",), "Scroll 20 lines down", "Log Viewer", VIEWER, None),
    "TOP": Binding(("g", "home"), "Jump to top/bottom", "Log Viewer", VIEWER, "g / G"),
    "BOTTOM": Binding(("G", "end"), "Jump to bottom", "Log Viewer", VIEWER, None),
    "SEARCH": Binding(("/",), "Start search", "Log Viewer", VIEWER),
    "NEXT_MATCH": Binding(("n",), "Next/previous search match", "Log Viewer", VIEWER, "n / N"),
    "PREV_MATCH": Binding(("N",), "Previous search match", "Log Viewer", VIEWER, None),
    "CLOSE": Binding(("q", "esc"), "Close the viewer", "Log Viewer", VIEWER),
    # Dialogs -------------------------------------------------------------------------------
    "CONFIRM": Binding(("y",), "Yes: go ahead", "Dialogs", ("dialog",)),
    "DECLINE": Binding(("n", "esc", "q"), "No: cancel", "Dialogs", ("dialog",)),
    "FILTER_COLUMN": Binding(("tab",), "Filter: next column to filter by", "Dialogs", ("filter",)),
    "CLOSE_POPUP": Binding(("q", "esc"), "Close a popup", "Dialogs", ("popup",)),
    # Server management ---------------------------------------------------------------------
    "START_SERVER": Binding(("S",), "Start torc-server", "Server Management", MAIN),
    "STOP_SERVER": Binding(("K",), "Stop/Kill server", "Server Management", MAIN),
    "SERVER_OUTPUT": Binding(("O",), "Show server output", "Server Management", MAIN),
    # Connection settings -------------------------------------------------------------------
    "CHANGE_URL": Binding(("u",), "Change server URL", "Connection Settings", MAIN),
    "CHANGE_USER": Binding(("w",), "Change user filter", "Connection Settings", MAIN),
    "ALL_USERS": Binding(("a",), "Toggle show all users", "Connection Settings", MAIN),
}

SECTIONS = (
    "Basic Navigation",
    "Workflow Actions",
    "Jobs Tab",
    "Files Tab",
    "Scheduled Nodes Tab",
    "Log Viewer",
    "Dialogs",
    "Server Management",
    "Connection Settings",
)


def keys_for_command(command: str) -> tuple[str, ...]:
    return KEY_BINDINGS[command].keys


def is_command_key(command: str, key: str) -> bool:
    return key in KEY_BINDINGS[command].keys


def command_for(key: str, contexts: Sequence[str]) -> str | None:
    """The command ``key`` triggers where the user is (``contexts``, most specific first)."""
    for context in contexts:
        for command, binding in KEY_BINDINGS.items():
            if context in binding.contexts and key in binding.keys:
                return command
    return None


def help_rows(section: str) -> list[tuple[str, str]]:
    """(keys, what they do) lines of one section, as the help popup and the docs show them."""
    rows: list[tuple[str, str]] = []
    for binding in KEY_BINDINGS.values():
        if binding.section == section and binding.label is not None:
            rows.append((binding.shown_keys(), binding.help_text))
    return rows


def markdown_tables(sections: Iterable[str] = SECTIONS) -> str:
    """The key tables of docs/tui.md."""
    parts = []
    for section in sections:
        lines = [f"### {section}", "", "| Key | Action |", "|---|---|"]
        for keys, text in help_rows(section):
            lines.append(f"| `{keys}` | {text} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
