"""Restarting workflows: ``initialize`` (full restart), ``reinitialize`` (rerun what changed)
and ``reset-status``, against a real server with jobs that really read and write files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import Api, ServerProcess, invoke, start_runner, torc, wait_for

# Each job appends its name to runs.log, so a test sees exactly which jobs ran.
SPEC = """
name: change_detection
user_data:
  - name: cfg
    data: {"alpha": 1}
files:
  - {name: raw, path: raw.txt}
  - {name: other, path: other.txt}
  - {name: mid, path: mid.txt}
  - {name: final, path: final.txt}
  - {name: side, path: side.txt}
jobs:
  - name: prep
    command: cat raw.txt > mid.txt && echo prep >> runs.log
    input_files: [raw]
    output_files: [mid]
  - name: post
    command: cat mid.txt > final.txt && echo post >> runs.log
    input_files: [mid]
    output_files: [final]
  - name: report
    command: echo report >> runs.log
    depends_on: [post]
  - name: lone
    command: cat other.txt > side.txt && echo lone ${user_data.input.cfg} >> runs.log
    input_files: [other]
    output_files: [side]
"""
ALL_JOBS = {"prep", "post", "report", "lone"}


def as_json(server: ServerProcess, *args: str) -> dict:
    return json.loads(invoke(server.url, "-f", "json", *args).stdout)


def failure(server: ServerProcess, *args: str) -> str:
    result = invoke(server.url, *args, code=1)
    assert "Traceback" not in result.output
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The spec and its input files; in-process commands resolve paths from here too."""
    (tmp_path / "spec.yaml").write_text(SPEC)
    (tmp_path / "raw.txt").write_text("raw\n")
    (tmp_path / "other.txt").write_text("other\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_spec(server: ServerProcess, workdir: Path) -> int:
    result = torc("--url", server.url, "run", "spec.yaml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    workflow_id = int(result.stderr.split("Created workflow ")[1].split()[0])
    assert ran(workdir) == ALL_JOBS
    return workflow_id


def rerun(server: ServerProcess, workdir: Path, workflow_id: int) -> set[str]:
    result = torc("--url", server.url, "workflows", "run", str(workflow_id), cwd=workdir)
    assert result.returncode == 0, result.stderr
    return ran(workdir)


def ran(workdir: Path) -> set[str]:
    """The jobs that ran since the last call (and that they ran once each)."""
    log = workdir / "runs.log"
    names = [line.split()[0] for line in log.read_text().splitlines()]
    log.write_text("")
    assert len(names) == len(set(names)), names
    return set(names)


def touch_later(path: Path) -> None:
    later = path.stat().st_mtime + 100
    os.utime(path, (later, later))


@pytest.fixture
def completed(server: ServerProcess, workdir: Path) -> int:
    return run_spec(server, workdir)


# reinitialize ------------------------------------------------------------------------------


def test_changed_input_file_reruns_its_readers_and_downstream(
    server: ServerProcess, api: Api, workdir: Path, completed: int
) -> None:
    wf = completed
    nothing = as_json(server, "workflows", "reinitialize", str(wf), "--dry-run")
    assert nothing["reset_jobs"] == [] and nothing["dry_run"] is True

    touch_later(workdir / "raw.txt")
    files_before = api.get("/files", params={"workflow_id": wf})["items"]
    preview = as_json(server, "workflows", "reinitialize", str(wf), "--dry-run")
    assert preview == {
        "workflow_id": wf,
        "run_id": 2,
        "reset_jobs": ["prep", "post", "report"],
        "reasons": {
            "prep": "input file changed: raw.txt",
            "post": "downstream of prep",
            "report": "downstream of post",
        },
        "unfinished_jobs": {},
        "dry_run": True,
    }
    text = invoke(server.url, "workflows", "reinitialize", str(wf), "--dry-run").stdout
    assert text.splitlines() == [
        "Dry run: 3 jobs would be reset due to changed inputs",
        "- prep",
        "- post",
        "- report",
    ]
    # A dry run changes nothing at all.
    assert set(api.statuses(wf).values()) == {"completed"}
    assert api.run_id(wf) == 1
    assert api.get("/files", params={"workflow_id": wf})["items"] == files_before

    text = invoke(server.url, "workflows", "reinitialize", str(wf)).stdout
    assert text.splitlines()[0] == "Reset 3 jobs due to changed inputs"
    assert f"Reinitialized workflow {wf} (run 2)" in text
    assert api.run_id(wf) == 2
    assert api.statuses(wf) == {
        "prep": "ready",
        "post": "blocked",
        "report": "blocked",
        "lone": "completed",
    }
    assert rerun(server, workdir, wf) == {"prep", "post", "report"}
    assert as_json(server, "workflows", "reinitialize", str(wf), "--dry-run")["reset_jobs"] == []
    # The current results are each job's latest: `lone` keeps its run-1 result.
    current = api.get("/results", params={"workflow_id": wf})["items"]
    jobs = api.get("/jobs", params={"workflow_id": wf})["items"]
    names = {job["id"]: job["name"] for job in jobs}
    assert {names[r["job_id"]]: r["run_id"] for r in current} == {
        "prep": 2,
        "post": 2,
        "report": 2,
        "lone": 1,
    }
    every = api.get("/results", params={"workflow_id": wf, "all_runs": "true"})["items"]
    assert len(every) == 7


def test_missing_output_reruns_its_producer(
    server: ServerProcess, api: Api, workdir: Path, completed: int
) -> None:
    wf = completed
    (workdir / "final.txt").unlink()
    preview = as_json(server, "workflows", "reinitialize", str(wf), "--dry-run")
    assert preview["reset_jobs"] == ["post", "report"]
    assert preview["reasons"]["post"] == "output file missing: final.txt"
    assert (workdir / "final.txt").exists() is False and api.statuses(wf)["post"] == "completed"

    answer = as_json(server, "workflows", "reinitialize", str(wf))
    assert answer["reset_jobs"] == ["post", "report"] and answer["dry_run"] is False
    assert answer["run_id"] == 2
    assert rerun(server, workdir, wf) == {"post", "report"}
    assert (workdir / "final.txt").read_text() == "raw\n"


def test_changed_user_data_reruns_its_consumers(
    server: ServerProcess, api: Api, workdir: Path, completed: int
) -> None:
    wf = completed
    record = api.get("/user_data", params={"workflow_id": wf})["items"][0]
    api.put(f"/user_data/{record['id']}", {**record, "data": {"alpha": 2}})
    preview = as_json(server, "workflows", "reinitialize", str(wf), "--dry-run")
    assert preview["reset_jobs"] == ["lone"]
    assert preview["reasons"] == {"lone": "job definition or input user data changed"}
    invoke(server.url, "workflows", "reinitialize", str(wf))
    assert rerun(server, workdir, wf) == {"lone"}


def test_reinitialize_refuses_while_jobs_run(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("busy")
    api.job(wf, "a")
    api.initialize(wf)
    api.claim(wf)
    line = failure(server, "workflows", "reinitialize", str(wf))
    assert "1 job(s) are pending or running" in line and "--force" in line
    answer = as_json(server, "workflows", "reinitialize", str(wf), "--force")
    assert answer["run_id"] == 2 and api.statuses(wf) == {"a": "pending"}


CANCEL_SPEC = """
name: cut_off
jobs:
  - name: quick
    command: echo quick >> runs.log
  - name: cut
    command: test -f second_time || sleep 60; echo cut >> runs.log
  - name: after_cut
    command: echo after_cut >> runs.log
    depends_on: [cut]
  - name: after_after
    command: echo after_after >> runs.log
    depends_on: [after_cut]
"""


def test_restart_after_cancellation(server: ServerProcess, api: Api, workdir: Path) -> None:
    """The seed's guide: cancel, reinitialize, run. The cut-off job runs again, its dependents
    wait for it, and what completed before the cancel stays completed."""
    (workdir / "cancel.yaml").write_text(CANCEL_SPEC)
    wf = as_json(server, "workflows", "create", "cancel.yaml")["workflow_id"]
    runner = start_runner(server.url, wf, workdir)
    wait_for(lambda: api.statuses(wf)["cut"] == "running")
    wait_for(lambda: api.statuses(wf)["quick"] == "completed")
    invoke(server.url, "workflows", "cancel", str(wf))
    assert runner.wait(timeout=30) is not None
    statuses = api.statuses(wf)
    assert statuses["cut"] == "canceled" and statuses["quick"] == "completed"
    assert statuses["after_after"] != "completed"
    assert ran(workdir) == {"quick"}

    text = invoke(server.url, "workflows", "reinitialize", str(wf)).stdout
    assert text.splitlines() == [
        "Rerunning 1 jobs that did not finish (1 canceled)",
        "- cut (canceled)",
        f"Reinitialized workflow {wf} (run 2)",
    ]
    assert api.statuses(wf) == {
        "quick": "completed",
        "cut": "ready",
        "after_cut": "blocked",
        "after_after": "blocked",
    }
    assert not api.get(f"/workflows/{wf}/is_complete")["is_canceled"]
    (workdir / "second_time").touch()
    assert rerun(server, workdir, wf) == {"cut", "after_cut", "after_after"}
    assert set(api.statuses(wf).values()) == {"completed"}


def test_reinitialize_keeps_the_cascade_of_a_job_still_failed(
    server: ServerProcess, api: Api
) -> None:
    """Jobs canceled because a blocker failed would only be canceled again while it stays
    failed; reset-status --failed-only sends both back."""
    wf = finished_workflow(api)
    wf_chain = api.workflow("deep")
    bad = api.job(wf_chain, "bad")
    mid = api.job(wf_chain, "mid", depends_on_job_ids=[bad])
    api.job(wf_chain, "leaf", depends_on_job_ids=[mid])
    api.job(wf_chain, "anyway", depends_on_job_ids=[bad], cancel_on_blocking_job_failure=False)
    api.initialize(wf_chain)
    api.claim(wf_chain)
    api.finish(bad, "failed", 1)
    assert api.statuses(wf_chain)["leaf"] == "canceled"
    for workflow_id in (wf, wf_chain):
        invoke(server.url, "workflows", "reinitialize", str(workflow_id))
    assert api.statuses(wf) == {
        "good": "completed",
        "bad": "failed",
        "after_bad": "canceled",
        "after_good": "completed",
    }
    assert api.statuses(wf_chain) == {
        "bad": "failed",
        "mid": "canceled",
        "leaf": "canceled",
        "anyway": "ready",
    }
    assert api.get(f"/workflows/{wf}/is_complete")["is_complete"]
    invoke(server.url, "workflows", "reset-status", str(wf_chain), "--failed-only", "-r")
    assert api.statuses(wf_chain) == {
        "bad": "ready",
        "mid": "blocked",
        "leaf": "blocked",
        "anyway": "blocked",
    }


# initialize --------------------------------------------------------------------------------


def test_initialize_checks_required_input_files(
    server: ServerProcess, api: Api, workdir: Path
) -> None:
    (workdir / "raw.txt").unlink()
    wf = as_json(server, "workflows", "create", "spec.yaml")["workflow_id"]
    line = failure(server, "workflows", "initialize", str(wf))
    assert line == (
        f"Error: workflow {wf} has missing required input files: raw.txt (use --force to go ahead)"
    )
    assert set(api.statuses(wf).values()) == {"uninitialized"}
    assert api.run_id(wf) == 0

    dry = as_json(server, "workflows", "initialize", str(wf), "--dry-run", "--force")
    assert dry["dry_run"] is True and dry["missing_files"] == ["raw.txt"] and dry["jobs"] == 4
    assert set(api.statuses(wf).values()) == {"uninitialized"}

    result = invoke(server.url, "workflows", "initialize", str(wf), "--force")
    assert result.stdout.strip() == f"Initialized workflow {wf} (run 1): 2 ready, 2 blocked"
    assert "Warning: missing required input files: raw.txt" in result.stderr
    assert api.run_id(wf) == 1


def test_initialize_checks_missing_user_data(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("needs_data")
    data = api.post("/user_data", {"workflow_id": wf, "name": "settings", "data": None})
    api.job(wf, "reader", input_user_data_ids=[data["id"]])
    line = failure(server, "workflows", "initialize", str(wf))
    assert f"missing user data: settings (ID {data['id']})" in line
    invoke(server.url, "workflows", "initialize", str(wf), "--force")
    assert api.statuses(wf) == {"reader": "ready"}


def test_initialize_restarts_everything_and_records_input_mtimes(
    server: ServerProcess, api: Api, workdir: Path, completed: int
) -> None:
    wf = completed
    raw = api.get("/files", params={"workflow_id": wf, "name": "raw"})["items"][0]
    assert raw["st_mtime"] == (workdir / "raw.txt").stat().st_mtime  # the baseline from create
    touch_later(workdir / "raw.txt")

    dry = invoke(server.url, "workflows", "initialize", str(wf), "--dry-run")
    assert "would be initialized as run 2" in dry.stdout
    assert "output files that exist and will be overwritten" in dry.stderr
    assert set(api.statuses(wf).values()) == {"completed"}

    answer = as_json(server, "workflows", "initialize-jobs", str(wf), "--no-prompts")
    assert (answer["run_id"], answer["ready"], answer["blocked"]) == (2, 2, 2)
    assert set(answer["existing_output_files"]) == {"mid.txt", "final.txt", "side.txt"}
    raw = api.get(f"/files/{raw['id']}")
    assert raw["st_mtime"] == (workdir / "raw.txt").stat().st_mtime
    assert rerun(server, workdir, wf) == ALL_JOBS


def test_initialize_asks_on_a_terminal(
    server: ServerProcess, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = api.workflow("ask_first")
    api.job(wf, "only")
    api.initialize(wf)
    [claimed] = api.claim(wf)
    api.finish(claimed["id"])
    monkeypatch.setattr("cli.commands.workflow_args.stdin_is_terminal", lambda: True)
    result = invoke(server.url, "workflows", "initialize", str(wf), input="n\n", code=1)
    assert "1 finished job(s)" in result.stderr and "Aborted" in result.stderr
    assert api.statuses(wf) == {"only": "completed"}
    invoke(server.url, "workflows", "initialize", str(wf), input="y\n")
    assert api.statuses(wf) == {"only": "ready"} and api.run_id(wf) == 2


# reset-status ------------------------------------------------------------------------------


def finished_workflow(api: Api) -> int:
    """good (completed) and bad (failed) -> after_bad canceled; after_good completed."""
    wf = api.workflow("resettable")
    good, bad = api.job(wf, "good"), api.job(wf, "bad")
    api.job(wf, "after_bad", depends_on_job_ids=[bad])
    api.job(wf, "after_good", depends_on_job_ids=[good])
    api.initialize(wf)
    api.claim(wf)
    api.finish(good)
    api.finish(bad, "failed", 1)
    after_good = api.claim(wf)[0]["id"]
    api.finish(after_good)
    assert api.statuses(wf)["after_bad"] == "canceled"
    return wf


def test_reset_status_failed_only(server: ServerProcess, api: Api) -> None:
    wf = finished_workflow(api)
    api.put(f"/workflows/{wf}/cancel")  # is_canceled is cleared by the reset
    text = invoke(server.url, "workflows", "reset-status", str(wf), "--failed-only").stdout
    assert text.strip() == f"Reset 2 job(s) of workflow {wf} to uninitialized"
    assert api.statuses(wf) == {
        "good": "completed",
        "bad": "uninitialized",
        "after_bad": "uninitialized",
        "after_good": "completed",
    }
    assert api.get(f"/workflows/{wf}/status")["is_canceled"] is False
    assert api.run_id(wf) == 1


def test_reset_status_all_and_the_failed_alias(server: ServerProcess, api: Api) -> None:
    wf = finished_workflow(api)
    answer = as_json(server, "workflows", "reset-status", str(wf), "--failed", "--no-prompts")
    assert answer["updated_count"] == 2 and answer["reset_type"] == "failed_only"
    answer = as_json(server, "workflows", "reset-status", str(wf))
    assert answer["updated_count"] == 4 and answer["reset_type"] == "all"
    assert set(api.statuses(wf).values()) == {"uninitialized"}


def test_reset_status_with_reinitialize(server: ServerProcess, api: Api) -> None:
    wf = finished_workflow(api)
    answer = as_json(server, "workflows", "reset-status", str(wf), "--failed-only", "-r")
    assert answer["updated_count"] == 2
    assert answer["reinitialize"]["run_id"] == 2 and answer["reinitialize"]["reset_jobs"] == []
    assert api.run_id(wf) == 2
    assert api.statuses(wf) == {
        "good": "completed",
        "bad": "ready",
        "after_bad": "blocked",
        "after_good": "completed",
    }


def test_reset_status_safety_check_and_force(server: ServerProcess, api: Api) -> None:
    wf = api.workflow("running")
    api.job(wf, "busy")
    api.initialize(wf)
    api.claim(wf)
    line = failure(server, "workflows", "reset-status", str(wf))
    assert line.startswith("Error: Cannot reset the workflow status: 1 job(s) are pending")
    assert line.endswith("(HTTP 422)")
    assert api.statuses(wf) == {"busy": "pending"}
    invoke(server.url, "workflows", "reset-status", str(wf), "--force")
    assert api.statuses(wf) == {"busy": "uninitialized"}


def test_reset_status_refuses_archived_workflows(server: ServerProcess, api: Api) -> None:
    wf = finished_workflow(api)
    invoke(server.url, "workflows", "archive", "true", str(wf))
    line = failure(server, "workflows", "reset-status", str(wf), "--no-prompts")
    assert line == "Error: Cannot reset archived workflow status. Unarchive the workflow first."
    assert api.statuses(wf)["bad"] == "failed"


def test_restart_commands_reject_unknown_workflows(server: ServerProcess) -> None:
    for command in ("initialize", "reinitialize", "reset-status"):
        line = failure(server, "workflows", command, "987654")
        assert line == "Error: Workflow 987654 not found (HTTP 404)"
