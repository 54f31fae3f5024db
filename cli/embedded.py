"""A private torc-server for ``torc run`` when no server URL is configured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cli.client import TorcClient, TorcClientError

STARTUP_SECONDS = 60


class EmbeddedServer:
    """``torc-server run`` on a free loopback port, stopped when the context exits."""

    def __init__(self, database: Path, log_path: Path) -> None:
        self.database = database
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> EmbeddedServer:
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
            "4",
            "--completion-check-interval-secs",
            "5",
        ]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONPATH": _package_root()},
            )
        port = self._read_port()
        self.url = f"http://127.0.0.1:{port}/torc-service/v1"
        self._wait_for_ping()
        return self

    def _read_port(self) -> int:
        line = self.process.stdout.readline()
        if not line.startswith("TORC_SERVER_PORT="):
            self.__exit__()
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
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise TorcClientError(
                            f"the embedded torc-server did not answer; see {self.log_path}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def __exit__(self, *_exc: object) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def _package_root() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root
