"""Tables under hostile values: escape sequences in names, megabytes in one cell."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.helpers import Api, ServerProcess, torc

HOSTILE = "evil\x1b]0;pwned\x07\x1b[31mred\x1b[0m\rover\x9b2J"


def test_escape_sequences_in_names_are_shown_not_obeyed(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    workflow_id = api.workflow(HOSTILE, description="tab\there")
    api.job(workflow_id, HOSTILE, command=f"echo {HOSTILE}")
    for args in (["workflows", "list", "-u", "tester"], ["jobs", "list", str(workflow_id)],
                 ["workflows", "get", str(workflow_id)]):  # fmt: skip
        result = torc("--url", server.url, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        controls = [
            c for c in result.stdout if ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0
        ]
        assert not controls, (args, controls)
        assert "evil\\x1b]0;pwned\\x07" in result.stdout.replace("\n", "")
    listed = torc(
        "--url", server.url, "-f", "json", "workflows", "list", "-u", "tester", cwd=tmp_path
    )
    [mine] = [w for w in json.loads(listed.stdout)["workflows"] if w["id"] == workflow_id]
    assert mine["name"] == HOSTILE  # JSON keeps the data as it is


def test_a_ten_megabyte_cell_lists_in_seconds(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    """A 10 MB description took 29 s (widths shrank one character per pass, over the whole
    value) and printed all of it; now widths are fitted in linear time and the cell is cut."""
    description = ("word " * 2_000_000)[:10_000_000]
    workflow_id = api.workflow("big", description=description)
    started = time.monotonic()
    result = torc("--url", server.url, "workflows", "list", "-u", "tester", cwd=tmp_path,
                  timeout=60)  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "more characters)" in " ".join(result.stdout.split()), result.stdout[-500:]
    assert len(result.stdout) < 200_000
    assert str(workflow_id) in result.stdout
    assert elapsed < 20, f"{elapsed:.1f} s"
