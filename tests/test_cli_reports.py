"""``torc reports``: resource utilization and failure diagnosis, results with log paths, summary.

The data comes from a real run: jobs that allocate more memory than they asked for, get
SIGKILLed, and outlive their runtime.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from app.shared.units import human_duration, human_memory
from cli.reporting.diagnosis import (
    Requirements,
    diagnose_failure,
    oom_reason,
    timeout_reason,
    usage_checks,
)
from tests.helpers import Api, ServerProcess, invoke, torc

UNREACHABLE = "http://127.0.0.1:9/torc-service/v1"
PY = sys.executable
HOG = f'{PY} -c "x = bytearray(60_000_000); import time; time.sleep(2.2)"'
HOG_THEN_FAIL = f'{PY} -c "import sys; x = bytearray(60_000_000); sys.exit(1)"'
SIGKILLED = f'{PY} -c "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"'
PERCENT = re.compile(r"^[+-]\d+\.\d%$")


def as_json(url: str, *args: str) -> dict:
    return json.loads(invoke(url, "-f", "json", *args).stdout)


def failure(url: str, *args: str, code: int = 1) -> str:
    """One ``Error: ...`` line, no traceback, nothing on stdout."""
    result = invoke(url, *args, code=code)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr.strip().splitlines()[-1]


def spec() -> dict:
    return {
        "name": "reports_demo",
        "resource_monitor": {
            "enabled": True,
            "granularity": "time_series",
            "sample_interval_seconds": 1,
        },
        "resource_requirements": [
            {"name": "small", "num_cpus": 1, "memory": "10m", "runtime": "PT1M"},
            {"name": "roomy", "num_cpus": 1, "memory": "1g", "runtime": "PT1M"},
            {"name": "short", "num_cpus": 1, "memory": "1g", "runtime": "PT2S"},
        ],
        "jobs": [
            {"name": "hog", "command": HOG, "resource_requirements": "small"},
            {"name": "hog_fail", "command": HOG_THEN_FAIL, "resource_requirements": "small"},
            {"name": "sigkilled", "command": SIGKILLED, "resource_requirements": "roomy"},
            {"name": "too_slow", "command": "sleep 30", "resource_requirements": "short"},
        ],
    }


class Ran:
    def __init__(self, server: ServerProcess, directory: Path) -> None:
        self.url = server.url
        self.directory = directory
        self.output = directory / "output"
        path = directory / "spec.json"
        path.write_text(json.dumps(spec()))
        done = torc(
            *("--url", self.url, "run", str(path), "-o", str(self.output)),
            *("--max-parallel-jobs", "4", "-p", "0.2"),
            cwd=directory,
        )
        assert done.returncode == 1, done.stderr  # some jobs fail on purpose
        self.workflow_id = int(re.search(r"Created workflow (\d+)", done.stdout + done.stderr)[1])
        api = Api(self.url)
        jobs = api.get("/jobs", params={"workflow_id": self.workflow_id})["items"]
        self.job_ids = {job["name"]: job["id"] for job in jobs}
        results = api.get("/results", params={"workflow_id": self.workflow_id})["items"]
        self.results = {result["job_id"]: result for result in results}
        api.close()

    def result(self, name: str) -> dict:
        return self.results[self.job_ids[name]]


@pytest.fixture(scope="module")
def ran(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return Ran(server, tmp_path_factory.mktemp("reports"))


# diagnosis: pure functions ------------------------------------------------------------------

GIB = 1024**3
EIGHT_GB = Requirements(memory="8g", runtime="PT2H", num_cpus=8)


def result(**fields) -> dict:
    return {"job_id": 1, "status": "failed", "return_code": 1, "exec_time_minutes": 10.0, **fields}


def test_memory_cpu_and_runtime_checks_follow_the_seed_example() -> None:
    used = result(
        peak_memory_bytes=int(10.5 * GIB), peak_cpu_percent=950.5, exec_time_minutes=165.0
    )
    checks = {check.resource_type: check for check in usage_checks(used, EIGHT_GB)}
    assert (checks["Memory"].specified, checks["Memory"].peak_used) == ("8.00 GB", "10.50 GB")
    assert checks["Memory"].over_utilization == "+31.3%"
    assert (checks["CPU"].specified, checks["CPU"].peak_used) == ("800%", "950.5%")
    assert checks["CPU"].over_utilization == "+18.8%"
    assert (checks["Runtime"].specified, checks["Runtime"].peak_used) == ("2h 0m 0s", "2h 45m 0s")
    assert checks["Runtime"].over_utilization == "+37.5%"


def test_checks_skip_what_was_not_measured_or_not_requested() -> None:
    assert [c.resource_type for c in usage_checks(result(), EIGHT_GB)] == ["Runtime"]
    unparsable = Requirements(memory="lots", runtime="soon", num_cpus=0)
    assert usage_checks(result(peak_memory_bytes=5, peak_cpu_percent=50.0), unparsable) == []
    assert human_memory(10 * 1024**2) == "10.00 MB"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"peak_memory_bytes": 9 * GIB}, "memory_exceeded"),
        ({"return_code": 137, "exec_time_minutes": 30.0}, "sigkill_137"),
        ({"return_code": -9, "exec_time_minutes": 30.0}, "sigkill_137"),
        ({"return_code": 137, "exec_time_minutes": 110.0}, None),  # killed near the limit
        ({"return_code": 1, "peak_memory_bytes": GIB}, None),
        # at the limit: a process killed there peaks just under its request
        ({"peak_memory_bytes": int(7.8 * GIB)}, "memory_exceeded"),
        ({"peak_memory_bytes": int(7.5 * GIB)}, None),
        ({"peak_memory_bytes": 0, "return_code": 1}, None),
        # the runner stopped these (shutdown or runtime limit): its signal, not the OOM killer
        ({"status": "terminated", "return_code": -9, "exec_time_minutes": 1.0}, None),
        ({"status": "terminated", "return_code": -15, "exec_time_minutes": 1.0}, None),
        ({"status": "terminated", "return_code": -9, "peak_memory_bytes": 9 * GIB}, None),
    ],
)
def test_oom_heuristic(fields: dict, expected: str | None) -> None:
    assert oom_reason(result(**fields), EIGHT_GB) == expected


def test_sigkill_with_an_unknown_runtime_counts_as_oom() -> None:
    assert oom_reason(result(return_code=137), Requirements(memory="1g")) == "sigkill_137"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"return_code": 152}, "sigxcpu_152"),
        ({"status": "terminated", "exec_time_minutes": 120.5}, "runtime_limit"),
        ({"exec_time_minutes": 110.0}, "near_runtime_limit"),
        ({"exec_time_minutes": 100.0}, None),
    ],
)
def test_timeout_heuristic(fields: dict, expected: str | None) -> None:
    assert timeout_reason(result(**fields), EIGHT_GB) == expected


@pytest.mark.parametrize(
    ("fields", "timeout", "termination"),
    [
        # stopped at its runtime limit (PT2H): a timeout
        ({"status": "terminated", "return_code": -15, "exec_time_minutes": 120.1}, True, None),
        ({"status": "terminated", "return_code": -9, "exec_time_minutes": 120.3}, True, None),
        # stopped early because the runner was told to stop: neither OOM nor timeout
        (
            {"status": "terminated", "return_code": -15, "exec_time_minutes": 3.0},
            False,
            "runner_stopped",
        ),
        (
            {"status": "terminated", "return_code": -9, "exec_time_minutes": 3.0},
            False,
            "runner_stopped",
        ),
        ({"status": "failed", "return_code": -9, "exec_time_minutes": 3.0}, False, None),
    ],
)
def test_runner_stopped_jobs(fields: dict, timeout: bool, termination: str | None) -> None:
    diagnosis = diagnose_failure(result(**fields), "job", EIGHT_GB)
    assert diagnosis["likely_timeout"] is timeout
    assert diagnosis["termination_reason"] == termination
    if fields["status"] == "terminated":
        assert diagnosis["likely_oom"] is False


def test_diagnose_failure_fields() -> None:
    diagnosis = diagnose_failure(result(peak_memory_bytes=9 * GIB), "train", EIGHT_GB)
    assert diagnosis["likely_oom"] and diagnosis["oom_reason"] == "memory_exceeded"
    assert diagnosis["memory_over_utilization"] == "+12.5%"
    assert diagnosis["peak_memory_formatted"] == "9.00 GB"
    assert diagnosis["runtime_utilization"] == "8.3%"
    assert not diagnosis["likely_timeout"] and not diagnosis["likely_runtime_violation"]


# check-resource-utilization ------------------------------------------------------------------


def test_memory_violation_in_text(ran: Ran) -> None:
    out = invoke(ran.url, "reports", "check-resource-utilization", str(ran.workflow_id)).stdout
    assert out.startswith("⚠ Found 1 resource over-utilization violations:")
    hog = next(line for line in out.splitlines() if " hog " in line)
    assert re.search(r"Memory\s+10\.00 MB\s+\d+\.\d\d MB\s+\+\d+\.\d%", hog), out


def test_memory_violation_in_json(ran: Ran) -> None:
    report = as_json(ran.url, "reports", "check-resource-utilization", str(ran.workflow_id))
    assert report["workflow_id"] == ran.workflow_id and report["run_id"] is None
    assert report["total_results"] == 1  # only completed results by default
    assert report["over_utilization_count"] == len(report["violations"]) == 1
    violation = report["violations"][0]
    peak = ran.result("hog")["peak_memory_bytes"]
    assert violation == {
        "job_id": ran.job_ids["hog"],
        "job_name": "hog",
        "resource_type": "Memory",
        "specified": "10.00 MB",
        "peak_used": f"{peak / 1024**2:.2f} MB",
        "over_utilization": f"+{(peak / (10 * 1024**2) - 1) * 100:.1f}%",
    }
    assert report["failed_jobs_count"] == 0 and report["failed_jobs"] == []


def test_include_failed_diagnoses_oom_and_timeouts(ran: Ran) -> None:
    report = as_json(
        ran.url, "reports", "check-resource-utilization", str(ran.workflow_id), "--include-failed"
    )
    assert report["total_results"] == 4
    failed = {job["job_name"]: job for job in report["failed_jobs"]}
    assert set(failed) == {"hog_fail", "sigkilled", "too_slow"}
    assert report["failed_jobs_count"] == 3
    assert (
        failed["hog_fail"]["likely_oom"] and failed["hog_fail"]["oom_reason"] == "memory_exceeded"
    )
    assert failed["hog_fail"]["return_code"] == 1 and failed["hog_fail"]["status"] == "failed"
    assert failed["sigkilled"]["return_code"] in (137, -9)
    assert failed["sigkilled"]["oom_reason"] == "sigkill_137"
    assert not failed["sigkilled"]["likely_timeout"]
    slow = failed["too_slow"]
    assert slow["status"] == "terminated" and slow["configured_runtime"] == "PT2S"
    assert slow["likely_timeout"] and slow["timeout_reason"] == "runtime_limit"
    assert not slow["likely_oom"]
    kinds = {(v["job_name"], v["resource_type"]) for v in report["violations"]}
    assert {("hog", "Memory"), ("hog_fail", "Memory"), ("too_slow", "Runtime")} <= kinds


def test_include_failed_text_lists_the_diagnosis(ran: Ran) -> None:
    out = invoke(
        ran.url, "reports", "check-resource-utilization", str(ran.workflow_id), "--include-failed"
    ).stdout
    assert "Failed jobs (3):" in out
    assert "yes (memory_exceeded)" in out and "yes (runtime_limit)" in out


def test_all_shows_jobs_within_their_limits(ran: Ran) -> None:
    args = ("reports", "check-resource-utilization", str(ran.workflow_id), "--all")
    out = invoke(ran.url, *args).stdout
    assert "Runtime" in out and re.search(r"1m 0s\s+\d+\.\ds\s+-\d+\.\d%", out), out
    report = as_json(ran.url, *args, "-a")
    assert {check["resource_type"] for check in report["checks"]} == {"Memory", "CPU", "Runtime"}
    assert all(PERCENT.match(check["over_utilization"]) for check in report["checks"])


def test_a_run_without_results(ran: Ran) -> None:
    args = ("reports", "check-resource-utilization", str(ran.workflow_id), "-r", "99")
    assert "No completed job results found" in invoke(ran.url, *args).stdout
    report = as_json(ran.url, *args)
    assert report["run_id"] == 99 and report["total_results"] == 0 and report["violations"] == []


def test_all_within_limits(api: Api, server: ServerProcess) -> None:
    workflow = api.workflow("within")
    rr = api.post(
        "/resource_requirements",
        {"workflow_id": workflow, "name": "big", "num_cpus": 2, "memory": "1g", "runtime": "PT1H"},
    )
    job = api.job(workflow, "fine", resource_requirements_id=rr["id"])
    api.initialize(workflow)
    api.claim(workflow)
    api.finish(job)
    out = invoke(server.url, "reports", "check-resource-utilization", str(workflow)).stdout
    assert out.strip() == "✓ All 1 jobs stayed within their specified resource requirements"


# results ------------------------------------------------------------------------------------------


def test_results_report_paths(ran: Ran) -> None:
    result = invoke(ran.url, "reports", "results", str(ran.workflow_id), "-o", str(ran.output))
    assert result.stderr == ""  # every log exists
    report = json.loads(result.stdout)  # JSON without -f json
    assert (report["workflow_id"], report["workflow_name"]) == (ran.workflow_id, "reports_demo")
    assert report["all_runs"] is False and report["total_results"] == len(report["results"]) == 4
    records = {record["job_name"]: record for record in report["results"]}
    hog = records["hog"]
    job = ran.job_ids["hog"]
    stdio = ran.output / "job_stdio" / f"job_wf{ran.workflow_id}_j{job}_r1_a1"
    assert hog["job_stdout"] == f"{stdio}.o" and hog["job_stderr"] == f"{stdio}.e"
    assert hog["compute_node_type"] == "local" and Path(hog["job_runner_log"]).is_file()
    assert re.fullmatch(rf".*/job_runner_.+_{ran.workflow_id}_1\.log", hog["job_runner_log"])
    assert hog["slurm_job_id"] is None and hog["slurm_stdout"] is None
    assert hog["status"] == "Completed" and hog["return_code"] == 0
    assert records["too_slow"]["status"] == "Terminated"
    assert records["hog_fail"]["status"] == "Failed"
    assert set(hog) >= {"run_id", "completion_time", "exec_time_minutes", "compute_node_id"}


def test_results_report_warns_about_missing_logs(ran: Ran, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ran.output, copy)
    job = ran.job_ids["hog"]
    stdout = copy / "job_stdio" / f"job_wf{ran.workflow_id}_j{job}_r1_a1.o"
    stdout.unlink()
    args = ("reports", "results", str(ran.workflow_id), "-o", str(copy), "-j", str(job))
    result = invoke(ran.url, *args)
    assert result.stderr.strip() == (
        f"Warning: job stdout log file does not exist for job {job}: {stdout}"
    )
    report = json.loads(result.stdout)
    assert [record["job_id"] for record in report["results"]] == [job]


def test_results_report_job_filter_is_repeatable(ran: Ran) -> None:
    ids = [ran.job_ids["hog"], ran.job_ids["sigkilled"]]
    args = ("reports", "results", str(ran.workflow_id), "-o", str(ran.output))
    report = json.loads(invoke(ran.url, *args, "-j", str(ids[0]), "--job-id", str(ids[1])).stdout)
    assert sorted(record["job_id"] for record in report["results"]) == sorted(ids)


def test_results_report_needs_the_output_directory(ran: Ran, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    message = failure(ran.url, "reports", "results", str(ran.workflow_id), "-o", str(missing))
    assert message == f"Error: Output directory does not exist: {missing}"


# summary ------------------------------------------------------------------------------------------


def test_summary_mid_run(api: Api, server: ServerProcess) -> None:
    workflow = api.workflow("half_done")
    first = api.job(workflow, "a")
    api.job(workflow, "b")
    api.job(workflow, "c", depends_on_job_ids=[first])
    api.initialize(workflow)
    report = as_json(server.url, "reports", "summary", str(workflow))
    assert report["total_jobs"] == 3 and len(report["jobs_by_status"]) == 11
    assert report["jobs_by_status"]["ready"] == 2 and report["jobs_by_status"]["blocked"] == 1
    assert report["jobs_by_status"]["pending_failed"] == 0
    assert not report["is_complete"] and not report["is_canceled"]
    assert report["walltime_seconds"] is None and report["total_exec_time_minutes"] == 0
    out = invoke(server.url, "reports", "summary", str(workflow)).stdout
    assert "Job Status (total: 3):" in out and "Ready:" in out and "Completed" not in out
    assert out.strip().endswith("◷ Workflow in progress...")


def test_summary_after_a_run(ran: Ran) -> None:
    report = as_json(ran.url, "reports", "summary", str(ran.workflow_id))
    counts = report["jobs_by_status"]
    assert (counts["completed"], counts["failed"], counts["terminated"]) == (1, 2, 1)
    assert report["is_complete"] and report["workflow_name"] == "reports_demo"
    total = sum(r["exec_time_minutes"] for r in ran.results.values())
    assert report["total_exec_time_minutes"] == pytest.approx(total)
    assert report["total_exec_time_formatted"] == human_duration(total * 60)
    assert report["walltime_seconds"] >= 2 and report["walltime_formatted"]
    out = invoke(ran.url, "reports", "summary", str(ran.workflow_id)).stdout
    assert "Completed:     1 ✓" in out and "Failed:        2 ✗" in out
    assert "Walltime:" in out
    assert "✗ Workflow complete with failures (2 failed, 1 terminated, 0 canceled)" in out


def test_summary_success_and_cancel(api: Api, server: ServerProcess) -> None:
    workflow = api.workflow("all_good")
    job = api.job(workflow, "only")
    api.initialize(workflow)
    api.claim(workflow)
    api.finish(job)
    out = invoke(server.url, "reports", "summary", str(workflow)).stdout
    assert out.strip().endswith("✓ All jobs completed successfully!")
    canceled = api.workflow("stopped")
    api.job(canceled, "never")
    api.initialize(canceled)
    api.put(f"/workflows/{canceled}/cancel")
    out = invoke(server.url, "reports", "summary", str(canceled)).stdout
    assert out.strip().endswith("⊘ Workflow was canceled")


# errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("reports", "summary", "987654"),
        ("reports", "check-resource-utilization", "987654"),
        # the unknown workflow is reported before the (also missing) output directory
        ("reports", "results", "987654", "-o", "/nonexistent/output"),
    ],
)
def test_unknown_workflow(server: ServerProcess, args: tuple[str, ...]) -> None:
    assert failure(server.url, *args) == "Error: Workflow 987654 not found (HTTP 404)"


def test_unreachable_server(tmp_path: Path) -> None:
    message = failure(UNREACHABLE, "reports", "results", "1", "-o", str(tmp_path))
    assert message.startswith("Error: cannot reach the torc server")


def test_bad_flag(server: ServerProcess) -> None:
    result = invoke(server.url, "reports", "summary", "x", code=2)
    assert "Invalid value" in result.stderr
