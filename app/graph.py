"""Graph algorithms over job dependency edges, shared by the server and the client."""

from __future__ import annotations

from collections import Counter


def cycle_members(edges: list[tuple[int, int]]) -> list[int]:
    """Jobs left after repeatedly removing jobs with no remaining blockers (Kahn)."""
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
