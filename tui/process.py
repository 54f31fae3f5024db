"""Child processes whose output the TUI shows as it comes: ``torc run`` (key ``x``),
``torc workflows submit`` (``s``) and a torc-server the TUI manages (``S``/``K``/``O``).

Each runs in its own session with stdout and stderr merged into one pipe; a reader thread
keeps the last lines and tells the UI thread (through ``post``) that there are new ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import app.version
from cli.client import api_url
from cli.embedded import die_with_parent
from tui.worker import Post

MAX_LINES = 10_000
STOP_SECONDS = 15.0
PACKAGE_ROOT = str(Path(app.version.__file__).resolve().parent.parent)


def torc_command(*args: str) -> list[str]:
    """The ``torc`` command line in this Python (works from a checkout too)."""
    return [sys.executable, "-m", "cli.main", *args]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    python_path = PACKAGE_ROOT if not path else f"{PACKAGE_ROOT}{os.pathsep}{path}"
    # Plain output: the child writes to a pipe, not a terminal.
    return {**os.environ, "PYTHONPATH": python_path, "NO_COLOR": "1", **(extra or {})}


class OutputProcess:
    """``command`` started in ``cwd``; its output lines in ``lines`` (the last 10,000)."""

    # SIGTERMed by Linux when the TUI dies without stopping it (killed, crashed).
    dies_with_parent: bool = False

    def __init__(
        self,
        title: str,
        command: list[str],
        post: Post,
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        shown_as: str = "",
    ) -> None:
        self.title = title
        self.command = command
        self.shown_as = shown_as or " ".join(command)
        self.cwd = cwd
        self.env = env
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self.returncode: int | None = None
        self.workflow_id: int | None = None  # the workflow a `torc run` runs
        self.listeners: list[Callable[[], None]] = []  # told (on the UI thread) of news
        self._post = post
        self._popen: subprocess.Popen[bytes] | None = None
        self._news_posted = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self.returncode is None

    @property
    def started(self) -> bool:
        return self._popen is not None

    def start(self) -> None:
        """Start the command (raises OSError when it cannot be started)."""
        self._popen = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env or child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the terminal's Ctrl-C belongs to the TUI
            preexec_fn=die_with_parent() if self.dies_with_parent else None,
        )
        threading.Thread(target=self._read, name=f"output-{self._popen.pid}", daemon=True).start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM (a runner then stops its jobs and reports them), SIGKILL after ``timeout``."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()

    def on_line(self, line: str) -> None:
        """Called on the reader thread for every line (subclasses look for things)."""

    def _read(self) -> None:
        popen = self._popen
        assert popen is not None and popen.stdout is not None
        for raw in popen.stdout:
            # A progress line rewritten in place with \r keeps its last state.
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n").rsplit("\r", 1)[-1]
            self.on_line(line)
            with self._lock:
                self.lines.append(line)
            self._announce()
        popen.stdout.close()
        self.returncode = popen.wait()
        self._announce()

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def _announce(self) -> None:
        """One pending notice at a time: a chatty child cannot flood the UI thread."""
        with self._lock:
            if self._news_posted:
                return
            self._news_posted = True
        self._post(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            self._news_posted = False
        for listener in list(self.listeners):
            listener()


class ManagedServer(OutputProcess):
    """A torc-server the TUI started; ``port`` is known once the server prints it."""

    dies_with_parent = True  # a server nobody manages would hold its port and database

    def __init__(self, post: Post, host: str, port: int, database: str, cwd: str | None) -> None:
        command = [
            sys.executable,
            "-m",
            "app.server",
            "run",
            "--url",
            host,
            "--port",
            str(port),
            "--database",
            database,
        ]
        shown = f"torc-server run --url {host} --port {port} --database {database}"
        super().__init__("torc-server output", command, post, cwd=cwd, shown_as=shown)
        self.host = host
        self.port: int | None = None
        self.database = database

    @property
    def url(self) -> str | None:
        return None if self.port is None else api_url(self.host, self.port)

    def on_line(self, line: str) -> None:
        if line.startswith("TORC_SERVER_PORT="):
            self.port = int(line.split("=", 1)[1])
