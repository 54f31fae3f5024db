"""The transition table in code (app/models/transitions.py) and in docs/lifecycle.md agree,
and the lifecycle refuses a move the table does not list."""

from __future__ import annotations

import pytest

from app.models.transitions import ANY, TRANSITIONS, allowed_sources
from app.shared.status import JobStatus
from tests.conftest import REPO


def _statuses(cell: str) -> frozenset[JobStatus]:
    cell = cell.strip()
    if cell == "any":
        return ANY
    return frozenset(JobStatus.parse(name) for name in cell.split(","))


def documented_transitions() -> dict[str, tuple[frozenset, frozenset]]:
    text = (REPO / "docs" / "lifecycle.md").read_text()
    section = text.split("## Transitions", 1)[1]
    header = "| operation | from | to | how |"
    assert header in section, "the transition table's header changed"
    rows = {}
    for line in section.split(header, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        operation, sources, targets, _how = line.strip("|").split("|", 3)
        name = operation.strip().strip("`")
        assert name not in rows, f"{name} is documented twice"
        rows[name] = (_statuses(sources), _statuses(targets))
    return rows


def test_docs_and_code_list_the_same_transitions() -> None:
    in_code = {row.operation: (row.sources, row.targets) for row in TRANSITIONS}
    in_docs = documented_transitions()
    assert sorted(in_docs) == sorted(in_code)
    for operation, (sources, targets) in in_code.items():
        doc_sources, doc_targets = in_docs[operation]
        assert doc_sources == sources, f"{operation}: from {sorted(s.label for s in sources)}"
        assert doc_targets == targets, f"{operation}: to {sorted(s.label for s in targets)}"


def test_a_move_outside_the_table_is_refused() -> None:
    assert allowed_sources("start", JobStatus.RUNNING) == {JobStatus.PENDING}
    with pytest.raises(ValueError, match="never moves a job to completed"):
        allowed_sources("claim", JobStatus.COMPLETED)
    with pytest.raises(ValueError, match="never moves a job from completed"):
        allowed_sources("retry", JobStatus.READY, [JobStatus.COMPLETED])
