"""A torc-server subprocess for benchmarks, and the environment benchmarks run in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    return {**clean, "PYTHONPATH": str(REPO)}


class Server:
    """A torc-server on a free port with a throwaway database (removed on exit)."""

    pid: int | None = None

    def __init__(self, *args: str) -> None:
        self.args = args  # more ``torc-server run`` options

    def __enter__(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="torc-bench-server-"))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.server",
                "run",
                "--url",
                "127.0.0.1",
                "--port",
                "0",
                "--database",
                str(self.dir / "torc.db"),
                "--threads",
                "4",
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env(),
        )
        port = int(self.proc.stdout.readline().strip().split("=")[1])
        self.pid = self.proc.pid
        time.sleep(0.5)
        return f"http://127.0.0.1:{port}/torc-service/v1"

    def __exit__(self, *_exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
