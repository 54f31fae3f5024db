"""A torc-server subprocess for benchmarks, and the environment benchmarks run in."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from cli.embedded import EmbeddedServer

REPO = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    return {**clean, "PYTHONPATH": str(REPO)}


class Server:
    """A torc-server on a free port with a throwaway database (removed on exit), started as
    ``torc run`` starts its embedded server."""

    pid: int | None = None

    def __init__(self, *args: str, threads: int = 4) -> None:
        self.args = args  # more ``torc-server run`` options
        self.threads = threads

    def __enter__(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="torc-bench-server-"))
        self.server = EmbeddedServer(
            self.dir / "torc.db",
            self.dir / "server.log",
            env=env(),
            threads=self.threads,
            server_args=self.args,
        )
        self.server.start()
        assert self.server.process is not None
        self.pid = self.server.process.pid
        return self.server.url

    def __exit__(self, *_exc: object) -> None:
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
