"""The workflow graph: levels, components, critical path, scheduler groups, cycles."""

from __future__ import annotations

import pytest

from app.shared.graph import CycleError, WorkflowGraph, collapse_names, cycle_members


def diamond() -> WorkflowGraph:
    return WorkflowGraph(["A", "B", "C", "D"], [[], [0], [0], [1, 2]])


def test_levels_and_stages() -> None:
    graph = diamond()
    assert graph.levels == [0, 1, 1, 2]
    assert graph.stages() == [[0], [1, 2], [3]]


def test_components() -> None:
    graph = WorkflowGraph(["a1", "a2", "b1", "b2", "lone"], [[], [0], [], [2], []])
    assert sorted(sorted(c) for c in graph.components()) == [[0, 1], [2, 3], [4]]


def test_critical_path() -> None:
    graph = WorkflowGraph(["s", "x", "y1", "y2", "y3", "end"], [[], [0], [0], [2], [3], [1, 4]])
    assert graph.critical_path() == ["s", "y1", "y2", "y3", "end"]


def test_scheduler_groups() -> None:
    graph = WorkflowGraph(["A", "B", "C", "D"], [[], [], [0], []])
    groups = graph.scheduler_groups(["default", "default", "default", "gpu"])
    assert [(g.resource_requirements, g.has_dependencies, g.job_count) for g in groups] == [
        ("default", False, 2),
        ("default", True, 1),
        ("gpu", False, 1),
    ]


def test_cycles_are_found_and_named() -> None:
    graph = WorkflowGraph(["a", "b", "c", "free"], [[2], [0], [1], []])
    cycle = graph.find_cycle()
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    with pytest.raises(CycleError, match="Circular dependency detected"):
        _ = graph.levels
    assert cycle_members([(1, 2), (2, 1), (3, 1)]) == [1, 2, 3]
    assert cycle_members([(1, 2), (3, 1)]) == []


def test_collapse_names() -> None:
    names = ["work_1", "work_2", "work_3", "post", "job_009", "job_010", "x5"]
    assert collapse_names(names) == ["work_{1..3}", "post", "job_{009..010}", "x5"]


def test_large_graph_is_linear() -> None:
    count = 200_000
    graph = WorkflowGraph(
        [f"j{i}" for i in range(count)], [[i - 1] if i else [] for i in range(count)]
    )
    assert graph.levels[-1] == count - 1
    assert len(graph.critical_path()) == count
