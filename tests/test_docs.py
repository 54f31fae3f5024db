"""Docs that fall behind the code fail the build."""

from __future__ import annotations

from app.shared.settings import SETTINGS
from app.shared.status import JobStatus
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
    test_command = (
        "bash scripts/test-env/install.sh && python3 -m venv .venv && "
        ".venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    )
    assert test_command in readme and test_command in ci
    assert "torc run fixtures/" in readme


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    pages = sorted(path.name for path in (REPO / "docs").glob("*.md"))
    assert [name for name in pages if f"(docs/{name})" not in readme] == []


def test_performance_page_gives_the_bench_command_and_every_documented_flag_exists() -> None:
    text = (REPO / "docs" / "performance.md").read_text()
    assert ".venv/bin/python -m bench.run --repeat 3" in text
    source = (REPO / "bench" / "run.py").read_text()
    documented = {"--workloads", "--systems", "--jobs", "--w2-shape", "--w3-sizes", "--workdir"}
    assert [flag for flag in sorted(documented) if f'"{flag}"' not in source] == []
    assert all(flag in text for flag in documented)
