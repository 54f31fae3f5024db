"""Workflows on a real Slurm cluster (scripts/slurm/up.sh: two nodes on this host, partitions
main and short), end to end through the ``torc`` command line.

The slowest scenario, a job that outlives its allocation's walltime, is submitted when the
module starts and checked last, so Slurm's minute-resolution time limit runs while the
other scenarios do.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.helpers import Api, ServerProcess, password_in_command_lines, start_server, torc

CHECK_SECONDS = 2.0  # the fast server's orphan (and Slurm allocation) check interval
ACCOUNT = "torcproj"


@dataclass
class Site:
    root: Path
    fast: ServerProcess  # checks Slurm allocations every CHECK_SECONDS
    slow: ServerProcess  # checks once an hour: only the CLI changes its allocations
    config: Path  # XDG_CONFIG_HOME with this cluster's generated profile

    def torc(self, cwd: Path, *args: str, server: ServerProcess | None = None, **env: str):
        full_env = {
            "TORC_API_URL": (server or self.fast).url,
            "XDG_CONFIG_HOME": str(self.config),
            # Runners in allocations look for new work every 2 s (default 30).
            "TORC_CLIENT__SLURM__POLL_INTERVAL": "2",
            **env,
        }
        return torc(*args, cwd=cwd, env=full_env)

    def workdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path


@pytest.fixture(scope="module")
def site(slurm_cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("slurm")
    fast = start_server(root / "fast", "--orphan-check-interval-secs", str(CHECK_SECONDS))
    slow = start_server(root / "slow", "--orphan-check-interval-secs", "3600")
    config = root / "config"
    (config / "torc").mkdir(parents=True)
    generated = torc("hpc", "generate", "-o", str(config / "torc" / "config.toml"))
    assert generated.returncode == 0, generated.stderr
    try:
        yield Site(root, fast, slow, config)
    finally:
        for server in (fast, slow):
            cancel_open_allocations(server)
        kill_leftover_runners(root)
        for server in (fast, slow):
            server.stop()


def kill_leftover_runners(root: Path) -> None:
    """Runners (and their jobs) of this module's allocations that outlived them: a test that
    failed half way may leave some, and this cluster does not track processes by cgroup."""
    leftovers = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any("torc-slurm-job-runner" in part for part in cmdline) and str(root) in " ".join(
            cmdline
        ):
            leftovers.append(process.info["pid"])
    kill_process_trees(leftovers)


def cancel_open_allocations(server: ServerProcess, auth: tuple[str, str] | None = None) -> None:
    """Leave no test allocation queued or running behind (a failed test may)."""
    api = Api(server.url)
    api.session.auth = auth
    try:
        ids = []
        for workflow in api.get("/workflows", params={"limit": 10000})["items"]:
            params = {"workflow_id": workflow["id"], "limit": 10000}
            nodes = api.get("/scheduled_compute_nodes", params=params)["items"]
            ids += [str(n["scheduler_id"]) for n in nodes if n["status"] in ("pending", "active")]
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
    finally:
        api.close()


def write_spec(directory: Path, spec: dict[str, Any]) -> Path:
    path = directory / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s"
        time.sleep(interval)


def statuses(server: ServerProcess, workflow_id: int) -> dict[str, str]:
    api = Api(server.url)
    try:
        return api.statuses(workflow_id)
    finally:
        api.close()


def get(server: ServerProcess, path: str, **params: Any) -> Any:
    api = Api(server.url)
    try:
        return api.get(path, params=params or None)
    finally:
        api.close()


def allocations(server: ServerProcess, workflow_id: int) -> list[dict]:
    return get(server, "/scheduled_compute_nodes", workflow_id=workflow_id)["items"]


def created_id(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"Created workflow (\d+)", result.stderr)
    assert match, result.stderr
    return int(match.group(1))


def sacct_times(slurm_job_id: int) -> dict[str, float]:
    """Submit and end times of a Slurm job, from sacct (epoch seconds)."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--format=Submit,Start,End", f"--jobs={slurm_job_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split("|")
    return {
        key: datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%S").timestamp()
        for key, value in zip(("submit", "start", "end"), out, strict=False)
        if value.strip() not in ("", "Unknown", "None")
    }


def completion_epoch(result: dict) -> float:
    return datetime.fromisoformat(result["completion_time"].replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------------------------
# Started first: a job that needs more than its one-minute walltime
# --------------------------------------------------------------------------------------------

WALLTIME_SPEC = {
    "name": "slurm_walltime",
    "compute_node_wait_for_new_jobs_seconds": 5,
    "compute_node_expiration_buffer_seconds": 5,
    "resource_requirements": [
        {"name": "quick", "num_cpus": 1, "memory": "50m", "runtime": "PT20S"}
    ],
    "jobs": [{"name": "slow", "command": "", "resource_requirements": "quick"}],
}


@pytest.fixture(scope="module", autouse=True)
def walltime_run(site: Site) -> tuple[Path, int]:
    """Submitted before the other scenarios run. The job's first attempt sleeps far past the
    walltime torc generates for its 20 s runtime (30 s, which Slurm makes a minute)."""
    directory = site.workdir("walltime")
    spec = json.loads(json.dumps(WALLTIME_SPEC))
    marker = directory / "attempted"
    spec["jobs"][0]["command"] = (
        f"if [ -e {marker} ]; then sleep 2; else touch {marker}; sleep 600; fi"
    )
    result = site.torc(
        directory, "submit-slurm", "--account", ACCOUNT, str(write_spec(directory, spec))
    )
    return directory, created_id(result)


# --------------------------------------------------------------------------------------------
# The cluster as a profile
# --------------------------------------------------------------------------------------------


def test_hpc_generate_describes_this_cluster(site: Site) -> None:
    """`hpc generate` (run by the fixture) wrote TOML that `hpc partitions` reads back."""
    text = (site.config / "torc" / "config.toml").read_text()
    assert text.startswith("[client.hpc.custom_profiles.torctest]")
    listed = site.torc(site.root, "-f", "json", "hpc", "partitions", "torctest")
    assert listed.returncode == 0, listed.stderr
    partitions = {p["name"]: p for p in json.loads(listed.stdout)["partitions"]}
    assert partitions["main"] == {
        "name": "main",
        "cpus_per_node": 4,
        "memory_mb": 4096,
        "max_walltime_secs": 86400,
        "gpus_per_node": 0,
        "shared": False,
        "requires_explicit_request": False,
    }
    assert partitions["short"]["max_walltime_secs"] == 1800
    detected = site.torc(site.root, "-f", "json", "hpc", "detect")
    assert json.loads(detected.stdout)["detected"] == "torctest"  # by hostname
    best = site.torc(
        site.root, "hpc", "match", "--cpus", "1", "--memory", "100m", "--walltime", "10m"
    )
    assert best.stdout.rstrip().endswith("Best match: short")
    long = site.torc(site.root, "hpc", "match", "--cpus", "4", "--walltime", "2h")
    assert long.stdout.rstrip().endswith("Best match: main")
    too_big = site.torc(site.root, "hpc", "match", "--cpus", "8")
    assert too_big.returncode == 1 and "No partition found" in too_big.stderr
    assert "8 CPUs > 4" in too_big.stderr


def test_slurm_commands_fail_clearly(site: Site) -> None:
    """sbatch's own words, nothing left recorded; a timeout names the command."""
    directory = site.workdir("errors")
    created = site.torc(directory, "-f", "json", "workflows", "new", "-n", "errors")
    workflow_id = json.loads(created.stdout)["id"]
    made = site.torc(
        directory, "slurm", "create", str(workflow_id), "-n", "bad", "-a", ACCOUNT,
        "-p", "nosuchpartition", "-W", "00:01:00",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    refused = site.torc(directory, "slurm", "schedule-nodes", str(workflow_id))
    assert refused.returncode == 1
    assert "sbatch failed" in refused.stderr and "nosuchpartition" in refused.stderr.lower()
    assert "invalid partition" in refused.stderr.lower()
    assert allocations(site.fast, workflow_id) == []
    slow = site.torc(directory, "hpc", "generate", TORC_SLURM_TIMEOUT="0.001")
    assert slow.returncode == 1
    assert "did not answer within 0.001 s" in slow.stderr


# --------------------------------------------------------------------------------------------
# A three-stage pipeline, each stage's allocation requested when due
# --------------------------------------------------------------------------------------------

PIPELINE_SPEC = {
    "name": "slurm_pipeline",
    "compute_node_wait_for_new_jobs_seconds": 20,
    "compute_node_expiration_buffer_seconds": 5,
    "resource_requirements": [
        {"name": "small", "num_cpus": 1, "memory": "100m", "runtime": "PT2M"}
    ],
    # The last stage is scheduled by hand, on the completion of the second.
    "slurm_schedulers": [
        {
            "name": "report_sched",
            "account": ACCOUNT,
            "walltime": "00:05:00",
            "mem": "300m",
            "partition": "short",
        }
    ],
    "jobs": [
        {"name": "prep", "command": "echo api=$TORC_API_URL", "resource_requirements": "small"},
        {
            "name": "work_{i}",
            "command": "sleep 1; echo work {i} on $SLURM_JOB_ID",
            "resource_requirements": "small",
            "depends_on": ["prep"],
            "parameters": {"i": "1:3"},
        },
        {
            "name": "report",
            "command": "echo report",
            "resource_requirements": "small",
            "scheduler": "report_sched",
            "depends_on_regexes": ["^work_"],
        },
    ],
    "actions": [
        {
            "trigger_type": "on_jobs_complete",
            "job_name_regexes": ["^work_"],
            "action_type": "schedule_nodes",
            "scheduler": "report_sched",
            "scheduler_type": "slurm",
            "num_allocations": 1,
        }
    ],
}


def test_submit_slurm_stages_allocations(site: Site) -> None:
    directory = site.workdir("pipeline")
    spec = write_spec(directory, PIPELINE_SPEC)
    result = site.torc(directory, "submit-slurm", "--account", ACCOUNT, str(spec))
    workflow_id = created_id(result)
    assert "Submitted to Slurm with 1 allocations" in result.stdout
    # Only the first stage is requested at once.
    first = allocations(site.fast, workflow_id)
    assert len(first) == 1
    wait_until(lambda: set(statuses(site.fast, workflow_id).values()) == {"completed"}, 120)
    nodes = sorted(allocations(site.fast, workflow_id), key=lambda n: n["id"])
    assert len(nodes) == 3
    wait_until(
        lambda: all(n["status"] == "complete" for n in allocations(site.fast, workflow_id)), 30
    )
    schedulers = {
        s["id"]: s["name"]
        for s in get(site.fast, "/slurm_schedulers", workflow_id=workflow_id)["items"]
    }
    assert [schedulers[n["scheduler_config_id"]] for n in nodes] == [
        "small_scheduler",
        "small_deferred_scheduler",
        "report_sched",
    ]
    # Every job ran in an allocation of its own scheduler.
    runners = get(site.fast, "/compute_nodes", workflow_id=workflow_id)["items"]
    allocation_of = {r["id"]: r["scheduler"]["scheduled_compute_node_id"] for r in runners}
    scheduler_of = {n["id"]: n["scheduler_config_id"] for n in nodes}
    for result in get(site.fast, "/results", workflow_id=workflow_id)["items"]:
        job = get(site.fast, f"/jobs/{result['job_id']}")
        assert scheduler_of[allocation_of[result["compute_node_id"]]] == job["scheduler_id"]
    # Each allocation was submitted after the jobs it waited for had finished.
    jobs = {j["id"]: j["name"] for j in get(site.fast, "/jobs", workflow_id=workflow_id)["items"]}
    done = {
        jobs[r["job_id"]]: completion_epoch(r)
        for r in get(site.fast, "/results", workflow_id=workflow_id)["items"]
    }
    submitted = [sacct_times(n["scheduler_id"])["submit"] for n in nodes]
    assert submitted[1] >= int(done["prep"])
    assert submitted[2] >= int(max(done[f"work_{i}"] for i in (1, 2, 3)))
    assert submitted[1] < done["work_1"] and submitted[2] < done["report"]
    # Slurm's accounting and the seed's files.
    sacct = site.torc(directory, "-f", "json", "slurm", "sacct", str(workflow_id), "--save-json")
    steps = json.loads(sacct.stdout)["steps"]
    assert {s["slurm_job_id"] for s in steps} == {n["scheduler_id"] for n in nodes}
    assert all(s["state"] == "COMPLETED" for s in steps if s["step"] == "batch")
    output = directory / "output"
    for node in nodes:
        slurm_job = node["scheduler_id"]
        assert (output / f"sacct_{slurm_job}.json").is_file()
        for stream in ("o", "e"):
            assert (output / f"slurm_output_wf{workflow_id}_sl{slurm_job}.{stream}").is_file()
        assert list(output.glob(f"job_runner_slurm_wf{workflow_id}_sl{slurm_job}_n0_pid*.log"))
        env_logs = list(output.glob(f"slurm_env_wf{workflow_id}_sl{slurm_job}_n0_pid*.log"))
        assert env_logs and f"SLURM_JOB_ID={slurm_job}" in env_logs[0].read_text()
    prep_id = next(job_id for job_id, name in jobs.items() if name == "prep")
    prep_out = (output / "job_stdio" / f"job_wf{workflow_id}_j{prep_id}_r1_a1.o").read_text()
    assert prep_out.strip() == f"api={site.fast.url}"  # TORC_API_URL reached the allocation
    table = site.torc(directory, "slurm", "sacct", str(workflow_id))
    assert f"Slurm Accounting Summary for Workflow {workflow_id}" in table.stdout
    assert re.search(r"Total: \d+ job steps", table.stdout)


# --------------------------------------------------------------------------------------------
# Several runners: three allocations, and one allocation of two nodes with a worker per node
# --------------------------------------------------------------------------------------------

WORKERS_SPEC = {
    "name": "slurm_workers",
    "compute_node_wait_for_new_jobs_seconds": 3,
    "resource_requirements": [{"name": "tiny", "num_cpus": 1, "memory": "50m", "runtime": "PT1M"}],
    "slurm_schedulers": [
        {
            "name": "single",
            "account": ACCOUNT,
            "walltime": "00:05:00",
            "mem": "250m",
            "extra": "--cpus-per-task=1",
        },
        {
            "name": "wide",
            "account": ACCOUNT,
            "nodes": 2,
            "walltime": "00:05:00",
            "mem": "250m",
            "extra": "--cpus-per-task=1",
        },
    ],
    "jobs": [
        {
            "name": "job_{i}",
            "command": "sleep 2",
            "resource_requirements": "tiny",
            "parameters": {"i": "1:16"},
        }
    ],
    # The two-node allocation first: Slurm packs the others onto one node after it.
    "actions": [
        {
            "trigger_type": "on_workflow_start",
            "action_type": "schedule_nodes",
            "scheduler": "wide",
            "scheduler_type": "slurm",
            "num_allocations": 1,
            "start_one_worker_per_node": True,
        },
        {
            "trigger_type": "on_workflow_start",
            "action_type": "schedule_nodes",
            "scheduler": "single",
            "scheduler_type": "slurm",
            "num_allocations": 3,
        },
    ],
}


def test_many_runners_claim_disjoint_jobs(site: Site) -> None:
    directory = site.workdir("workers")
    result = site.torc(directory, "submit", str(write_spec(directory, WORKERS_SPEC)))
    workflow_id = created_id(result)
    assert "Submitted to Slurm with 4 allocations" in result.stdout
    wait_until(lambda: set(statuses(site.fast, workflow_id).values()) == {"completed"}, 120)
    wait_until(
        lambda: all(n["status"] == "complete" for n in allocations(site.fast, workflow_id)), 60
    )
    results = get(site.fast, "/results", workflow_id=workflow_id, all_runs="true")["items"]
    assert sorted(r["job_id"] for r in results) == sorted({r["job_id"] for r in results})
    assert len(results) == 16  # each job ran once
    runners = get(site.fast, "/compute_nodes", workflow_id=workflow_id)["items"]
    assert len(runners) == 5 and {r["compute_node_type"] for r in runners} == {"slurm"}
    assert len({r["compute_node_id"] for r in results}) >= 3
    schedulers = get(site.fast, "/slurm_schedulers", workflow_id=workflow_id)["items"]
    wide_id = next(s["id"] for s in schedulers if s["name"] == "wide")
    wide = next(
        n for n in allocations(site.fast, workflow_id) if n["scheduler_config_id"] == wide_id
    )
    per_node = [r for r in runners if r["scheduler"]["slurm_job_id"] == wide["scheduler_id"]]
    assert sorted(r["scheduler"]["node_id"] for r in per_node) == [0, 1]
    output = directory / "output"
    for node_id in (0, 1):
        assert list(
            output.glob(
                f"job_runner_slurm_wf{workflow_id}_sl{wide['scheduler_id']}_n{node_id}_pid*.log"
            )
        )
    steps = json.loads(
        site.torc(directory, "-f", "json", "slurm", "sacct", str(workflow_id)).stdout
    )["steps"]
    assert any(s["step"] == "worker_1" and s["slurm_job_id"] == wide["scheduler_id"] for s in steps)


# --------------------------------------------------------------------------------------------
# Slurm kills a job over its memory: parse-logs finds it, recover raises the memory
# --------------------------------------------------------------------------------------------

# 250 MB touched at once: over the 200m step limit, within the 300m recovery asks for.
GROW = (
    "import time; n = 250 * 2**20; b = bytearray(n); b[::4096] = b'x' * (n // 4096); time.sleep(3)"
)


def test_memory_kill_is_found_and_recovered(site: Site) -> None:
    directory = site.workdir("oom")
    spec = {
        "name": "slurm_oom",
        "compute_node_wait_for_new_jobs_seconds": 5,
        "compute_node_expiration_buffer_seconds": 5,
        "resource_requirements": [
            {"name": "hungry", "num_cpus": 1, "memory": "200m", "runtime": "PT2M"}
        ],
        "jobs": [
            {
                "name": "grow",
                "command": f'{sys.executable} -c "{GROW}"',
                "resource_requirements": "hungry",
            }
        ],
    }
    workflow_id = created_id(
        site.torc(directory, "submit-slurm", "--account", ACCOUNT, str(write_spec(directory, spec)))
    )
    # Slurm kills the job's step (srun exits 137); the runner reports the job failed.
    wait_until(lambda: statuses(site.fast, workflow_id)["grow"] == "failed", 90)
    logs = site.torc(directory, "-f", "json", "slurm", "parse-logs", str(workflow_id))
    errors = json.loads(logs.stdout)["errors"]
    memory = [e for e in errors if e["category"] == "memory"]
    assert memory and memory[0]["severity"] == "critical"
    assert memory[0]["affected_jobs"][0]["name"] == "grow"
    only = site.torc(
        directory, "-f", "json", "slurm", "parse-logs", str(workflow_id), "--errors-only"
    )
    assert {e["severity"] for e in json.loads(only.stdout)["errors"]} <= {"critical", "error"}
    table = site.torc(directory, "slurm", "parse-logs", str(workflow_id)).stdout
    assert table.startswith("Slurm Log Analysis Results\n==========================\n")
    assert "Slurm Memory Limit Exceeded" in table and "grow (ID: " in table
    recovered = site.torc(directory, "recover", str(workflow_id))
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    change = re.search(
        r"Job \d+ \(grow\): OOM detected, increasing memory 200m -> (\d+)m", recovered.stdout
    )
    assert change and int(change.group(1)) >= 300, recovered.stdout
    assert "Regenerating Slurm schedulers..." in recovered.stdout
    assert "Slurm schedulers regenerated and submitted." in recovered.stdout
    wait_until(lambda: statuses(site.fast, workflow_id)["grow"] == "completed", 90)
    schedulers = get(site.fast, "/slurm_schedulers", workflow_id=workflow_id)["items"]
    regenerated = [s for s in schedulers if "_regen_" in s["name"]]
    assert len(regenerated) == 1 and regenerated[0]["mem"] != schedulers[0]["mem"]


# --------------------------------------------------------------------------------------------
# scancel: the server's check fails the orphaned job; sync-status does it on demand
# --------------------------------------------------------------------------------------------

LONG_SPEC = {
    "name": "slurm_scancel",
    "resource_requirements": [{"name": "r", "num_cpus": 1, "memory": "50m", "runtime": "PT10M"}],
    "slurm_schedulers": [
        {
            "name": "s",
            "account": ACCOUNT,
            "walltime": "00:15:00",
            "mem": "200m",
            "extra": "--cpus-per-task=1",
        }
    ],
    "jobs": [
        {"name": "long", "command": "sleep 600", "resource_requirements": "r", "scheduler": "s"}
    ],
    "actions": [
        {
            "trigger_type": "on_workflow_start",
            "action_type": "schedule_nodes",
            "scheduler": "s",
            "scheduler_type": "slurm",
            "num_allocations": 1,
        }
    ],
}


def test_scancel_orphans_and_sync_status(site: Site) -> None:
    directory = site.workdir("scancel")
    spec = write_spec(directory, LONG_SPEC)
    watched = created_id(site.torc(directory, "submit", str(spec)))
    manual = created_id(site.torc(directory, "submit", str(spec), server=site.slow))
    for server, workflow_id in ((site.fast, watched), (site.slow, manual)):
        wait_until(lambda s=server, w=workflow_id: statuses(s, w)["long"] == "running", 60)
    jobs = [allocations(site.fast, watched)[0], allocations(site.slow, manual)[0]]
    slurm_ids = [str(node["scheduler_id"]) for node in jobs]
    # And an allocation of the manual workflow that will never start, canceled while queued.
    later = site.torc(
        directory, "-f", "json", "slurm", "create", str(manual), "-n", "later", "-a", ACCOUNT,
        "-e", "--begin=now+3600", server=site.slow,
    )  # fmt: skip
    queued_later = site.torc(
        directory, "-f", "json", "slurm", "schedule-nodes", str(manual), "-o", "output",
        "--scheduler-config-id", str(json.loads(later.stdout)["id"]), server=site.slow,
    )  # fmt: skip
    assert queued_later.returncode == 0, queued_later.stderr
    slurm_ids.append(str(json.loads(queued_later.stdout)["allocations"][0]["slurm_job_id"]))
    # SIGKILL to the batch step: the allocation ends, its runner with it, reporting nothing.
    # (This cluster tracks processes by parentage, not cgroups, so Slurm loses the runner
    # once the batch shell is gone: the test kills what a cgroup would have taken along.)
    runner_pids = [
        runner["pid"]
        for server, workflow_id in ((site.fast, watched), (site.slow, manual))
        for runner in get(server, "/compute_nodes", workflow_id=workflow_id)["items"]
    ]
    subprocess.run(["scancel", "--signal=KILL", "--batch", *slurm_ids[:2]], check=True, timeout=30)
    kill_process_trees(runner_pids)
    subprocess.run(["scancel", slurm_ids[2]], check=True, timeout=30)
    gone = wait_until(lambda: time.monotonic() if not queued(slurm_ids) else None, 60, 0.2)
    noticed = wait_until(
        lambda: time.monotonic() if statuses(site.fast, watched)["long"] == "failed" else None,
        30,
        0.2,
    )
    assert noticed - gone <= CHECK_SECONDS + 1.5
    result = get(site.fast, "/results", workflow_id=watched)["items"][0]
    assert result["return_code"] == -128
    assert allocations(site.fast, watched)[0]["status"] == "complete"

    # The slow server has not looked: a dry run reports, and changes nothing.
    dry = site.torc(
        directory,
        "-f",
        "json",
        "workflows",
        "sync-status",
        str(manual),
        "--dry-run",
        server=site.slow,
    )
    report = json.loads(dry.stdout)
    assert report["dry_run"] and [j["name"] for j in report["failed_jobs"]] == ["long"]
    assert len(report["vanished_pending_allocations"]) == 1
    assert statuses(site.slow, manual)["long"] == "running"
    assert [n["status"] for n in allocations(site.slow, manual)] == ["active", "pending"]
    synced = site.torc(directory, "workflows", "sync-status", str(manual), server=site.slow)
    assert synced.returncode == 0, synced.stderr
    text = synced.stdout
    assert text.startswith(f"Synchronizing job statuses for workflow {manual}...")
    assert "  - 1 job(s) from terminated Slurm allocations" in text
    assert "  - 1 pending allocation(s) that no longer exist in Slurm" in text
    assert f"Allocation terminated (Slurm job {slurm_ids[1]}" in text
    assert "Total: 1 job(s) marked as failed" in text
    assert f"You can now run `torc recover {manual}` to retry failed jobs." in text
    assert statuses(site.slow, manual)["long"] == "failed"
    assert {n["status"] for n in allocations(site.slow, manual)} == {"complete"}


def kill_process_trees(pids: list[int]) -> None:
    """SIGKILL these processes and everything they started."""
    doomed = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            doomed += [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for process in doomed:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(doomed, timeout=10)


def queued(slurm_ids: list[str]) -> bool:
    listed = subprocess.run(
        ["squeue", "--noheader", "--format=%i", f"--jobs={','.join(slurm_ids)}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return bool(listed.stdout.split())


# --------------------------------------------------------------------------------------------
# A job that cannot finish before the allocation ends is left for a longer one
# --------------------------------------------------------------------------------------------


def test_runner_leaves_jobs_longer_than_its_allocation(site: Site) -> None:
    directory = site.workdir("too_long")
    spec = {
        "name": "slurm_too_long",
        "compute_node_expiration_buffer_seconds": 5,
        "resource_requirements": [{"name": "r", "num_cpus": 1, "memory": "50m", "runtime": "PT5M"}],
        "slurm_schedulers": [{"name": "brief", "account": ACCOUNT, "walltime": "00:01:00"}],
        "jobs": [
            {"name": "long", "command": "true", "resource_requirements": "r", "scheduler": "brief"}
        ],
        "actions": [
            {
                "trigger_type": "on_workflow_start",
                "action_type": "schedule_nodes",
                "scheduler": "brief",
                "scheduler_type": "slurm",
                "num_allocations": 1,
            }
        ],
    }
    result = site.torc(directory, "submit", "--skip-checks", str(write_spec(directory, spec)))
    workflow_id = created_id(result)
    assert "its runtime PT5M exceeds the walltime 00:01:00" in result.stderr  # a warning
    wait_until(lambda: allocations(site.fast, workflow_id)[0]["status"] == "complete", 60)
    assert statuses(site.fast, workflow_id) == {"long": "ready"}
    slurm_job = allocations(site.fast, workflow_id)[0]["scheduler_id"]
    errors = (directory / "output" / f"slurm_output_wf{workflow_id}_sl{slurm_job}.e").read_text()
    assert "1 ready job(s) need more time than the allocation has left" in errors


# --------------------------------------------------------------------------------------------
# watch --auto-schedule: ready jobs and no allocation get one
# --------------------------------------------------------------------------------------------


def test_watch_auto_schedules_ready_jobs(site: Site) -> None:
    directory = site.workdir("auto")
    spec = {
        "name": "slurm_auto",
        "compute_node_wait_for_new_jobs_seconds": 5,
        "compute_node_expiration_buffer_seconds": 5,
        "resource_requirements": [
            {"name": "unit", "num_cpus": 1, "memory": "50m", "runtime": "PT1M"}
        ],
        "slurm_schedulers": [{"name": "manual", "account": ACCOUNT, "walltime": "00:05:00"}],
        "jobs": [
            {"name": f"step_{i}", "command": "true", "resource_requirements": "unit"}
            for i in range(3)
        ],
    }
    created = site.torc(
        directory, "-f", "json", "workflows", "create", str(write_spec(directory, spec))
    )
    workflow_id = json.loads(created.stdout)["workflow_id"]
    site.torc(directory, "workflows", "initialize", str(workflow_id), "--no-prompts")
    watched = site.torc(directory, "watch", str(workflow_id), "--auto-schedule", "-p", "1")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "Auto-scheduling: 3 ready job(s) and no pending or running allocation" in watched.stdout
    assert "Workflow completed successfully (3 jobs)" in watched.stdout
    names = [
        s["name"] for s in get(site.fast, "/slurm_schedulers", workflow_id=workflow_id)["items"]
    ]
    assert any(name.startswith("unit_regen_") for name in names)


# --------------------------------------------------------------------------------------------
# Last: the job that outlived its walltime (submitted by the fixture at the start)
# --------------------------------------------------------------------------------------------


def test_walltime_kill_is_found_and_recovered(site: Site, walltime_run) -> None:
    directory, workflow_id = walltime_run
    wait_until(lambda: statuses(site.fast, workflow_id)["slow"] == "terminated", 240, 1)
    logs = json.loads(
        site.torc(directory, "-f", "json", "slurm", "parse-logs", str(workflow_id)).stdout
    )
    limits = [e for e in logs["errors"] if e["pattern"] == "Slurm Time Limit"]
    assert limits and limits[0]["affected_jobs"][0]["name"] == "slow"
    # The runner ended by Slurm's signal, not by itself: it kept the kernel's messages.
    assert list((directory / "output").glob(f"dmesg_slurm_wf{workflow_id}_sl*_n0_pid*.log"))
    recovered = site.torc(directory, "recover", str(workflow_id))
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    change = re.search(
        r"Job \d+ \(slow\): Timeout detected, increasing runtime PT20S -> PT(\d+)M",
        recovered.stdout,
    )
    assert change and int(change.group(1)) >= 1, recovered.stdout
    wait_until(lambda: statuses(site.fast, workflow_id)["slow"] == "completed", 120)
    regenerated = [
        s
        for s in get(site.fast, "/slurm_schedulers", workflow_id=workflow_id)["items"]
        if "_regen_" in s["name"]
    ]
    assert regenerated and regenerated[0]["walltime"] > "00:01:00"


# --------------------------------------------------------------------------------------------
# The dashboard's Slurm views (Scheduled Nodes "View Logs", Debugging's Slurm buttons)
# --------------------------------------------------------------------------------------------

ONE_JOB_SPEC = {
    "name": "slurm_dash",
    "compute_node_wait_for_new_jobs_seconds": 2,
    "compute_node_expiration_buffer_seconds": 5,
    "resource_requirements": [{"name": "r", "num_cpus": 1, "memory": "50m", "runtime": "PT10S"}],
    "jobs": [
        {"name": "hello", "command": "echo hello from a job step", "resource_requirements": "r"}
    ],
}


def test_dashboard_shows_slurm_logs_and_accounting(site: Site) -> None:
    import requests

    from tests.dash_support import start_dash

    directory = site.workdir("dash")
    spec = write_spec(directory, ONE_JOB_SPEC)
    workflow_id = created_id(site.torc(directory, "submit-slurm", "--account", ACCOUNT, str(spec)))
    wait_until(lambda: statuses(site.fast, workflow_id)["hello"] == "completed", 60)
    wait_until(
        lambda: all(n["status"] == "complete" for n in allocations(site.fast, workflow_id)), 30
    )
    (node,) = allocations(site.fast, workflow_id)
    board = start_dash(directory, "--api-url", site.fast.url)
    try:

        def call(name: str, **body: str) -> dict:
            reply = requests.post(f"{board.url}/api/cli/{name}", json=body, timeout=120)
            assert reply.status_code == 200, reply.text
            return reply.json()

        ids = {"workflow_id": str(workflow_id), "output_dir": "output"}
        # Scheduled Nodes: View Logs of the allocation, by the Slurm job ID of its record.
        logs = call("slurm-logs", slurm_job_id=str(node["scheduler_id"]), **ids)
        assert logs["success"] and logs["stdout"]["exists"] and logs["stderr"]["exists"]
        assert logs["stdout"]["path"].endswith(
            f"slurm_output_wf{workflow_id}_sl{node['scheduler_id']}.o"
        )
        # The allocation's runner log, through the file route (confined to the output dir).
        runner_log = next((directory / "output").glob(f"job_runner_slurm_wf{workflow_id}_*.log"))
        text = call("read-file", path=str(runner_log), **ids)
        assert text["success"] and "launcher=srun" in text["content"]
        # Debugging: Analyze Slurm Logs (nothing wrong here) and Slurm accounting.
        analysis = call("slurm-parse-logs", **ids)
        assert analysis["success"], analysis
        accounting = call("slurm-sacct", workflow_id=str(workflow_id))
        assert accounting["success"], accounting
        steps = json.loads(accounting["stdout"])["steps"]
        assert {s["slurm_job_id"] for s in steps} == {node["scheduler_id"]}
        assert any(s["step"].startswith("torc_") and s["state"] == "COMPLETED" for s in steps)
    finally:
        board.stop()


# --------------------------------------------------------------------------------------------
# The watchdog under Slurm: a runner killed with SIGKILL takes its job steps with it
# --------------------------------------------------------------------------------------------


def test_killed_runner_ends_its_job_steps(site: Site) -> None:
    directory = site.workdir("watchdog")
    spec = json.loads(json.dumps(LONG_SPEC))
    spec["name"] = "slurm_watchdog"
    spec["jobs"][0]["command"] = "sleep 6007"
    workflow_id = created_id(site.torc(directory, "submit", str(write_spec(directory, spec))))
    wait_until(lambda: statuses(site.fast, workflow_id)["long"] == "running", 60)
    wait_until(lambda: _step_processes("6007"), 30)
    (runner,) = get(site.fast, "/compute_nodes", workflow_id=workflow_id)["items"]
    psutil.Process(runner["pid"]).kill()
    killed_at = time.monotonic()
    # The watchdog ends the step (its processes and, with scancel, the step itself) and tells
    # the server, which fails the job as an orphan (return code -128).
    wait_until(lambda: statuses(site.fast, workflow_id)["long"] == "failed", 30, 0.2)
    noticed = time.monotonic() - killed_at
    assert noticed < CHECK_SECONDS + 5, noticed
    wait_until(lambda: not _step_processes("6007"), 15, 0.2)
    (result,) = get(site.fast, "/results", workflow_id=workflow_id)["items"]
    assert result["return_code"] == -128
    slurm_job = allocations(site.fast, workflow_id)[0]["scheduler_id"]

    def torc_steps() -> list[str]:
        steps = subprocess.run(
            ["squeue", "-h", "-s", "-j", str(slurm_job), "-o", "%j"],
            capture_output=True,
            text=True,
        ).stdout.split()
        return [name for name in steps if name.startswith("torc_")]

    # slurmctld drops an ended step from squeue a moment after its processes are gone.
    wait_until(lambda: not torc_steps(), 20, 0.5)


def _step_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        # srun runs the step's program by its full path
        if len(cmdline) == 2 and cmdline[0].endswith("sleep") and cmdline[1] == marker:
            found.append(process)
    return found


# --------------------------------------------------------------------------------------------
# A server a team shares: runners in allocations log in as the user who submitted
# --------------------------------------------------------------------------------------------


def test_runners_in_allocations_carry_the_users_credentials(site: Site, tmp_path: Path) -> None:
    """On a server that requires authentication and enforces access control, the runner
    sbatch starts reports the jobs of a workflow only its owner may reach: it has the user's
    credentials from the submission environment, never from a command line (checked across
    the machine while it runs), the generated script or any log."""
    import bcrypt
    import requests

    password = "slurm-Runner-pw-5"
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"olivia:{hashed}\n")
    shared = start_server(
        tmp_path / "server",
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
        "--orphan-check-interval-secs",
        str(CHECK_SECONDS),
    )
    owner = Api(shared.url)
    owner.session.auth = ("olivia", password)
    try:
        directory = site.workdir("shared_server")
        spec = write_spec(directory, {**ONE_JOB_SPEC, "name": "slurm_shared"})
        env = {"USER": "olivia", "TORC_PASSWORD": password}
        submitted = site.torc(
            directory, "submit-slurm", "--account", ACCOUNT, str(spec), server=shared, **env
        )
        workflow_id = created_id(submitted)
        anonymous = requests.get(f"{shared.url}/workflows/{workflow_id}", timeout=10)
        assert anonymous.status_code == 401
        on_command_line = False

        def finished() -> bool:
            nonlocal on_command_line
            on_command_line |= password_in_command_lines(password)
            return owner.statuses(workflow_id)["hello"] == "completed"

        wait_until(finished, 90)
        assert not on_command_line
        runners = owner.get("/compute_nodes", params={"workflow_id": workflow_id})["items"]
        assert {r["compute_node_type"] for r in runners} == {"slurm"}
        files = [shared.log, *(path for path in directory.rglob("*") if path.is_file())]
        assert any(path.name.startswith("job_runner_slurm_") for path in files)
        for path in files:
            assert password not in path.read_text(errors="replace"), path
    finally:
        owner.close()
        cancel_open_allocations(shared, ("olivia", password))
        shared.stop()
