"""Driving ``torc tui`` in tests: in-process (``Console``: the real app, its calls run inline,
screens rendered to text) and in a real terminal (``Tmux``: tmux runs ``torc tui``; keys
go in with ``send-keys``, the screen comes back with ``capture-pane``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest

from cli.client import TorcClient
from tui.app import TorcTUI
from tui.model import Options, State
from tui.worker import Worker

REPO = Path(__file__).resolve().parent.parent
SIZE = (120, 40)


class InlineExecutor(Executor):
    """Runs a submitted call at once, in the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


class ManualClock:
    """Timers that fire only when the test says so."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        self.pending.append((seconds, callback))

    def fire(self) -> None:
        due, self.pending = self.pending, []
        for _seconds, callback in due:
            callback()


class Console:
    """The app in this process: calls run inline; callbacks other threads post (process
    output) wait in a queue that ``drain`` runs, as the urwid loop would."""

    def __init__(
        self,
        url: str,
        user: str,
        options: Options | None = None,
        executor: Executor | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.queue: deque[Callable[[], None]] = deque()
        self.clock = ManualClock()
        state = State(url=url, user=user, user_filter=user)
        self.app = TorcTUI(state, options or Options(), TorcClient)
        executor = executor or InlineExecutor()
        self.worker = Worker(TorcClient(url), self.queue.append, executor, timeout=timeout)
        self.app.attach(self.worker, self.clock, self.queue.append)

    def drain(self) -> None:
        while self.queue:
            self.queue.popleft()()

    def start(self) -> Console:
        self.app.start()
        self.drain()
        return self

    def press(self, *keys: str) -> Console:
        for key in keys:
            self.screen()  # as on a terminal: what is pressed acts on what was drawn
            self.app.top.keypress(SIZE, key)
            self.drain()
        return self

    def type(self, text: str) -> Console:
        return self.press(*text)

    def screen(self) -> str:
        self.drain()
        canvas = self.app.top.render(SIZE, focus=True)
        self.drain()  # rendering asks for pages it does not hold
        canvas = self.app.top.render(SIZE, focus=True)
        return "\n".join(line.decode() for line in canvas.text)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            assert time.monotonic() < deadline, f"{text!r} never showed:\n{screen}"
            time.sleep(0.05)

    def status(self) -> str:
        """The status line: what is drawn under the last pane (it wraps when long)."""
        lines = self.screen().splitlines()
        last_pane = max(n for n, line in enumerate(lines) if line.startswith("└"))
        return " ".join(line.strip() for line in lines[last_pane + 1 :])

    def close(self) -> None:
        self.app.shutdown()


# --------------------------------------------------------------------------------------------
# A real terminal
# --------------------------------------------------------------------------------------------

# The SGR foreground codes tmux writes for each colour family (normal and bright).
COLOUR_CODES = {
    "green": {32, 92},
    "yellow": {33, 93},
    "red": {31, 91},
    "magenta": {35, 95},
    "blue": {34, 94},
    "cyan": {36, 96},
    "gray": {90},
}
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def require_tmux() -> str:
    """tmux's path, once it has started a session; otherwise the test skips with the
    reason, or fails under CI=true."""
    found = shutil.which("tmux")
    if found is None:
        unavailable("tmux is not installed (scripts/test-env/install.sh installs it)")
    assert found is not None
    socket = f"torc-probe-{os.getpid()}"
    probe = subprocess.run(
        [found, "-L", socket, "-f", "/dev/null", "new-session", "-d", "sleep 5"],
        capture_output=True,
        text=True,
        check=False,
    )
    subprocess.run([found, "-L", socket, "kill-server"], capture_output=True, check=False)
    if probe.returncode != 0:
        unavailable(f"tmux cannot start a session: {probe.stderr.strip()}")
    return found


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Tmux:
    """``torc tui`` in a private tmux server at 120x40."""

    def __init__(self, tmux: str, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.tmux = tmux
        self.socket = f"torc-tui-{uuid.uuid4().hex[:8]}"
        command = " ".join(
            [sys.executable, "-m", "cli.main", "tui", *args, "2>>", str(cwd / "tui-stderr.log")]
        )
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
        subprocess.run(
            [
                tmux, "-L", self.socket, "-f", "/dev/null", "new-session", "-d",
                "-x", str(SIZE[0]), "-y", str(SIZE[1]), "-s", "tui", "-c", str(cwd), command,
            ],
            check=True,
            env=full_env,
        )  # fmt: skip

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return done.stdout

    def send(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "tui", key)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "tui", "-l", text)

    def screen(self, colours: bool = False) -> str:
        return self._tmux("capture-pane", "-p", "-t", "tui", *(["-e"] if colours else []))

    def wait_for(self, expected: str | Callable[[str], bool], timeout: float = 30.0) -> str:
        """Poll the screen until it shows ``expected`` (text, or a test of the screen)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if expected in screen if isinstance(expected, str) else expected(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{expected!r} never showed; the screen:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        self._tmux("kill-server")


def colour_of(line: str, word: str) -> int | None:
    """The SGR foreground code in force where ``word`` starts in a ``capture-pane -e`` line."""
    position = 0
    foreground: int | None = None
    plain = ""
    for match in SGR.finditer(line):
        plain += line[position : match.start()]
        if word in plain:
            break
        position = match.end()
        for code in (int(part) for part in match.group(1).split(";") if part):
            if code == 0 or code == 39:
                foreground = None
            elif 30 <= code <= 37 or 90 <= code <= 97:
                foreground = code
    return foreground


def in_family(code: int | None, family: str) -> bool:
    return code in COLOUR_CODES[family]
