"""The server under abuse: a busy port, stuck clients, huge bodies, a full disk.

Each answers with one clear line (or a clear error status) and keeps serving the others.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.conftest import REPO
from tests.helpers import server_command


def test_a_busy_port_is_one_error_line_and_no_database(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        database = tmp_path / "torc.db"
        command = server_command(
            "--url", "127.0.0.1", "--port", str(port), "--database", str(database)
        )
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(REPO)}
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    assert not database.exists()  # refused before the database was created
