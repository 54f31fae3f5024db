"""``torc logs bundle`` and ``torc logs analyze`` on the logs of a real run."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from cli.reporting.log_patterns import match_line
from tests.helpers import ServerProcess, invoke, torc

UNREACHABLE = "http://127.0.0.1:9/torc-service/v1"
CRASH = (
    "echo starting; echo 'Traceback (most recent call last):' >&2; "
    "echo '  File \"train.py\", line 3' >&2; "
    "echo 'MemoryError: Unable to allocate 8.00 GiB' >&2; exit 1"
)
DENIED = "echo 'bash: ./run.sh: Permission denied' >&2; exit 126"


def failure(url: str, *args: str, code: int = 1) -> str:
    result = invoke(url, *args, code=code)
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr.strip().splitlines()[-1]


class Ran:
    def __init__(self, server: ServerProcess, directory: Path) -> None:
        self.url = server.url
        self.directory = directory
        self.output = directory / "output"
        spec = {
            "name": "logs_demo",
            "resource_monitor": {"enabled": True, "granularity": "time_series"},
            "jobs": [
                {"name": "crash", "command": CRASH},
                {"name": "denied", "command": DENIED},
                {"name": "fine", "command": "echo all good"},
            ],
        }
        path = directory / "spec.json"
        path.write_text(json.dumps(spec))
        done = torc(
            *("--url", self.url, "run", str(path), "-o", str(self.output), "-p", "0.2"),
            cwd=directory,
        )
        assert done.returncode == 1, done.stderr
        self.workflow_id = int(re.search(r"Created workflow (\d+)", done.stdout + done.stderr)[1])

    def copy_output(self, target: Path) -> Path:
        shutil.copytree(self.output, target)
        return target


@pytest.fixture(scope="module")
def ran(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return Ran(server, tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def bundle(ran: Ran) -> Path:
    bundles = ran.directory / "bundles"
    args = ("logs", "bundle", str(ran.workflow_id), "-o", str(ran.output))
    out = invoke(ran.url, *args, "--bundle-dir", str(bundles)).stdout
    path = bundles / f"wf{ran.workflow_id}.tar.gz"
    assert out.strip().startswith(f"Created {path} with 8 files")
    return path


# patterns -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("RuntimeError: CUDA out of memory. Tried to allocate 2 GiB", "CUDA Out of Memory"),
        ("slurmstepd: error: Detected 1 oom-kill event(s) in step 1", "Out of Memory (OOM) Kill"),
        ("Out of memory: Killed process 4242 (python)", "Out of Memory (OOM) Kill"),
        ("*** JOB 77 ON n1 CANCELLED AT 10:00 DUE TO TIME LIMIT ***", "Slurm Time Limit"),
        ("State: NODE_FAIL", "Slurm Node Failure"),
        ("Segmentation fault (core dumped)", "Segmentation Fault"),
        (
            "terminate called after throwing an instance of 'std::bad_alloc'",
            "C++ Memory Allocation Failure",
        ),
        ("ModuleNotFoundError: No module named 'numpy'", "Python Import Error"),
        ("OSError: [Errno 28] No space left on device", "No Space Left on Device"),
        ("cat: in.txt: No such file or directory", "File Not Found"),
        ("requests.exceptions.ConnectionError: Connection refused", "Connection Refused"),
        ("Job process completed job_id=3 return_code=1 status=failed", None),
        ("all good", None),
    ],
)
def test_error_patterns(line: str, expected: str | None) -> None:
    pattern = match_line(line)
    assert (pattern.name if pattern else None) == expected


# bundle ---------------------------------------------------------------------------------------


def test_bundle_holds_the_workflows_logs_and_records(ran: Ran, bundle: Path) -> None:
    root = f"wf{ran.workflow_id}"
    with tarfile.open(bundle) as archive:
        names = archive.getnames()
        metadata = json.load(archive.extractfile(f"{root}/bundle_metadata.json"))
    stdio = [name for name in names if "/job_stdio/" in name]
    assert len(stdio) == 6 and all(name.startswith(f"{root}/job_stdio/job_wf") for name in stdio)
    runner_log = rf"{root}/job_runner_.+_{ran.workflow_id}_1\.log"
    assert any(re.fullmatch(runner_log, name) for name in names)
    assert any(name.startswith(f"{root}/resource_utilization/resource_metrics_") for name in names)
    assert metadata["workflow_id"] == ran.workflow_id
    assert metadata["workflow"]["name"] == "logs_demo"
    assert sorted(job["name"] for job in metadata["jobs"]) == ["crash", "denied", "fine"]
    assert len(metadata["results"]) == 3 and len(metadata["files"]) == 8
    assert metadata["collected_at"] and metadata["compute_nodes"]


def test_bundle_leaves_out_other_workflows(ran: Ran, tmp_path: Path) -> None:
    output = ran.copy_output(tmp_path / "output")
    other = ran.workflow_id + 1000
    (output / "job_stdio" / f"job_wf{other}_j1_r1_a1.o").write_text("not mine\n")
    (output / f"job_runner_host_{other}_1.log").write_text("not mine\n")
    args = ("-f", "json", "logs", "bundle", str(ran.workflow_id), "-o", str(output))
    summary = json.loads(invoke(ran.url, *args, "--bundle-dir", str(tmp_path)).stdout)
    assert summary["file_count"] == 8 and summary["workflow_id"] == ran.workflow_id
    assert not any(f"wf{other}_" in name or f"_{other}_1." in name for name in summary["files"])
    assert Path(summary["bundle"]).is_file()


def test_bundle_errors(ran: Ran, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    message = failure(ran.url, "logs", "bundle", str(ran.workflow_id), "-o", str(missing))
    assert message == f"Error: Output directory does not exist: {missing}"
    assert failure(ran.url, "logs", "bundle", "987654", "-o", str(ran.output)).startswith("Error:")
    message = failure(UNREACHABLE, "logs", "bundle", "1", "-o", str(ran.output))
    assert message.startswith("Error: cannot reach the torc server")
    assert not list(tmp_path.glob("*.tar.gz"))


# analyze --------------------------------------------------------------------------------------


def test_analyze_a_bundle(ran: Ran, bundle: Path) -> None:
    out = invoke(ran.url, "logs", "analyze", str(bundle)).stdout
    assert out.startswith("Log Analysis Results\n====================\n")
    assert f"Analyzing: {bundle}" in out and f"Workflow: {ran.workflow_id}" in out
    assert "Line 1: Traceback (most recent call last):" in out
    assert "Line 3: MemoryError: Unable to allocate 8.00 GiB" in out
    assert "Severity: critical\n    Type: Python Memory Error" in out
    assert "Line 1: bash: ./run.sh: Permission denied" in out
    assert "Total files scanned: 7" in out and "Files with errors: 2" in out
    assert "Error types found: Python Traceback, Python Memory Error, Permission Denied" in out


def test_analyze_json(ran: Ran, bundle: Path) -> None:
    report = json.loads(invoke(ran.url, "-f", "json", "logs", "analyze", str(bundle)).stdout)
    assert report["workflow_id"] == ran.workflow_id and report["total_files_scanned"] == 7
    assert report["files_with_errors"] == 2 and report["total_errors"] == 3
    by_type = {entry["type"]: entry for entry in report["errors_by_type"]}
    assert set(by_type) == {"Python Traceback", "Python Memory Error", "Permission Denied"}
    memory = by_type["Python Memory Error"]
    assert (memory["category"], memory["severity"], memory["count"]) == ("memory", "critical", 1)
    occurrence = memory["occurrences"][0]
    assert occurrence["line"] == 3 and occurrence["file"].endswith(".e")
    assert occurrence["file"].startswith(f"wf{ran.workflow_id}/job_stdio/")
    runner_logs = [entry for entry in report["files"] if "job_runner" in entry["file"]]
    assert runner_logs == []  # "status=failed" lines are not errors


def test_analyze_an_extracted_bundle_with_slurm_logs(ran: Ran, bundle: Path, tmp_path: Path):
    with tarfile.open(bundle) as archive:
        archive.extractall(tmp_path, filter="data")
    directory = tmp_path / f"wf{ran.workflow_id}"
    slurm = directory / f"slurm_output_wf{ran.workflow_id}_sl77.e"
    slurm.write_text("setup\nslurmstepd: error: Detected 1 oom-kill event(s) in StepId=77.0\n")
    env = directory / f"slurm_env_wf{ran.workflow_id}_sl77_n0_pid5.log"
    env.write_text("SLURM_NOTE=Permission denied\n")
    report = json.loads(invoke(ran.url, "-f", "json", "logs", "analyze", str(directory)).stdout)
    assert report["total_files_scanned"] == 8  # the env dump is not scanned
    files = {entry["file"]: entry["errors"] for entry in report["files"]}
    assert files[str(slurm)] == [
        {
            "line": 2,
            "text": "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=77.0",
            "type": "Out of Memory (OOM) Kill",
            "category": "memory",
            "severity": "critical",
        }
    ]
    assert str(env) not in files


def test_analyze_chooses_among_workflows(ran: Ran, tmp_path: Path) -> None:
    output = ran.copy_output(tmp_path / "output")
    other = ran.workflow_id + 1000
    (output / "job_stdio" / f"job_wf{other}_j1_r1_a1.e").write_text("Segmentation fault\n")
    message = failure(ran.url, "logs", "analyze", str(output))
    assert f"({ran.workflow_id}, {other})" in message and "--workflow-id" in message
    args = ("-f", "json", "logs", "analyze", str(output), "-w", str(other))
    report = json.loads(invoke(ran.url, *args).stdout)
    assert report["total_files_scanned"] == 1 and report["error_types_found"] == [
        "Segmentation Fault"
    ]
    message = failure(ran.url, "logs", "analyze", str(output), "--workflow-id", "5")
    assert message == f"Error: {output} has no logs of workflow 5"


def test_analyze_clean_logs(ran: Ran, tmp_path: Path) -> None:
    (tmp_path / "job_wf3_j1_r1_a1.o").write_text("hello\n")
    out = invoke(ran.url, "logs", "analyze", str(tmp_path)).stdout
    assert "Files with errors: 0" in out and "Error types found: none" in out


def test_analyze_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    message = failure(UNREACHABLE, "logs", "analyze", str(missing))
    assert message == f"Error: {missing}: not a directory or a .tar.gz log bundle"
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert failure(UNREACHABLE, "logs", "analyze", str(broken)).startswith("Error:")
