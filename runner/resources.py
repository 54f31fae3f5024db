"""What this machine offers, and the bookkeeping of what running jobs hold."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import psutil

GIB = 1024**3


@dataclass
class Resources:
    num_cpus: int
    memory_bytes: int
    num_gpus: int = 0
    num_nodes: int = 1

    @property
    def memory_gb(self) -> float:
        return self.memory_bytes / GIB


def gpu_count() -> int:
    """NVIDIA GPUs visible here (0 without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))


def detect(
    num_cpus: int | None = None, memory_gb: float | None = None, num_gpus: int | None = None
) -> Resources:
    """All logical CPUs, total RAM and GPU count, each overridable."""
    return Resources(
        num_cpus=num_cpus if num_cpus is not None else psutil.cpu_count(logical=True) or 1,
        memory_bytes=int(memory_gb * GIB)
        if memory_gb is not None
        else psutil.virtual_memory().total,
        num_gpus=num_gpus if num_gpus is not None else gpu_count(),
    )


@dataclass(frozen=True)
class Need:
    """What one job holds while it runs."""

    num_cpus: int = 1
    memory_bytes: int = 1024 * 1024
    num_gpus: int = 0
    num_nodes: int = 1


class Ledger:
    """Free capacity: jobs take their need when they start and give it back when they end."""

    def __init__(self, capacity: Resources) -> None:
        self.capacity = capacity
        self.cpus = capacity.num_cpus
        self.memory = capacity.memory_bytes
        self.gpus = capacity.num_gpus
        self.nodes = capacity.num_nodes

    def fits(self, need: Need) -> bool:
        return (
            need.num_cpus <= self.cpus
            and need.memory_bytes <= self.memory
            and need.num_gpus <= self.gpus
            and (need.num_nodes <= 1 or need.num_nodes <= self.nodes)
        )

    def could_ever_fit(self, need: Need) -> bool:
        total = self.capacity
        return (
            need.num_cpus <= total.num_cpus
            and need.memory_bytes <= total.memory_bytes
            and need.num_gpus <= total.num_gpus
            and need.num_nodes <= total.num_nodes
        )

    def take(self, need: Need) -> None:
        self._add(need, -1)

    def give(self, need: Need) -> None:
        self._add(need, +1)

    def _add(self, need: Need, sign: int) -> None:
        self.cpus += sign * need.num_cpus
        self.memory += sign * need.memory_bytes
        self.gpus += sign * need.num_gpus
        if need.num_nodes > 1:
            self.nodes += sign * need.num_nodes

    def free(self) -> Resources:
        return Resources(
            max(self.cpus, 0), max(self.memory, 0), max(self.gpus, 0), max(self.nodes, 0)
        )
