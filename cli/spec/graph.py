"""Cycle detection over explicit and implied (file / user data) job dependencies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def blockers_of(jobs: Sequence[dict[str, Any]]) -> list[Sequence[int]]:
    """For each job, the jobs it waits for: explicit ``depends_on`` plus every producer of a
    file or user data entry it reads."""
    file_producers = _producers(jobs, "output_files")
    data_producers = _producers(jobs, "output_user_data")
    blockers: list[Sequence[int]] = []
    for job in jobs:
        waits = job.get("depends_on", ())
        files, data = job.get("input_files"), job.get("input_user_data")
        if files or data:
            waits = [*waits, *_from(files, file_producers), *_from(data, data_producers)]
        blockers.append(waits)
    return blockers


def _producers(jobs: Sequence[dict[str, Any]], key: str) -> dict[int, list[int]]:
    producers: dict[int, list[int]] = {}
    for position, job in enumerate(jobs):
        for item in job.get(key, ()):
            producers.setdefault(item, []).append(position)
    return producers


def _from(items: list[int] | None, producers: dict[int, list[int]]) -> list[int]:
    return [job for item in items or () for job in producers.get(item, ())]


def find_cycle(blockers: Sequence[Sequence[int]]) -> list[int] | None:
    """One dependency cycle as job positions in execution order (a -> b: b waits for a), or
    None. Iterative depth-first search, so 100k-job chains do not hit the recursion limit."""
    dependents: list[list[int]] = [[] for _ in blockers]
    for job, waits in enumerate(blockers):
        for blocker in waits:
            dependents[blocker].append(job)
    state = [0] * len(blockers)  # 0 unvisited, 1 on the current path, 2 finished
    for root in range(len(blockers)):
        if state[root] == 0:
            cycle = _search(root, dependents, state)
            if cycle:
                return cycle
    return None


def _search(root: int, dependents: list[list[int]], state: list[int]) -> list[int] | None:
    path = [root]
    iterators = [iter(dependents[root])]
    state[root] = 1
    while iterators:
        following = next(iterators[-1], None)
        if following is None:
            state[path.pop()] = 2
            iterators.pop()
        elif state[following] == 1:
            return path[path.index(following) :] + [following]
        elif state[following] == 0:
            state[following] = 1
            path.append(following)
            iterators.append(iter(dependents[following]))
    return None


def describe_cycle(cycle: Sequence[int], jobs: Sequence[dict[str, Any]]) -> str:
    names = " -> ".join(jobs[position]["name"] for position in cycle)
    implied = any(
        before not in jobs[after].get("depends_on", ())
        for before, after in zip(cycle, cycle[1:], strict=False)
    )
    note = " (some of these dependencies come from input/output files or user data)"
    return f"Circular dependency detected: {names}{note if implied else ''}"
