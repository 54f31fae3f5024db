"""The DAG tab: the job graph as text, stage by stage, readable at 1,000 jobs and more.

A stage holds the jobs whose longest chain of blockers has the same length. Inside a stage,
jobs whose names differ only in their numbers (``work_1`` … ``work_998``) form one group,
drawn as one line with its status counts; small groups list their jobs one per line. Each
line says where its jobs come from: the upstream jobs or groups, and whether the edges fan
out (one job feeds many), fan in (many feed one) or pair one-to-one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.shared.graph import CycleError, WorkflowGraph, collapse_names
from tui.theme import status_attr

Markup = list[tuple[str, str]]  # (palette entry, text) pieces of one line
Record = dict[str, Any]

LIST_JOBS_UP_TO = 5  # a group this small lists its jobs one per line
NAMES_SHOWN = 4

GLYPHS = {
    "completed": "✓",
    "running": "▶",
    "failed": "✗",
    "pending_failed": "✗",
    "canceled": "○",
    "terminated": "○",
    "pending": "◌",
    "ready": "◦",
    "blocked": "·",
    "disabled": "-",
    "uninitialized": " ",
}

_NUMBERS = re.compile(r"\d+")


@dataclass
class Group:
    stage: int
    template: str
    members: list[int] = field(default_factory=list)


def describe(jobs: Sequence[int], names: Sequence[str]) -> str:
    """``work_{1..998}``, ``a, b``, or ``work_* (998 jobs)`` when the names do not collapse."""
    shown = sorted(dict.fromkeys(jobs))
    collapsed = collapse_names([names[job] for job in shown])
    if len(collapsed) <= 2:
        return ", ".join(collapsed)
    templates = {_NUMBERS.sub("#", names[job]) for job in shown}
    label = templates.pop().replace("#", "*") if len(templates) == 1 else "jobs"
    return f"{label} ({len(shown)} jobs)"


def edge_kind(upstream: int, downstream: int, edges: int) -> str:
    if upstream == 1 and downstream > 1:
        return f"fan-out 1 → {downstream}"
    if downstream == 1 and upstream > 1:
        return f"fan-in {upstream} → 1"
    if upstream == downstream == edges and upstream > 1:
        return f"one-to-one ×{edges}"
    if upstream == downstream == 1:
        return ""
    return f"{upstream} → {downstream}, {edges} edges"


def render(jobs: Sequence[Record], edges: Sequence[Record]) -> list[Markup]:
    """Lines for the DAG tab from the jobs (``id``, ``name``, ``status``) and the
    dependency edges (``job_id``, ``depends_on_job_id``)."""
    if not jobs:
        return [[("dim", "No jobs in this workflow.")]]
    position = {job["id"]: index for index, job in enumerate(jobs)}
    blockers: list[list[int]] = [[] for _ in jobs]
    for edge in edges:
        job, blocker = position.get(edge["job_id"]), position.get(edge["depends_on_job_id"])
        if job is not None and blocker is not None:
            blockers[job].append(blocker)
    names = [job["name"] for job in jobs]
    graph = WorkflowGraph(names, blockers)
    try:
        stages = graph.stages()
    except CycleError as exc:
        return [[("error", str(exc))]]
    statuses = [str(job.get("status", "")) for job in jobs]
    groups, group_of = _groups(stages, names)
    lines: list[Markup] = [
        [
            ("title", f"{len(jobs):,} jobs"),
            ("body", f" in {len(stages)} stages, {sum(map(len, blockers)):,} dependencies"),
        ],
        _legend(),
        [],
    ]
    for number, stage in enumerate(stages, start=1):
        count = len(stage)
        lines.append([("title", f"Stage {number}"), ("dim", f" ─ {count} job{'s' * (count != 1)}")])
        for group in (g for g in groups if g.stage == number - 1):
            lines.extend(_group_lines(group, groups, group_of, graph, names, statuses, jobs))
        lines.append([])
    return lines


def _groups(stages: list[list[int]], names: Sequence[str]) -> tuple[list[Group], list[int]]:
    groups: list[Group] = []
    group_of = [0] * len(names)
    for level, stage in enumerate(stages):
        by_template: dict[str, Group] = {}
        for job in stage:
            template = _NUMBERS.sub("#", names[job])
            group = by_template.get(template)
            if group is None:
                group = by_template[template] = Group(level, template)
                groups.append(group)
            group.members.append(job)
    for index, group in enumerate(groups):
        for job in group.members:
            group_of[job] = index
    return groups, group_of


def _legend() -> Markup:
    shown = ("completed", "running", "failed", "canceled", "ready", "blocked")
    markup: Markup = [("dim", "Legend: ")]
    for status in shown:
        markup += [(status_attr(status), f"{GLYPHS[status]} {status}"), ("dim", "  ")]
    return markup


def _group_lines(
    group: Group,
    groups: list[Group],
    group_of: list[int],
    graph: WorkflowGraph,
    names: Sequence[str],
    statuses: Sequence[str],
    jobs: Sequence[Record],
) -> list[Markup]:
    if len(group.members) <= LIST_JOBS_UP_TO:
        return [
            [
                ("body", "  "),
                (status_attr(statuses[job]), f"{GLYPHS.get(statuses[job], '?')} {names[job]}"),
                ("dim", f"  #{jobs[job]['id']}"),
                *_sources_of_job(job, groups, group_of, graph, names),
            ]
            for job in group.members
        ]
    counts = Counter(statuses[job] for job in group.members)
    markup: Markup = [("body", "  "), ("title", describe(group.members, names)), ("body", "  ")]
    for status, count in sorted(counts.items(), key=lambda item: -item[1]):
        markup.append((status_attr(status), f"{GLYPHS.get(status, '?')} {count} "))
    markup += _sources_of_group(group, groups, group_of, graph, names)
    return [markup]


def _sources_of_job(
    job: int, groups: list[Group], group_of: list[int], graph: WorkflowGraph, names: Sequence[str]
) -> Markup:
    by_group: dict[int, list[int]] = {}
    for blocker in dict.fromkeys(graph.blockers[job]):
        by_group.setdefault(group_of[blocker], []).append(blocker)
    if not by_group:
        return []
    parts = []
    for blockers in by_group.values():
        if len(blockers) > NAMES_SHOWN:
            parts.append(describe(blockers, names))
        else:
            parts.extend(collapse_names([names[b] for b in blockers]))
    total = sum(map(len, by_group.values()))
    kind = f" (fan-in {total} → 1)" if total > 1 else ""
    return [("dim", "  ← "), ("hint", ", ".join(parts) + kind)]


def _sources_of_group(
    group: Group,
    groups: list[Group],
    group_of: list[int],
    graph: WorkflowGraph,
    names: Sequence[str],
) -> Markup:
    edges: Counter[int] = Counter()
    sources: dict[int, set[int]] = {}
    for job in group.members:
        for blocker in dict.fromkeys(graph.blockers[job]):
            index = group_of[blocker]
            edges[index] += 1
            sources.setdefault(index, set()).add(blocker)
    if not edges:
        return []
    parts = []
    for index, count in edges.items():
        kind = edge_kind(len(sources[index]), len(group.members), count)
        parts.append(describe(list(sources[index]), names) + (f" ({kind})" if kind else ""))
    return [("dim", " ← "), ("hint", "; ".join(parts))]
