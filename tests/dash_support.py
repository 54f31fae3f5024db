"""Starting ``torc-dash`` for the tests, and the headless Chromium they drive it with.

The browser is Debian's ``chromium`` (scripts/test-env/packages.d/chromium.txt) driven by
Playwright for Python through ``executable_path``: no browser download. Where it cannot start
the browser tests skip with the reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class DashProcess:
    popen: subprocess.Popen[str]
    url: str
    workdir: Path
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        code = self.popen.wait()
        if self.popen.stdout:
            self.popen.stdout.close()
        return code

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def start_dash(
    workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> DashProcess:
    """``torc-dash --port 0 ARGS`` in ``workdir``; waits for its ``TORC_DASH_URL=`` line."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "dash.log"
    bin_dir = str(Path(sys.executable).parent)
    full_env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        **(env or {}),
    }
    with log.open("w") as handle:
        popen = subprocess.Popen(
            [sys.executable, "-m", "dash.main", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=handle,
            cwd=workdir,
            env=full_env,
            text=True,
        )
    url = _read_line(popen, "TORC_DASH_URL=", log, timeout)
    return DashProcess(popen, url, workdir, log)


def _read_line(popen: subprocess.Popen[str], prefix: str, log: Path, timeout: float) -> str:
    assert popen.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(popen.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = popen.stdout.readline()
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
            if not line and popen.poll() is not None:
                break
        elif popen.poll() is not None:
            break
    popen.kill()
    raise RuntimeError(f"torc-dash did not start (exit {popen.poll()}):\n{log.read_text()}")


def browser_unavailable(reason: str) -> None:
    """Skip, or fail under CI=true, when the browser cannot be used."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}")
    pytest.skip(reason)


def launch_chromium(playwright, profile: Path):  # noqa: ANN001, ANN201  (Playwright types)
    """Headless Debian Chromium with a fresh profile (a persistent context: Playwright takes
    the profile directory that way, not as ``--user-data-dir``)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        browser_unavailable(f"{CHROMIUM} is not installed (scripts/test-env/install.sh)")
    try:
        return playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
            timeout=60_000,
        )
    except Exception as exc:  # noqa: BLE001  (any launch failure is the reason to skip)
        browser_unavailable(f"chromium does not start: {str(exc).splitlines()[0]}")
        raise
