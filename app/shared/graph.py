"""Graph algorithms over job dependencies, shared by the server, the CLI and the UIs.

Jobs are numbered 0..n-1; ``blockers[j]`` lists the jobs ``j`` waits for. Everything is
iterative (no recursion limits) and linear in jobs plus edges.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property


def cycle_members(edges: list[tuple[int, int]]) -> list[int]:
    """Jobs left after repeatedly removing jobs with no remaining blockers (Kahn).

    ``edges`` are (job, blocker) pairs of arbitrary IDs; an empty result means no cycle.
    """
    blockers_left: Counter[int] = Counter()
    dependents: dict[int, list[int]] = {}
    nodes: set[int] = set()
    for job_id, blocker in edges:
        blockers_left[job_id] += 1
        dependents.setdefault(blocker, []).append(job_id)
        nodes.add(job_id)
        nodes.add(blocker)
    queue = [node for node in nodes if blockers_left[node] == 0]
    removed = 0
    while queue:
        node = queue.pop()
        removed += 1
        for dependent in dependents.get(node, ()):
            blockers_left[dependent] -= 1
            if blockers_left[dependent] == 0:
                queue.append(dependent)
    if removed == len(nodes):
        return []
    return sorted(node for node in nodes if blockers_left[node] > 0)


class CycleError(ValueError):
    """The graph has a cycle; ``cycle`` lists its jobs in order, first repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("Circular dependency detected: " + " -> ".join(cycle))
        self.cycle = cycle


@dataclass
class SchedulerGroup:
    """Jobs that can share one kind of allocation: same requirements, same readiness."""

    resource_requirements: str
    has_dependencies: bool
    job_names: list[str] = field(default_factory=list)

    @property
    def job_count(self) -> int:
        return len(self.job_names)

    @property
    def job_name_patterns(self) -> list[str]:
        return collapse_names(self.job_names)


@dataclass
class WorkflowGraph:
    names: Sequence[str]
    blockers: Sequence[Sequence[int]]

    @cached_property
    def dependents(self) -> list[list[int]]:
        result: list[list[int]] = [[] for _ in self.names]
        for job, job_blockers in enumerate(self.blockers):
            for blocker in job_blockers:
                result[blocker].append(job)
        return result

    @cached_property
    def levels(self) -> list[int]:
        """Level of each job: 0 without blockers, else one more than its deepest blocker."""
        level = [0] * len(self.names)
        waiting = [len(set(b)) for b in self.blockers]
        ready = [job for job, count in enumerate(waiting) if count == 0]
        seen = 0
        while ready:
            job = ready.pop()
            seen += 1
            for dependent in dict.fromkeys(self.dependents[job]):
                level[dependent] = max(level[dependent], level[job] + 1)
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    ready.append(dependent)
        if seen != len(self.names):
            raise CycleError(self.find_cycle())
        return level

    def stages(self) -> list[list[int]]:
        """Jobs grouped by level, each group in job order."""
        grouped: list[list[int]] = [[] for _ in range(max(self.levels, default=-1) + 1)]
        for job, level in enumerate(self.levels):
            grouped[level].append(job)
        return grouped

    def find_cycle(self) -> list[str]:
        """One cycle, as names in order with the first repeated at the end; [] if acyclic."""
        state = [0] * len(self.names)  # 0 new, 1 on the current path, 2 finished
        for start in range(len(self.names)):
            if state[start]:
                continue
            path: list[int] = []
            stack = [(start, iter(self.blockers[start]))]
            state[start] = 1
            path.append(start)
            while stack:
                job, pending = stack[-1]
                nxt = next(pending, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    state[job] = 2
                elif state[nxt] == 1:
                    cycle = path[path.index(nxt) :] + [nxt]
                    return [self.names[j] for j in reversed(cycle)]
                elif state[nxt] == 0:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(self.blockers[nxt])))
        return []

    def components(self) -> list[list[int]]:
        """Independent sub-workflows: jobs connected through dependencies in either direction."""
        parent = list(range(len(self.names)))

        def root(job: int) -> int:
            while parent[job] != job:
                parent[job] = parent[parent[job]]
                job = parent[job]
            return job

        for job, job_blockers in enumerate(self.blockers):
            for blocker in job_blockers:
                parent[root(job)] = root(blocker)
        groups: dict[int, list[int]] = {}
        for job in range(len(self.names)):
            groups.setdefault(root(job), []).append(job)
        return list(groups.values())

    def critical_path(self) -> list[str]:
        """The longest chain of jobs (by job count): the minimum number of sequential steps."""
        if not self.names:
            return []
        depth = [1] * len(self.names)
        via: list[int | None] = [None] * len(self.names)
        for job in sorted(range(len(self.names)), key=lambda j: self.levels[j]):
            for blocker in self.blockers[job]:
                if depth[blocker] + 1 > depth[job]:
                    depth[job], via[job] = depth[blocker] + 1, blocker
        end: int | None = max(range(len(self.names)), key=lambda j: depth[j])
        chain: list[str] = []
        while end is not None:
            chain.append(self.names[end])
            end = via[end]
        return chain[::-1]

    def scheduler_groups(self, requirement_names: Sequence[str]) -> list[SchedulerGroup]:
        """Group jobs by (resource requirements, has dependencies), in first-seen order."""
        groups: dict[tuple[str, bool], SchedulerGroup] = {}
        for job, name in enumerate(self.names):
            key = (requirement_names[job], bool(self.blockers[job]))
            group = groups.setdefault(key, SchedulerGroup(*key))
            group.job_names.append(name)
        return list(groups.values())


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def collapse_names(names: Sequence[str]) -> list[str]:
    """``work_1 … work_5`` -> ``work_{1..5}``: runs of consecutive numbers share one entry."""
    collapsed: list[str] = []
    run: list[tuple[str, str]] = []  # (prefix, digits) of the current run

    def flush() -> None:
        if len(run) >= 2:
            collapsed.append(f"{run[0][0]}{{{run[0][1]}..{run[-1][1]}}}")
        elif run:
            collapsed.append(run[0][0] + run[0][1])
        run.clear()

    for name in names:
        match = _NUMBERED.match(name)
        if match and run:
            prefix, digits = match.groups()
            last_prefix, last_digits = run[-1]
            if prefix == last_prefix and int(digits) == int(last_digits) + 1:
                run.append((prefix, digits))
                continue
        flush()
        if match:
            run.append((match.group(1), match.group(2)))
        else:
            collapsed.append(name)
    flush()
    return collapsed
