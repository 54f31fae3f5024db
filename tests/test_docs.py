"""Docs that fall behind the code fail the build."""

from __future__ import annotations

from app.models.status import JobStatus
from app.settings import SETTINGS
from tests.conftest import REPO


def test_every_setting_is_documented() -> None:
    text = (REPO / "docs" / "server.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert not missing


def test_every_status_is_documented_with_its_code() -> None:
    text = (REPO / "docs" / "lifecycle.md").read_text()
    for status in JobStatus:
        assert f"| {int(status)} | `{status.label}` |" in text


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_command = ".venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    assert test_command in readme and test_command in ci
    assert "torc run fixtures/" in readme
