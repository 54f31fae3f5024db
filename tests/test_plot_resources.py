"""``torc plot-resources`` on the time-series database of a real run."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest

from runner.monitor import SCHEMA
from tests.helpers import ServerProcess, cli_run, torc

PY = sys.executable
WORK = f'{PY} -c "x = bytearray(30_000_000); import time; time.sleep(2.2)"'
NAMES = ("job_{}", "cpu_all_jobs", "memory_all_jobs", "summary")


def failure(*args: str, code: int = 1) -> str:
    result = cli_run(*args, code=code)
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr.strip().splitlines()[-1]


class Ran:
    def __init__(self, server: ServerProcess, directory: Path) -> None:
        spec = {
            "name": "plots_demo",
            "resource_monitor": {
                "enabled": True,
                "granularity": "time_series",
                "sample_interval_seconds": 1,
            },
            "jobs": [{"name": "work_a", "command": WORK}, {"name": "work_b", "command": WORK}],
        }
        path = directory / "spec.json"
        path.write_text(json.dumps(spec))
        output = directory / "output"
        done = torc(
            *("--url", server.url, "run", str(path), "-o", str(output), "-p", "0.2"),
            *("--max-parallel-jobs", "2"),
            cwd=directory,
        )
        assert done.returncode == 0, done.stderr
        self.workflow_id = int(re.search(r"Created workflow (\d+)", done.stdout + done.stderr)[1])
        self.databases = sorted((output / "resource_utilization").glob("resource_metrics_*.db"))
        assert len(self.databases) == 1
        with sqlite3.connect(self.databases[0]) as connection:
            self.job_ids = dict(connection.execute("SELECT job_name, job_id FROM job_metadata"))


@pytest.fixture(scope="module")
def ran(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return Ran(server, tmp_path_factory.mktemp("plots"))


def expected_files(directory: Path, prefix: str, job_ids, extension: str) -> set[Path]:
    names = [f"job_{job_id}" for job_id in job_ids] + list(NAMES[1:])
    return {directory / f"{prefix}_{name}.{extension}" for name in names}


def test_html_plots(ran: Ran, tmp_path: Path) -> None:
    out = cli_run("plot-resources", str(ran.databases[0]), "-o", str(tmp_path / "plots")).stdout
    assert out.strip() == (
        f"Wrote 5 plots for 2 jobs to {tmp_path / 'plots'} "
        "(they load plotly.min.js from there: keep it beside them)"
    )
    files = set((tmp_path / "plots").iterdir())
    ids = sorted(ran.job_ids.values())
    script = tmp_path / "plots" / "plotly.min.js"
    assert files == expected_files(tmp_path / "plots", "resource_plot", ids, "html") | {script}
    page = (tmp_path / "plots" / f"resource_plot_job_{ran.job_ids['work_a']}.html").read_text()
    assert "<html>" in page and "Plotly.newPlot" in page
    # plotly.js is written once beside the pages (no CDN: compute nodes are often offline)
    assert re.search(r"<script[^>]* src=\"plotly.min.js\"", page) and len(page) < 100_000
    assert script.stat().st_size > 1_000_000 and "https://" not in page.split("<body>")[0]
    assert f"work_a ({ran.job_ids['work_a']})" in page
    summary = (tmp_path / "plots" / "resource_plot_summary.html").read_text()
    assert "work_a" in summary and "work_b" in summary


def test_json_figures_for_chosen_jobs(ran: Ran, tmp_path: Path) -> None:
    job = ran.job_ids["work_b"]
    args = ("plot-resources", str(ran.databases[0]), "-o", str(tmp_path), "-j", str(job))
    listing = json.loads(cli_run("-f", "json", *args, "-p", "wf", "-f", "json").stdout)
    assert listing["job_ids"] == [job]
    assert set(map(Path, listing["files"])) == expected_files(tmp_path, "wf", [job], "json")
    figure = json.loads((tmp_path / f"wf_job_{job}.json").read_text())
    assert [trace["name"] for trace in figure["data"]] == ["CPU %", "Memory MB", "Processes"]
    memory = figure["data"][1]["y"]
    assert len(memory) >= 1 and max(memory) > 25  # 30 MB allocated, in MB
    summary = json.loads((tmp_path / "wf_summary.json").read_text())
    assert [trace["type"] for trace in summary["data"]] == ["bar"] * 4
    assert {trace["name"] for trace in summary["data"]} == {"Peak", "Average"}


# The layout runners wrote before the seed's schema (no id, whole-second timestamps).
OLD_SCHEMA = (
    "CREATE TABLE job_resource_samples (job_id INTEGER NOT NULL, timestamp INTEGER NOT NULL,"
    " cpu_percent REAL NOT NULL, memory_bytes INTEGER NOT NULL, num_processes INTEGER NOT NULL,"
    " PRIMARY KEY (job_id, timestamp))",
    "CREATE TABLE job_metadata (job_id INTEGER PRIMARY KEY, job_name TEXT)",
)


def test_run_writes_the_seeds_schema(ran: Ran) -> None:
    with sqlite3.connect(ran.databases[0]) as connection:
        columns = connection.execute("PRAGMA table_info(job_resource_samples)").fetchall()
        indexes = connection.execute("PRAGMA index_list(job_resource_samples)").fetchall()
    assert [(c[1], c[2], c[5]) for c in columns] == [
        ("id", "INTEGER", 1),
        ("job_id", "INTEGER", 0),
        ("timestamp", "REAL", 0),
        ("cpu_percent", "REAL", 0),
        ("memory_bytes", "INTEGER", 0),
        ("num_processes", "INTEGER", 0),
    ]
    assert any("job_id" in index[1] for index in indexes)
    assert SCHEMA[0].startswith("CREATE TABLE IF NOT EXISTS job_resource_samples")


def test_several_databases_are_merged(ran: Ran, tmp_path: Path) -> None:
    extra = tmp_path / "resource_metrics_other_9_1.db"
    with sqlite3.connect(extra) as connection:  # an old-layout file reads the same
        for statement in OLD_SCHEMA:
            connection.execute(statement)
        connection.execute("INSERT INTO job_metadata VALUES (99, 'late_job')")
        connection.executemany(
            "INSERT INTO job_resource_samples VALUES (99, ?, 50.0, 1048576, 1)",
            [(1_700_000_000,), (1_700_000_001,)],
        )
    args = ("-f", "json", "plot-resources", str(ran.databases[0]), str(extra), "-o", str(tmp_path))
    listing = json.loads(cli_run(*args).stdout)
    assert listing["job_ids"] == sorted([*ran.job_ids.values(), 99])
    out = cli_run(*args[2:], "-f", "json", "-p", "x").stdout
    assert out.strip() == f"Wrote 6 plots for 3 jobs to {tmp_path}"
    cpu = json.loads((tmp_path / "x_cpu_all_jobs.json").read_text())
    assert "late_job (99)" in {trace["name"] for trace in cpu["data"]}


def test_errors(ran: Ran, tmp_path: Path) -> None:
    database = str(ran.databases[0])
    message = failure("plot-resources", database, "-j", "12345", "-o", str(tmp_path))
    assert message == f"Error: no resource samples of jobs 12345 in {database}"
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("hello")
    message = failure("plot-resources", str(not_a_db))
    assert message.startswith(f"Error: {not_a_db}: not a resource metrics database")
    assert "does not exist" in failure("plot-resources", str(tmp_path / "none.db"), code=2)
    assert "expected IDs" in failure("plot-resources", database, "-j", "a,b", code=2)
    assert "Invalid value" in failure("plot-resources", database, "-f", "png", code=2)
    assert "Missing argument" in failure("plot-resources", code=2)
    assert list(tmp_path.iterdir()) == [not_a_db]
