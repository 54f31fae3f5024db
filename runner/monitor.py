"""Resource monitoring: one sampler thread for every running job's whole process tree.

Summary mode keeps peak and average CPU and memory per job; time-series mode also writes
every sample to ``<output>/resource_utilization/resource_metrics_<label>.db`` (the seed's
schema). Jobs shorter than one sample interval get figures from the kernel's accounting of
the finished process, where it means something: its peak RSS only when it exceeds what the
runner itself could have lent it (a process spawned with vfork semantics starts its life
inside the parent's memory, and Linux counts that in the child's ``ru_maxrss``), and CPU time
over wall time only for jobs of a second or more.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from runner.launchers import Exit

logger = logging.getLogger(__name__)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS job_resource_samples ("
    " id INTEGER PRIMARY KEY, job_id INTEGER, timestamp REAL, cpu_percent REAL,"
    " memory_bytes INTEGER, num_processes INTEGER)",
    "CREATE INDEX IF NOT EXISTS idx_job_resource_samples_job_id ON job_resource_samples (job_id)",
    "CREATE TABLE IF NOT EXISTS job_metadata (job_id INTEGER PRIMARY KEY, job_name TEXT)",
)
INSERT_SAMPLE = (
    "INSERT INTO job_resource_samples (job_id, timestamp, cpu_percent, memory_bytes,"
    " num_processes) VALUES (?, ?, ?, ?, ?)"
)
MIN_RUSAGE_CPU_SECONDS = 1.0  # shorter jobs: CPU time over wall time is mostly noise


@dataclass
class MonitorConfig:
    enabled: bool = True
    granularity: str = "summary"  # or "time_series"
    sample_interval_seconds: float = 5.0
    # Turned off on purpose (`enabled: false`, --no-resource-monitoring): no usage figures at
    # all. A workflow without a monitor config (made through the API) still gets the exit's
    # rusage figures, which recovery uses to tell out-of-memory failures from others.
    switched_off: bool = False

    @classmethod
    def from_workflow(cls, config: dict | None, default_enabled: bool = False) -> MonitorConfig:
        config = config or {}
        return cls(
            switched_off=config.get("enabled") is False,
            enabled=bool(config.get("enabled", default_enabled)),
            granularity=str(config.get("granularity", "summary")).lower(),
            sample_interval_seconds=float(config.get("sample_interval_seconds") or 5),
        )


@dataclass
class Usage:
    """Running totals for one job."""

    pid: int
    processes: dict[int, psutil.Process] = field(default_factory=dict)
    samples: int = 0
    cpu_sum: float = 0.0
    cpu_peak: float = 0.0
    memory_sum: int = 0
    memory_peak: int = 0

    def add(self, cpu: float, memory: int) -> None:
        self.samples += 1
        self.cpu_sum += cpu
        self.memory_sum += memory
        self.cpu_peak = max(self.cpu_peak, cpu)
        self.memory_peak = max(self.memory_peak, memory)


def summary(usage: Usage | None, exit_info: Exit, elapsed: float) -> dict[str, float | int | None]:
    """The four result fields, from samples when there are any, else from the exit (whose
    peak the launcher leaves out when it may be the runner's memory rather than the job's).
    """
    rusage_peak = exit_info.max_rss_bytes
    rusage_cpu = (
        round(100.0 * exit_info.cpu_seconds / elapsed, 2)
        if elapsed >= MIN_RUSAGE_CPU_SECONDS
        else None
    )
    if usage is not None and usage.samples:
        return {
            "peak_memory_bytes": max(usage.memory_peak, rusage_peak or 0),
            "avg_memory_bytes": usage.memory_sum // usage.samples,
            "peak_cpu_percent": round(usage.cpu_peak, 2),
            "avg_cpu_percent": round(usage.cpu_sum / usage.samples, 2),
        }
    return {
        "peak_memory_bytes": rusage_peak,
        "avg_memory_bytes": rusage_peak,
        "peak_cpu_percent": rusage_cpu,
        "avg_cpu_percent": rusage_cpu,
    }


class ResourceMonitor:
    def __init__(self, config: MonitorConfig, db_path: Path | None = None) -> None:
        self.config = config
        self._jobs: dict[int, Usage] = {}
        self._new_names: list[tuple[int, str]] = []  # job_metadata rows not yet written
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._db_path = db_path if config.granularity == "time_series" else None
        self._thread = threading.Thread(target=self._loop, name="resource-monitor", daemon=True)
        if config.enabled:
            self._thread.start()

    def track(self, job_id: int, pid: int, job_name: str) -> None:
        if not self.config.enabled:
            return
        with self._lock:
            self._jobs[job_id] = Usage(pid)
            if self._db_path is not None:
                self._new_names.append((job_id, job_name))

    def finish(self, job_id: int) -> Usage | None:
        with self._lock:
            return self._jobs.pop(job_id, None)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    # The sampler thread --------------------------------------------------------------------

    def _loop(self) -> None:
        db = self._open_db()
        try:
            while not self._stop.wait(self.config.sample_interval_seconds):
                rows = self._sample_all()
                if db is not None:
                    self._write(db, rows)
        except Exception:  # noqa: BLE001  (monitoring must never take the runner down)
            logger.exception("resource monitor stopped")
        finally:
            if db is not None:
                self._write(db, [])  # names of jobs that ended before the last sample
                db.close()

    def _open_db(self) -> sqlite3.Connection | None:
        if self._db_path is None:
            return None
        self._db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._db_path)
        for statement in SCHEMA:
            db.execute(statement)
        return db

    def _sample_all(self) -> list[tuple[int, float, float, int, int]]:
        with self._lock:
            jobs = list(self._jobs.items())
        now = round(time.time(), 3)
        rows = []
        for job_id, usage in jobs:
            measured = _measure(usage)
            if measured is None:
                continue
            cpu, memory, count = measured
            usage.add(cpu, memory)
            rows.append((job_id, now, cpu, memory, count))
        return rows

    def _write(self, db: sqlite3.Connection, rows: list) -> None:
        with self._lock:
            names, self._new_names = self._new_names, []
        db.executemany("INSERT OR REPLACE INTO job_metadata VALUES (?, ?)", names)
        db.executemany(INSERT_SAMPLE, rows)
        db.commit()


def _measure(usage: Usage) -> tuple[float, int, int] | None:
    """CPU percent and RSS summed over the job's process tree, and the process count."""
    try:
        root = usage.processes.get(usage.pid) or psutil.Process(usage.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu = 0.0
    memory = 0
    alive: dict[int, psutil.Process] = {}
    for process in tree:
        known = usage.processes.get(process.pid, process)
        try:
            # The first reading of a new process is 0.0; later ones cover the interval.
            cpu += known.cpu_percent(None)
            memory += known.memory_info().rss
            alive[process.pid] = known
        except psutil.Error:
            continue
    usage.processes = alive
    return cpu, memory, len(alive)
