"""The benchmark workloads, as torc specs and as plain dependency lists for peers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    jobs: list[tuple[str, list[str]]]  # (name, names it depends on)
    slots: int = 2

    def spec(self) -> dict:
        return {
            "name": f"bench_{self.name}",
            "jobs": [
                {"name": name, "command": "true", **({"depends_on": deps} if deps else {})}
                for name, deps in self.jobs
            ],
        }


def independent(count: int = 1000) -> Workload:
    return Workload(
        "W1", f"{count} independent `true` jobs, 2 slots", [(f"job_{i}", []) for i in range(count)]
    )


def stages(stage_count: int = 100, width: int = 10) -> Workload:
    jobs: list[tuple[str, list[str]]] = []
    previous: list[str] = []
    for stage in range(stage_count):
        names = [f"s{stage}_j{k}" for k in range(width)]
        jobs.extend((name, list(previous)) for name in names)
        previous = names
    return Workload(
        "W2",
        f"{stage_count} stages x {width} jobs, each stage after all of the previous, 2 slots",
        jobs,
    )


WORKLOADS = {"W1": independent, "W2": stages}
