"""docs/reference/cli.md is generated from the command tree and must be current."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "gen_cli_docs.py"
REFERENCE = REPO / "docs" / "reference" / "cli.md"


def check(columns: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": columns}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", *args], capture_output=True, text=True, env=env
    )


def test_reference_is_current_whatever_the_terminal_width() -> None:
    for columns in ("40", "200"):
        result = check(columns)
        assert result.returncode == 0, result.stdout + result.stderr


def test_reference_covers_every_command() -> None:
    from cli.main import cli
    from tests.test_cli_tree import walk

    text = REFERENCE.read_text()
    for path in walk(cli):
        command = " ".join(("torc", *path))
        assert f"## `{command}`\n" in text
        assert f"Usage: {command} " in text
    assert "-l, --limit INTEGER RANGE" in text and "-h, --help" in text


def test_check_reports_a_stale_file(tmp_path) -> None:
    """--check compares without writing."""
    stale = tmp_path / "cli.md"
    stale.write_text(REFERENCE.read_text() + "\nedited by hand\n")
    result = check("80", "--output", str(stale))
    assert result.returncode == 1 and "stale" in result.stdout
    assert stale.read_text().endswith("edited by hand\n")
    assert check("80", "--output", str(tmp_path / "absent.md")).returncode == 1
