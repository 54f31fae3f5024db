"""A private torc-server when no server URL is configured (``torc run`` and friends).

The server runs in its own session, so a Ctrl-C (SIGINT to the terminal's process group)
reaches only the ``torc`` command: the runner stops its jobs and reports them while the
server still answers, and the server is stopped last. While it runs, ``<database>.server``
names its URL so other commands in the same directory use it instead of starting another
server on the same database.

A server started with ``idle_exit`` may be *detached* when its command ends: it stays up for
the commands that follow (each then takes a fraction of a second instead of starting a
server) and stops by itself after that many seconds without a request. One started without
it gets SIGTERM on Linux if the ``torc`` process dies without stopping it.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cli.client import TorcClient, TorcClientError, api_url

logger = logging.getLogger("torc.cli")

STARTUP_SECONDS = 60
_DETACHED: list[subprocess.Popen] = []
STOP_SECONDS = 30
PR_SET_PDEATHSIG = 1


class EmbeddedServer:
    """``torc-server run`` on a free loopback port, stopped when the context exits.

    The benchmarks (``bench/server.py``) start their server through this class too, with
    their own environment (``env``, default: this process's) and more ``torc-server run``
    options (``server_args``: authentication, for ``bench/auth.py``)."""

    def __init__(
        self,
        database: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        threads: int = 4,
        idle_exit: float | None = None,
        server_args: Sequence[str] = (),
    ) -> None:
        self.database = database
        self.threads = threads
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.idle_exit = idle_exit
        self.server_args = list(server_args)
        self.process: subprocess.Popen | None = None
        self.url = ""

    @property
    def url_file(self) -> Path:
        return url_file(self.database)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "app.server",
            "run",
            "--url",
            "127.0.0.1",
            "--port",
            "0",
            "--database",
            str(self.database),
            "--threads",
            str(self.threads),
            "--completion-check-interval-secs",
            "5",
            *self.server_args,
        ]
        if self.idle_exit:
            command += ["--exit-when-idle", str(self.idle_exit)]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                env={**self.env, "PYTHONPATH": _package_root(self.env)},
                start_new_session=True,  # no terminal signals: it is stopped after the runner
                preexec_fn=None if self.idle_exit else die_with_parent(),
            )
        port = self._read_port()
        self.url = api_url("127.0.0.1", port)
        self._wait_for_ping()
        self._advertise()

    def _started(self) -> subprocess.Popen[str]:
        if self.process is None:
            raise TorcClientError("the embedded torc-server is not running")
        return self.process

    def _read_port(self) -> int:
        stdout = self._started().stdout
        line = stdout.readline() if stdout is not None else ""
        if not line.startswith("TORC_SERVER_PORT="):
            self.stop()
            raise TorcClientError(f"the embedded torc-server did not start; see {self.log_path}")
        return int(line.strip().split("=", 1)[1])

    def _wait_for_ping(self) -> None:
        client = TorcClient(self.url, timeout=5)
        deadline = time.monotonic() + STARTUP_SECONDS
        try:
            while True:
                try:
                    client.ping()
                    return
                except TorcClientError:
                    if time.monotonic() > deadline or self._started().poll() is not None:
                        self.stop()
                        raise TorcClientError(
                            f"the embedded torc-server did not answer; see {self.log_path}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def _advertise(self) -> None:
        try:
            self.url_file.write_text(json.dumps({"url": self.url, "pid": self._started().pid}))
        except OSError as exc:  # a read-only directory: nobody can share it, that is all
            logger.debug("cannot write %s: %s", self.url_file, exc)

    def detach(self) -> None:
        """Leave the server running for the next commands (it stops itself when idle)."""
        if self.process is None:
            return
        if not self.idle_exit:
            self.stop()
            return
        if self.process.stdout:
            self.process.stdout.close()
        _DETACHED.append(self.process)  # not reaped (or warned about) while we run
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        if running_server(self.database) == self.url:
            self.url_file.unlink(missing_ok=True)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None


def url_file(database: Path) -> Path:
    return database.with_name(database.name + ".server")


def running_server(database: Path) -> str | None:
    """The URL of a live embedded server another command started on ``database``."""
    try:
        info = json.loads(url_file(database).read_text())
        os.kill(int(info["pid"]), 0)
        return str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def die_with_parent():
    """A pre-exec hook asking Linux to SIGTERM the server when ``torc`` dies (else None).
    Also used by ``torc tui`` for the server it manages."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return hook


def _package_root(env: dict[str, str]) -> str:
    root = str(Path(__file__).resolve().parent.parent)
    existing = env.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root
