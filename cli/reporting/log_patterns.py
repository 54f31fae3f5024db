"""Known error messages in job, runner and Slurm logs (the seed's "Detected Error Patterns").

Each pattern has a type name, a category (memory, slurm, gpu, crash, python, filesystem,
network) and a severity (critical, error, warning). A line is attributed to the first pattern
that matches it, so the specific patterns (``CUDA out of memory``) come before the generic
ones (``out of memory``). The runner's own log says when a job died of a signal
(``return_code=-9 status=failed``, or 128 + the signal from a shell) and when it stopped a job
at its runtime limit, which leave nothing in the job's own output. Slurm's state words
(``FAILED``, ``CANCELLED``, ``TIMEOUT``) match case-sensitively as whole words, so a runner's
``status=failed`` alone is not an error; everything else ignores case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_LINE_CHARS = 300  # a matched line is kept up to this length


@dataclass(frozen=True)
class ErrorPattern:
    name: str
    category: str
    severity: str
    regex: re.Pattern[str]


def _pattern(name: str, category: str, severity: str, regex: str, exact_case: bool = False):
    flags = 0 if exact_case else re.IGNORECASE
    return ErrorPattern(name, category, severity, re.compile(regex, flags))


PATTERNS: tuple[ErrorPattern, ...] = (
    _pattern("CUDA Out of Memory", "gpu", "error", r"CUDA out of memory"),
    _pattern("GPU Memory Exceeded", "gpu", "error", r"GPU memory.*exceeded"),
    _pattern("CUDA Error", "gpu", "error", r"CUDA error"),
    _pattern("Out of Memory (OOM) Kill", "memory", "critical", r"oom[-_ ]kill|killed process \d+"),
    _pattern(
        "Slurm Memory Limit Exceeded",
        "memory",
        "critical",
        r"Exceeded job memory limit|\bexceeded memory limit\b",
    ),
    _pattern("Cgroup Memory Kill", "memory", "critical", r"task/cgroup: .*: Killed"),
    _pattern("Out of Memory", "memory", "critical", r"out of memory"),
    _pattern("Memory Allocation Failure", "memory", "critical", r"cannot allocate memory"),
    _pattern("C++ Memory Allocation Failure", "memory", "critical", r"std::bad_alloc"),
    _pattern("Python Memory Error", "memory", "critical", r"\bMemoryError\b"),
    _pattern("Slurm Time Limit", "slurm", "critical", r"DUE TO TIME LIMIT"),
    _pattern("Slurm Preemption", "slurm", "warning", r"DUE TO PREEMPTION"),
    _pattern("Slurm Node Failure", "slurm", "critical", r"\bNODE_FAIL\b", exact_case=True),
    _pattern("Slurm Step Limit Exceeded", "slurm", "error", r"Exceeded.*step.*limit"),
    # slurmstepd names itself slurmstepd-<node> in some versions.
    _pattern("slurmstepd Error", "slurm", "error", r"slurmstepd(?:-[\w.-]+)?: error:"),
    _pattern("srun Error", "slurm", "error", r"srun: error:"),
    _pattern("Slurm Timeout", "slurm", "critical", r"\bTIMEOUT\b", exact_case=True),
    _pattern("Slurm Job Cancelled", "slurm", "warning", r"\bCANCELLED\b", exact_case=True),
    _pattern("Slurm Job Failed", "slurm", "error", r"\bFAILED\b", exact_case=True),
    _pattern("Segmentation Fault", "crash", "critical", r"Segmentation fault|\bSIGSEGV\b"),
    _pattern("Bus Error", "crash", "critical", r"Bus error|\bSIGBUS\b"),
    _pattern("Killed by Signal", "crash", "error", r"killed by signal"),
    _pattern(
        "Job Killed by Signal",
        "crash",
        "error",
        r"\breturn_code=(?:-\d+|13[4-79]|143) status=failed\b",
        exact_case=True,
    ),
    _pattern("Runtime Limit Exceeded", "timeout", "critical", r"exceeded its runtime"),
    _pattern("Core Dumped", "crash", "error", r"core dumped"),
    # "Killed" alone (a shell's report), or bash's "line 1: 4242 Killed   sleep 30".
    _pattern("Process Killed", "crash", "error", r"^\s*Killed\b|\bline \d+: +\d+ Killed\b"),
    _pattern("Python Traceback", "python", "error", r"Traceback \(most recent call last\)"),
    _pattern("Python Import Error", "python", "error", r"\b(?:ModuleNotFoundError|ImportError)\b"),
    _pattern("No Space Left on Device", "filesystem", "critical", r"No space left on device"),
    _pattern("Disk Quota Exceeded", "filesystem", "critical", r"Disk quota exceeded"),
    _pattern("Read-only File System", "filesystem", "error", r"Read-only file system"),
    _pattern("Permission Denied", "filesystem", "error", r"Permission denied"),
    _pattern("File Not Found", "filesystem", "error", r"No such file or directory"),
    _pattern("Connection Refused", "network", "error", r"Connection refused"),
    _pattern("Connection Timed Out", "network", "error", r"Connection timed out"),
    _pattern("Network Unreachable", "network", "error", r"Network is unreachable"),
)


@dataclass(frozen=True)
class Finding:
    """One line of one file that matched a pattern."""

    line_number: int
    text: str
    pattern: ErrorPattern

    def as_dict(self) -> dict[str, object]:
        return {
            "line": self.line_number,
            "text": self.text,
            "type": self.pattern.name,
            "category": self.pattern.category,
            "severity": self.pattern.severity,
        }


def match_line(line: str) -> ErrorPattern | None:
    return next((pattern for pattern in PATTERNS if pattern.regex.search(line)), None)


def scan_lines(lines: Iterable[str]) -> Iterator[Finding]:
    for number, line in enumerate(lines, start=1):
        pattern = match_line(line)
        if pattern is not None:
            yield Finding(number, line.strip()[:MAX_LINE_CHARS], pattern)
