"""Cycle detection over explicit and implied (file / user data) job dependencies.

The graph is gathered while the job records stream by and is kept in flat integer arrays
(8 bytes an edge), not a list per job: a million-job spec's graph takes tens of megabytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from cli.spec.lazy import LazySequence

_IMPLIED = (("input_files", "output_files"), ("input_user_data", "output_user_data"))
_IO_KEYS = frozenset(key for pair in _IMPLIED for key in pair)


class _Producers:
    """item -> the jobs that write it; most items have one, so that one is an array slot."""

    def __init__(self) -> None:
        self._first = array("q")
        self._more: dict[int, list[int]] = {}

    def add(self, item: int, job: int) -> None:
        if item >= len(self._first):
            self._first.extend([-1] * (item + 1 - len(self._first)))
        if self._first[item] == -1:
            self._first[item] = job
        else:
            self._more.setdefault(item, []).append(job)

    def of(self, item: int) -> list[int]:
        if item >= len(self._first) or self._first[item] == -1:
            return []
        return [self._first[item], *self._more.get(item, ())]


class DependencyGraph(LazySequence[Sequence[int]]):
    """``graph[j]``: the jobs job ``j`` waits for, its explicit ``depends_on`` plus every
    producer of a file or user data entry it reads. Records are added in job order.

    Each job's explicit blockers and reads are stored end to end in one array: a blocker as
    its position (>= 0), a read as ``~(2 * item + kind)`` (< 0; kind 0 files, 1 user data),
    resolved to its producers only when asked, once every job has been added.
    """

    def __init__(self) -> None:
        self._values = array("q")
        self._ends = array("q")
        self._producers = (_Producers(), _Producers())
        self._readers = array("q")  # the jobs that read something
        self._backward = True  # every explicit blocker so far comes before its job

    def add(self, record: dict[str, Any]) -> None:
        job = len(self._ends)
        depends = record.get("depends_on")
        if depends:
            self._values.extend(depends)
            self._backward = self._backward and max(depends) < job
        if not _IO_KEYS.isdisjoint(record):  # most jobs read and write nothing
            self._add_io(job, record)
        self._ends.append(len(self._values))

    def _add_io(self, job: int, record: dict[str, Any]) -> None:
        for kind, (input_key, output_key) in enumerate(_IMPLIED):
            items = record.get(input_key)
            if items:
                self._values.extend([~(2 * item + kind) for item in items])
                if not self._readers or self._readers[-1] != job:
                    self._readers.append(job)
            outputs = record.get(output_key)
            if outputs:
                producers = self._producers[kind]
                for item in outputs:
                    producers.add(item, job)

    def __len__(self) -> int:
        return len(self._ends)

    def _at(self, job: int) -> Sequence[int]:
        start = self._ends[job - 1] if job else 0
        waits = self._values[start : self._ends[job]]
        if not self._readers or min(waits, default=0) >= 0:
            return waits
        blockers = [blocker for blocker in waits if blocker >= 0]
        for code in (~value for value in waits if value < 0):
            blockers.extend(self._producers[code & 1].of(code >> 1))
        return blockers

    def __iter__(self) -> Iterator[Sequence[int]]:
        return map(self._at, range(len(self)))

    def find_cycle(self) -> list[int] | None:
        """As ``find_cycle``, without searching when every job waits only for jobs before it
        (the common case, checked at C speed: no cycle is possible then)."""
        if self._backward and all(max(self._at(job), default=-1) < job for job in self._readers):
            return None
        return find_cycle(self)


def find_cycle(blockers: Sequence[Sequence[int]]) -> list[int] | None:
    """One dependency cycle as job positions in execution order (a -> b: b waits for a), or
    None. Iterative depth-first search, so 100k-job chains do not hit the recursion limit."""
    starts, dependents = _dependents(blockers)
    state = bytearray(len(blockers))  # 0 unvisited, 1 on the current path, 2 finished
    for root in range(len(blockers)):
        if state[root] == 0:
            cycle = _search(root, starts, dependents, state)
            if cycle:
                return cycle
    return None


def _dependents(blockers: Sequence[Sequence[int]]) -> tuple[array, array]:
    """The reverse graph in compressed form: job j's dependents are
    ``dependents[starts[j]:starts[j + 1]]``."""
    starts = array("q", bytes(8 * (len(blockers) + 1)))
    for waits in blockers:
        for blocker in waits:
            starts[blocker + 1] += 1
    for job in range(len(blockers)):
        starts[job + 1] += starts[job]
    filled = array("q", starts)
    dependents = array("q", bytes(8 * starts[-1]))
    for job, waits in enumerate(blockers):
        for blocker in waits:
            dependents[filled[blocker]] = job
            filled[blocker] += 1
    return starts, dependents


def _search(root: int, starts: array, dependents: array, state: bytearray) -> list[int] | None:
    def following_of(job: int) -> Iterator[int]:
        return iter(dependents[starts[job] : starts[job + 1]])

    path = [root]
    iterators = [following_of(root)]
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
            iterators.append(following_of(following))
    return None


def describe_cycle(cycle: Sequence[int], jobs: Sequence[dict[str, Any]]) -> str:
    records = {position: jobs[position] for position in set(cycle)}  # read each once
    names = " -> ".join(records[position]["name"] for position in cycle)
    implied = any(
        before not in records[after].get("depends_on", ())
        for before, after in zip(cycle, cycle[1:], strict=False)
    )
    note = " (some of these dependencies come from input/output files or user data)"
    return f"Circular dependency detected: {names}{note if implied else ''}"
