"""The CLI's error boundary and logging set-up, through the real ``torc`` process.

Every user mistake ends in one ``Error: …`` line on stderr and a non-zero exit: usage errors
(exit 2) name the command's ``--help``; file errors (exit 1) name the file. ``--log-level``,
``client.log_level`` and ``TORC_CLIENT__LOG_LEVEL`` decide what the client logs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import Api, ServerProcess, torc


def error_line(result: subprocess.CompletedProcess, code: int) -> str:
    """The only stderr line of a failed command (no usage block, no traceback)."""
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["jobs", "list", "--bogus"],
            "Error: No such option '--bogus' (try 'torc jobs list --help')",
        ),
        (["--bogus", "ping"], "Error: No such option '--bogus' (try 'torc --help')"),
        (["jobs", "bogus"], "Error: No such command 'bogus' (try 'torc jobs --help')"),
        (
            ["jobs", "get", "abc"],
            "Error: Invalid value for 'JOB_ID': 'abc' is not a valid integer "
            "(try 'torc jobs get --help')",
        ),
        (
            ["results", "list", "1", "--status", "finished"],
            "Error: Invalid value for '-s' / '--status': 'finished' is not one of",
        ),
        (
            ["workflows", "list", "--limit"],
            "Error: Option '--limit' requires an argument (try 'torc workflows list --help')",
        ),
        (
            ["--log-level", "bogus", "ping"],
            "Error: Invalid value for '--log-level': 'bogus' is not one of 'error', 'warn', "
            "'info', 'debug', 'trace' (try 'torc --help')",
        ),
        (
            ["jobs", "get"],
            "Error: Missing argument 'JOB_ID' (try 'torc jobs get --help')",
        ),
    ],
)
def test_usage_errors_are_one_line(server: ServerProcess, args: list[str], line: str) -> None:
    result = torc("--url", server.url, *args)
    assert error_line(result, 2).startswith(line)


def test_no_arguments_still_prints_the_help() -> None:
    result = torc("jobs")
    assert result.returncode in (0, 2)
    assert "Usage: torc jobs" in result.stdout + result.stderr
    assert "Commands:" in result.stdout + result.stderr


def test_a_missing_workflow_id_without_a_terminal(server: ServerProcess) -> None:
    line = error_line(torc("--url", server.url, "workflows", "status"), 2)
    assert line.startswith("Error: WORKFLOW_ID is required (no terminal to choose one on)")


# file errors -------------------------------------------------------------------------------


def test_export_to_a_missing_directory(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("export_nowhere")
    result = torc("--url", server.url, "workflows", "export", str(wf), "-o", "/nonexistent/d/x")
    assert error_line(result, 1) == "Error: /nonexistent/d/x: No such file or directory"


def test_export_onto_a_directory(server: ServerProcess, api: Api, tmp_path: Path) -> None:
    wf = api.workflow("export_dir")
    (tmp_path / "taken").mkdir()
    target = str(tmp_path / "taken")
    result = torc("--url", server.url, "workflows", "export", str(wf), "-o", target)
    assert "is a directory" in error_line(result, 2 if "Invalid value" in result.stderr else 1)


def test_watch_with_an_unusable_output_dir(server: ServerProcess, api: Api, tmp_path) -> None:
    wf = api.workflow("watch_nowhere")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = torc("--url", server.url, "watch", str(wf), "-o", str(blocker / "sub"))
    assert error_line(result, 1) == f"Error: {blocker / 'sub'}: Not a directory"


def test_missing_input_files_are_usage_errors(server: ServerProcess) -> None:
    for args in (
        ["workflows", "import", "/nonexistent.json"],
        ["jobs", "create-from-file", "1", "/nonexistent.txt"],
    ):
        line = error_line(torc("--url", server.url, *args), 2)
        assert "/nonexistent" in line and "(try 'torc " in line


def test_config_init_into_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = torc("config", "init", "--user", env={"XDG_CONFIG_HOME": str(blocker)})
    assert error_line(result, 1).startswith(f"Error: cannot write {blocker}/torc/config.toml")


def test_a_bad_url_is_one_line() -> None:
    line = error_line(torc("--url", "not a url", "ping"), 1)
    assert "not a url" in line


# logging -----------------------------------------------------------------------------------

DEBUG_LINE = "DEBUG cli.client: GET "


def test_log_level_from_the_environment(server: ServerProcess) -> None:
    debug = torc("--url", server.url, "ping", env={"TORC_CLIENT__LOG_LEVEL": "debug"})
    assert debug.returncode == 0 and DEBUG_LINE in debug.stderr
    quiet = torc("--url", server.url, "ping")
    assert quiet.returncode == 0 and quiet.stderr == ""
    flag = torc(
        "--url", server.url, "--log-level", "error", "ping", env={"TORC_CLIENT__LOG_LEVEL": "debug"}
    )
    assert flag.returncode == 0 and flag.stderr == ""
    upper = torc("--url", server.url, "--log-level", "TRACE", "ping")
    assert DEBUG_LINE in upper.stderr


def test_log_level_from_a_config_file(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "torc.toml").write_text('[client]\nlog_level = "debug"\n')
    result = torc("--url", server.url, "ping", cwd=tmp_path)
    assert result.returncode == 0 and DEBUG_LINE in result.stderr


def test_a_bad_configured_log_level_or_format_stops_the_command(
    server: ServerProcess, tmp_path: Path
) -> None:
    result = torc("--url", server.url, "ping", env={"TORC_CLIENT__LOG_LEVEL": "loud"})
    assert error_line(result, 1) == (
        "Error: client.log_level: 'loud' is not one of error, warn, info, debug, trace"
    )
    result = torc("--url", server.url, "ping", env={"TORC_CLIENT__FORMAT": "xml"})
    assert error_line(result, 1) == "Error: client.format: 'xml' is not one of table, json"
