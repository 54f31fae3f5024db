"""Decisions cited in code, tests and docs are defined in docs/decisions.md, and each citation
says where to look (it names docs/decisions.md on the same line, or links to it)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

DECISIONS = REPO / "docs" / "decisions.md"
CITATION = re.compile(r"\bD(\d{1,2})\b")
DEFINITION = re.compile(r"^(?:### |- \*\*)D(\d{1,2}):", re.MULTILINE)
LINK = re.compile(r"decisions\.md#([a-z0-9-]+)")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".json5", ".kdl", ".toml", ".txt", ".sh"}
NOT_OURS = {".git", ".venv", "__pycache__", "build", "output", "results", "node_modules"}


def project_files() -> list[Path]:
    return sorted(
        path
        for path in REPO.rglob("*")
        if path.suffix in TEXT_SUFFIXES
        and path.is_file()
        and not NOT_OURS & set(path.relative_to(REPO).parts)
        and not path.relative_to(REPO).parts[0].endswith(".egg-info")
    )


def citations() -> list[tuple[str, int, str]]:
    """(where, number, line) of each decision number cited outside docs/decisions.md."""
    found = []
    for path in project_files():
        if path == DECISIONS:
            continue
        for line_number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for match in CITATION.finditer(line):
                where = f"{path.relative_to(REPO)}:{line_number}"
                found.append((where, int(match.group(1)), line))
    return found


def slug(heading: str) -> str:
    """A heading's anchor as Markdown renderers make it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_decisions_are_numbered_once_each() -> None:
    numbers = [int(n) for n in DEFINITION.findall(DECISIONS.read_text())]
    assert sorted(numbers) == list(range(1, max(numbers) + 1))


def test_every_cited_decision_is_defined_and_the_citation_points_at_it() -> None:
    defined = {int(n) for n in DEFINITION.findall(DECISIONS.read_text())}
    found = citations()
    assert len(found) > 10  # the checker reads the tree
    undefined = [f"{where}: D{number}" for where, number, _ in found if number not in defined]
    assert undefined == []
    unpointed = [
        f"{where}: {line.strip()}" for where, _, line in found if "decisions.md" not in line
    ]
    assert unpointed == [], "cite a decision as 'D11 (docs/decisions.md)' or link to it"


def test_links_to_a_decision_reach_its_heading() -> None:
    headings = re.findall(r"^### (.+)$", DECISIONS.read_text(), re.MULTILINE)
    anchors = {slug(heading) for heading in headings}
    links = [
        (path.relative_to(REPO), anchor)
        for path in project_files()
        for anchor in LINK.findall(path.read_text(errors="replace"))
    ]
    assert links, "docs link to decisions"
    assert [link for link in links if link[1] not in anchors] == []
