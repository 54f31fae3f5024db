"""A ``torc-server`` the dashboard starts and stops itself (standalone mode, or the
Configuration tab's "Start Server").

The server is started on the port asked for (0: it picks a free one) and prints
``TORC_SERVER_PORT=<port>`` on its standard output once it listens; that line is how the
dashboard learns where to point. Its log (standard error) is echoed to the dashboard's own
standard error, and the last lines are kept to explain a server that fails to start.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cli.client import api_url
from cli.embedded import die_with_parent

logger = logging.getLogger("torc.dash")

PORT_LINE = "TORC_SERVER_PORT="
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
LOG_LEVELS = ("error", "warn", "info", "debug", "trace")


class ServerStartError(RuntimeError):
    """The managed server could not be started (or is already running)."""


@dataclass(frozen=True)
class ServerOptions:
    port: int = 0
    database: str | None = None  # None: a database for this session only
    completion_check_interval_secs: float = 5
    log_level: str = "info"
    host: str = "127.0.0.1"


def find_program(name: str) -> str:
    """``name`` as given when it is a path; a bare name on PATH, then next to the running
    Python (the same installation, when its bin directory is not on PATH)."""
    if os.sep in name:
        return name
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


class ManagedServer:
    """At most one ``torc-server`` child; every method may be called from any thread."""

    def __init__(self, server_bin: str) -> None:
        self.server_bin = server_bin
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._port: int | None = None
        self._options: ServerOptions | None = None
        self._session_dir: tempfile.TemporaryDirectory[str] | None = None
        self._log_tail: collections.deque[str] = collections.deque(maxlen=30)

    # State --------------------------------------------------------------------------------

    def running(self) -> bool:
        with self._lock:
            return self._alive()

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def status(self) -> dict[str, Any]:
        with self._lock:
            alive = self._alive()
            options = self._options
            return {
                "running": alive,
                "pid": self._process.pid if alive and self._process else None,
                "port": self._port if alive else None,
                "api_url": self._url() if alive else None,
                "database": self._database() if alive else None,
                "completion_check_interval_secs": (
                    options.completion_check_interval_secs if options else None
                ),
                "log_level": options.log_level if options else None,
            }

    def _url(self) -> str | None:
        if self._port is None or self._options is None:
            return None
        host = "127.0.0.1" if self._options.host in ("0.0.0.0", "") else self._options.host
        return api_url(host, self._port)

    def _database(self) -> str | None:
        if self._options is None:
            return None
        if self._options.database:
            return self._options.database
        return str(Path(self._session_dir.name) / "torc.db") if self._session_dir else None

    # Starting and stopping ----------------------------------------------------------------

    def start(self, options: ServerOptions) -> str:
        """Start the server and wait for its port line; the API URL to use."""
        if options.log_level not in LOG_LEVELS:
            raise ServerStartError(
                f"log level {options.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )
        with self._lock:
            if self._alive():
                raise ServerStartError(f"a managed server is already running (port {self._port})")
            self._options = options
            if not options.database and self._session_dir is None:
                self._session_dir = tempfile.TemporaryDirectory(prefix="torc-dash-")
            command = self._command(options)
            logger.info("Starting %s", " ".join(command))
            self._log_tail.clear()
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    bufsize=1,
                    preexec_fn=die_with_parent(),  # a killed dashboard leaves no server
                )
            except OSError as exc:
                raise ServerStartError(
                    f"cannot start {self.server_bin}: {exc.strerror or exc} "
                    "(give its path with --torc-server-bin)"
                ) from None
            self._process = process
            assert process.stderr is not None and process.stdout is not None
            _daemon(self._echo_log, process.stderr)
            port = self._read_port(process)
            self._port = port
            _daemon(_drain, process.stdout)
            url = self._url()
            assert url is not None
            logger.info("Managed torc-server (pid %s) listens at %s", process.pid, url)
            return url

    def _command(self, options: ServerOptions) -> list[str]:
        return [
            find_program(self.server_bin),
            "run",
            "--url",
            options.host,
            "--port",
            str(options.port),
            "--database",
            str(self._database_for(options)),
            "--completion-check-interval-secs",
            str(options.completion_check_interval_secs),
            "--log-level",
            options.log_level,
        ]

    def _database_for(self, options: ServerOptions) -> str:
        if options.database:
            return options.database
        assert self._session_dir is not None
        return str(Path(self._session_dir.name) / "torc.db")

    def _read_port(self, process: subprocess.Popen[str]) -> int:
        """The port from the server's ``TORC_SERVER_PORT=<port>`` line."""
        assert process.stdout is not None
        found: list[int] = []
        done = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith(PORT_LINE):
                    try:
                        found.append(int(line[len(PORT_LINE) :].strip()))
                    except ValueError:
                        pass
                    break
            done.set()

        _daemon(read)
        if not done.wait(START_TIMEOUT_SECONDS) or not found:
            self._stop_process(process)
            tail = "; ".join(line.strip() for line in list(self._log_tail)[-5:] if line.strip())
            code = process.poll()
            why = f"exited with code {code}" if code is not None else "did not start in time"
            raise ServerStartError(
                f"torc-server {why} before reporting its port" + (f": {tail}" if tail else "")
            )
        return found[0]

    def _echo_log(self, stream: IO[str]) -> None:
        for line in stream:
            self._log_tail.append(line)
            sys.stderr.write(line)
            sys.stderr.flush()

    def stop(self) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after a grace period); False when none ran."""
        with self._lock:
            process = self._process
            self._process = None
            self._port = None
            if process is None or process.poll() is not None:
                return False
            self._stop_process(process)
            logger.info("Managed torc-server (pid %s) stopped", process.pid)
            return True

    def close(self) -> None:
        """Stop the server and remove a session-only database."""
        self.stop()
        with self._lock:
            if self._session_dir is not None:
                self._session_dir.cleanup()
                self._session_dir = None

    @staticmethod
    def _stop_process(process: subprocess.Popen[str]) -> None:
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain(stream: IO[str]) -> None:
    """Read what else the server prints, so a full pipe never blocks it."""
    for _line in stream:
        pass


def _daemon(target: Any, *args: Any) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
