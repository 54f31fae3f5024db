"""The benchmark harness runs end to end (tiny sizes): the real figures come from bench/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_harness_runs_every_workload(tmp_path: Path):
    command = [
        sys.executable, "-m", "bench.run", "--repeat", "1", "--jobs", "20", "--w2-shape", "3x2",
        "--systems", "floor,floor (log files),torc", "--w3-sizes", "50", "--c-runners", "1,2",
        "--c-jobs", "100", "--out", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["machine"]["cpus"] >= 1
    flows = {(row["workload"], row["system"]): row for row in results["rows"]}
    systems = ("floor", "floor (log files)", "torc")
    assert set(flows) == {(workload, system) for workload in ("W1", "W2") for system in systems}
    assert flows["W1", "torc"]["jobs"] == 20 and flows["W2", "torc"]["jobs"] == 6
    assert all(row["jobs_per_second"] > 0 for row in results["rows"])
    assert [(row["spec"], row["jobs"]) for row in results["w3"]] == [
        ("independent_50", 50),
        ("fan_50", 50),
    ]
    assert [row["runners"] for row in results["c"]] == [1, 2]
    assert all(sum(row["per_runner"]) == 100 for row in results["c"])
    table = (tmp_path / "results.md").read_text()
    assert "### W3" in table and "### C" in table and "| W1 | torc |" in table
    assert "| W1 | floor (log files) |" in table
    assert {row["filesystem"] for row in results["rows"]} >= {"tmpfs"}  # and the disk
    assert len({row["workdir"] for row in results["rows"]}) == 2 and table.count("### W1, W2") == 2
