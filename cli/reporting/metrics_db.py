"""Reading the runners' time-series databases (``resource_metrics_*.db``).

Schema (the seed's): ``job_resource_samples(id INTEGER PRIMARY KEY, job_id, timestamp
REAL, cpu_percent, memory_bytes, num_processes)`` with unix timestamps, and
``job_metadata(job_id, job_name)``. Columns are read by name, so files of the earlier layout
(no ``id``, whole-second timestamps) read the same. A job found in several databases
(several runs or runners) gets all its samples merged in time order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SAMPLES_QUERY = (
    "SELECT job_id, timestamp, cpu_percent, memory_bytes, num_processes "
    "FROM job_resource_samples ORDER BY job_id, timestamp"
)
NAMES_QUERY = "SELECT job_id, job_name FROM job_metadata"
MIB = 1024**2


class MetricsError(Exception):
    """A file that is not a readable resource metrics database."""


@dataclass
class JobSeries:
    """Every sample of one job."""

    job_id: int
    job_name: str
    samples: list[tuple[float, float, int, int]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.job_name} ({self.job_id})"

    @property
    def times(self) -> list[datetime]:
        return [datetime.fromtimestamp(sample[0]) for sample in self.samples]

    @property
    def cpu_percent(self) -> list[float]:
        return [sample[1] for sample in self.samples]

    @property
    def memory_bytes(self) -> list[int]:
        return [sample[2] for sample in self.samples]

    @property
    def memory_megabytes(self) -> list[float]:
        return [sample[2] / MIB for sample in self.samples]

    @property
    def num_processes(self) -> list[int]:
        return [sample[3] for sample in self.samples]


def read_database(path: Path) -> tuple[list[tuple], dict[int, str]]:
    """(samples, job names) of one database, opened read-only."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise MetricsError(f"{path}: cannot open ({exc})") from None
    try:
        names = dict(_optional_rows(connection, NAMES_QUERY))
        return connection.execute(SAMPLES_QUERY).fetchall(), names
    except sqlite3.Error as exc:
        raise MetricsError(f"{path}: not a resource metrics database ({exc})") from None
    finally:
        connection.close()


def _optional_rows(connection: sqlite3.Connection, query: str) -> list[tuple]:
    """Rows of a table older databases may lack (then none)."""
    try:
        return connection.execute(query).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def read_series(paths: Iterable[Path], job_ids: set[int] | None = None) -> list[JobSeries]:
    """The samples of every job (or of ``job_ids``) in ``paths``, ordered by job ID."""
    series: dict[int, JobSeries] = {}
    for path in paths:
        samples, names = read_database(path)
        for job_id, timestamp, cpu, memory, processes in samples:
            if job_ids is not None and job_id not in job_ids:
                continue
            job = series.setdefault(job_id, JobSeries(job_id, f"job {job_id}"))
            job.job_name = names.get(job_id, job.job_name)
            job.samples.append((timestamp, cpu, memory, processes))
    for job in series.values():
        job.samples.sort()
    return [series[job_id] for job_id in sorted(series)]
