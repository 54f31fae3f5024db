"""Creating workflows from spec files through the real CLI and server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from cli.spec import build_payload
from tests.conftest import REPO
from tests.helpers import Api, ServerProcess, torc

FIXTURES = REPO / "fixtures"
FORMATS = ("yaml", "json", "json5", "kdl")
EXAMPLES = sorted({path.stem for path in FIXTURES.glob("*.yaml")})
INVALID = FIXTURES / "invalid"
EXPECTED_ERRORS = json.loads((INVALID / "expected.json").read_text())


def invoke(server: ServerProcess, *args: str):
    return CliRunner().invoke(cli, ["--url", server.url, *args], catch_exceptions=False)


PLACEHOLDER = re.compile(r"\$\{user_data\.(input|output)\.([^}]+)\}")


def stored_workflow(api: Api, workflow_id: int, spec: Path) -> dict:
    """Everything the server holds for a workflow, with IDs replaced by names.

    Commands are checked against the spec's expansion with each user-data placeholder
    replaced by that record's ID (D7, docs/decisions.md), then compared in placeholder form.
    """
    expected = {job["name"]: job["command"] for job in build_payload(spec)["jobs"]}
    jobs = api.get("/jobs", params={"workflow_id": workflow_id, "include_relationships": True})
    files = {f["id"]: f for f in api.get("/files", params={"workflow_id": workflow_id})["items"]}
    data = {d["id"]: d for d in api.get("/user_data", params={"workflow_id": workflow_id})["items"]}
    rrs = {
        r["id"]: r
        for r in api.get("/resource_requirements", params={"workflow_id": workflow_id})["items"]
    }
    job_names = {j["id"]: j["name"] for j in jobs["items"]}
    schedulers = api.get("/slurm_schedulers", params={"workflow_id": workflow_id})["items"]
    scheduler_names = {s["id"]: s["name"] for s in schedulers}
    workflow = api.get(f"/workflows/{workflow_id}")
    for key in ("id", "timestamp", "status_id"):
        workflow.pop(key)
    return {
        "workflow": workflow,
        "jobs": ordered(
            (
                job["name"],
                _placeholder_form(job, expected[job["name"]], data),
                tuple(ordered(job_names[i] for i in job["depends_on_job_ids"])),
                tuple(ordered(files[i]["path"] for i in job["input_file_ids"])),
                tuple(ordered(files[i]["path"] for i in job["output_file_ids"])),
                tuple(ordered(data[i]["name"] for i in job["input_user_data_ids"])),
                tuple(ordered(data[i]["name"] for i in job["output_user_data_ids"])),
                rrs[job["resource_requirements_id"]]["name"],
                scheduler_names.get(job["scheduler_id"]),
                job["cancel_on_blocking_job_failure"],
                job["supports_termination"],
            )
            for job in jobs["items"]
        ),
        "files": ordered((f["name"], f["path"]) for f in files.values()),
        "user_data": ordered((d["name"], json.dumps(d["data"])) for d in data.values()),
        "resource_requirements": ordered(
            tuple(ordered((k, v) for k, v in r.items() if k not in ("id", "workflow_id")))
            for r in rrs.values()
        ),
        "schedulers": ordered(
            tuple(ordered((k, v) for k, v in s.items() if k not in ("id", "workflow_id")))
            for s in api.get("/slurm_schedulers", params={"workflow_id": workflow_id})["items"]
        ),
        "handlers": ordered(
            (h["name"], h["rules"])
            for h in api.get(f"/workflows/{workflow_id}/failure_handlers")["items"]
        ),
        "actions": ordered(
            (
                a["trigger_type"],
                a["action_type"],
                _named_config(a["action_config"], scheduler_names),
                tuple(ordered(job_names[i] for i in a["job_ids"] or [])),
                a["persistent"],
            )
            for a in api.get(f"/workflows/{workflow_id}/actions")
        ),
    }


def _named_config(config: dict, scheduler_names: dict) -> str:
    if "scheduler_id" in config:
        config = {**config, "scheduler_id": scheduler_names[config["scheduler_id"]]}
    return json.dumps(config, sort_keys=True)


def ordered(items) -> list:
    """Sorted even when values mix None and strings."""
    return sorted(items, key=repr)


def _placeholder_form(job: dict, template: str, data: dict) -> str:
    ids = {record["name"]: record["id"] for record in data.values()}
    assert job["command"] == PLACEHOLDER.sub(lambda m: str(ids[m[2]]), template)
    return template


@pytest.mark.parametrize("example", EXAMPLES)
def test_four_formats_create_identical_workflows(
    api: Api, server: ServerProcess, example: str
) -> None:
    stored = []
    for fmt in FORMATS:
        result = invoke(
            server, "-f", "json", "workflows", "create", str(FIXTURES / f"{example}.{fmt}")
        )
        assert result.exit_code == 0, result.output
        created = json.loads(result.output)
        assert created["status"] == "success"
        assert (
            created["message"] == f"Workflow created successfully with ID: {created['workflow_id']}"
        )
        stored.append(stored_workflow(api, created["workflow_id"], FIXTURES / f"{example}.{fmt}"))
    assert stored[0] == stored[1] == stored[2] == stored[3]
    assert stored[0]["jobs"]


def test_expected_job_names_and_counts(api: Api, server: ServerProcess) -> None:
    def names(path: str) -> list[str]:
        result = invoke(server, "-f", "json", "workflows", "create", str(FIXTURES / path))
        workflow_id = json.loads(result.output)["workflow_id"]
        return [j["name"] for j in api.get("/jobs", params={"workflow_id": workflow_id})["items"]]

    assert names("hundred_jobs.yaml") == [f"job_{i:03d}" for i in range(1, 101)]
    sweep = names("hyperparameter_sweep.kdl")
    assert len(sweep) == 20 and len([n for n in sweep if n.startswith("train")]) == 18
    assert {"prepare_data", "aggregate"} <= set(sweep)
    assert set(names("diamond.json5")) == {"preprocess", "work1", "work2", "postprocess"}


def test_text_output_of_create(server: ServerProcess) -> None:
    result = invoke(server, "workflows", "create", str(FIXTURES / "diamond.yaml"))
    assert result.exit_code == 0
    assert result.output.startswith("Created workflow ")


def test_dry_run_json_and_text(api: Api, server: ServerProcess) -> None:
    before = api.get("/workflows")["total_count"]
    result = invoke(
        server,
        "-f",
        "json",
        "workflows",
        "create",
        "--dry-run",
        str(FIXTURES / "hundred_jobs.yaml"),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["valid"] is True and report["errors"] == []
    assert report["summary"]["job_count"] == 100
    assert report["summary"]["job_count_before_expansion"] == 1
    text = invoke(server, "workflows", "create", "--dry-run", str(FIXTURES / "hundred_jobs.yaml"))
    assert "Workflow Validation Results" in text.output
    assert "Jobs: 100 (expanded from 1 parameterized job specs)" in text.output
    assert "Validation: PASSED" in text.output
    assert api.get("/workflows")["total_count"] == before


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_malformed_specs_fail_clearly_and_create_nothing(
    api: Api, server: ServerProcess, name: str
) -> None:
    before = api.get("/workflows")["total_count"]
    result = CliRunner().invoke(
        cli, ["--url", server.url, "workflows", "create", str(INVALID / name)]
    )
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    assert str(INVALID / name) in message
    assert EXPECTED_ERRORS[name] in message
    assert "Traceback" not in result.output
    assert api.get("/workflows")["total_count"] == before


def test_invalid_corpus_is_large_and_covers_every_format() -> None:
    assert len(EXPECTED_ERRORS) >= 50
    assert {Path(name).suffix for name in EXPECTED_ERRORS} == {".yaml", ".json", ".json5", ".kdl"}


def test_dry_run_reports_invalid_spec(server: ServerProcess) -> None:
    broken = next(name for name in EXPECTED_ERRORS if "cycle" in name)
    result = invoke(server, "-f", "json", "workflows", "create", "--dry-run", str(INVALID / broken))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False and report["errors"]


def test_new_creates_an_empty_workflow(api: Api, server: ServerProcess) -> None:
    result = invoke(
        server, "-f", "json", "workflows", "new", "-n", "empty", "-d", "nothing yet", "-u", "ann"
    )
    workflow = json.loads(result.output)
    assert workflow["name"] == "empty" and workflow["user"] == "ann"
    assert api.get(f"/workflows/{workflow['id']}/job_ids")["count"] == 0


def test_execution_plan_of_a_spec(server: ServerProcess) -> None:
    result = invoke(server, "workflows", "execution-plan", str(FIXTURES / "diamond.yaml"))
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Workflow: diamond" in text and "Total Jobs: 4" in text
    assert "▶ Stage 1: Workflow Start" in text
    assert "→ Stage 2: When job 'preprocess' completes" in text
    assert "→ Stage 3: When jobs 'work1', 'work2' complete" in text
    assert "Total Stages: 3" in text
    plan = json.loads(
        invoke(
            server, "-f", "json", "workflows", "execution-plan", str(FIXTURES / "hundred_jobs.yaml")
        ).output
    )
    assert plan["total_stages"] == 1 and plan["stages"][0]["jobs"][0] == "job_001"


def test_execution_plan_of_a_stored_workflow(server: ServerProcess) -> None:
    created = json.loads(
        invoke(server, "-f", "json", "workflows", "create", str(FIXTURES / "diamond.kdl")).output
    )
    result = invoke(server, "workflows", "execution-plan", str(created["workflow_id"]))
    assert "Total Stages: 3" in result.output
    assert "When jobs 'work1', 'work2' complete" in result.output


def test_torc_run_with_the_embedded_server(tmp_path: Path) -> None:
    result = torc("run", str(FIXTURES / "diamond.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "embedded torc server" in result.stderr
    assert (tmp_path / "torc.db").exists()
    assert (tmp_path / "output_files" / "report.txt").read_text().split() == [
        "odd",
        "25",
        "even",
        "30",
    ]
    assert "4 completed" in result.stderr


def test_torc_run_with_an_unreachable_configured_server(tmp_path: Path) -> None:
    result = torc(
        "run",
        str(FIXTURES / "diamond.yaml"),
        cwd=tmp_path,
        env={"TORC_API_URL": "http://127.0.0.1:9/torc-service/v1"},
    )
    assert result.returncode == 1
    assert "cannot reach the torc server at http://127.0.0.1:9/torc-service/v1" in result.stderr
    assert not (tmp_path / "torc.db").exists()


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (INVALID / "syntax_error.yaml", "invalid YAML"),
        (INVALID / "syntax_error.kdl", "invalid KDL"),
        (FIXTURES / "no_such_spec.yaml", "spec file not found"),
    ],
)
def test_dry_run_of_unreadable_file_gives_the_validation_result(
    server: ServerProcess, path: Path, fragment: str
) -> None:
    result = torc("--url", server.url, "-f", "json", "workflows", "create", "--dry-run", str(path))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert set(report) == {"valid", "errors", "warnings", "summary"}
    assert report["valid"] is False and report["warnings"] == []
    [error] = report["errors"]
    assert error.startswith(f"{path}") and fragment in error
    assert report["summary"]["job_count"] == 0
    text = torc("--url", server.url, "workflows", "create", "--dry-run", str(path))
    assert text.returncode == 1
    assert "Validation: FAILED" in text.stdout and fragment in text.stdout
    assert "Traceback" not in text.stderr + result.stderr


def test_create_json_output_has_id_and_workflow_id(api: Api, server: ServerProcess) -> None:
    result = torc(
        "--url", server.url, "-f", "json", "workflows", "create", str(FIXTURES / "diamond.yaml")
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["id"] == created["workflow_id"]
    assert created["status"] == "success"
    assert api.get(f"/workflows/{created['id']}")["name"] == "diamond"


def test_create_with_user_sets_the_stored_owner(api: Api, server: ServerProcess) -> None:
    result = invoke(
        server,
        "-f",
        "json",
        "workflows",
        "create",
        "--user",
        "carol",
        str(FIXTURES / "diamond.kdl"),
    )
    assert result.exit_code == 0, result.output
    assert api.get(f"/workflows/{json.loads(result.output)['id']}")["user"] == "carol"


def test_create_without_resource_monitoring(api: Api, server: ServerProcess) -> None:
    def monitor(*flags: str) -> dict:
        spec = str(FIXTURES / "explicit_outputs.yaml")
        result = invoke(server, "-f", "json", "workflows", "create", *flags, spec)
        assert result.exit_code == 0, result.output
        workflow = api.get(f"/workflows/{json.loads(result.output)['id']}")
        return json.loads(workflow["resource_monitor_config"])

    assert monitor() == {
        "enabled": True,
        "granularity": "time_series",
        "sample_interval_seconds": 5,
        "generate_plots": True,
    }
    assert monitor("--no-resource-monitoring")["enabled"] is False


def test_create_with_skip_checks(api: Api, server: ServerProcess) -> None:
    spec = str(INVALID / "scheduler_walltime.yaml")
    before = api.get("/workflows")["total_count"]
    refused = torc("--url", server.url, "workflows", "create", spec)
    assert refused.returncode == 1 and "exceeds the walltime 01:00:00" in refused.stderr
    assert api.get("/workflows")["total_count"] == before
    created = torc("--url", server.url, "-f", "json", "workflows", "create", "--skip-checks", spec)
    assert created.returncode == 0, created.stderr
    assert "Warning: " in created.stderr and "exceeds the walltime 01:00:00" in created.stderr
    workflow_id = json.loads(created.stdout)["id"]
    [job] = api.get("/jobs", params={"workflow_id": workflow_id})["items"]
    [scheduler] = api.get("/slurm_schedulers", params={"workflow_id": workflow_id})["items"]
    assert job["name"] == "simulate" and job["scheduler_id"] == scheduler["id"]


def _corrupt_last_job(payload: dict, how: str) -> None:
    job = payload["jobs"][-1]
    if how == "file_index":
        job["input_files"] = [999]
    elif how == "user_data_placeholder":
        job["command"] = "echo ${user_data.input.missing}"
    elif how == "duplicate_name":
        job["name"] = payload["jobs"][0]["name"]
    elif how == "resource_index":
        job["resource_requirements"] = 42


@pytest.mark.parametrize(
    "how", ["file_index", "user_data_placeholder", "duplicate_name", "resource_index"]
)
@pytest.mark.parametrize("initialize", ["false", "true"])
def test_invalid_payload_to_the_bulk_endpoint_creates_nothing(
    api: Api, how: str, initialize: str
) -> None:
    payload = build_payload(FIXTURES / "all_features.yaml")
    _corrupt_last_job(payload, how)
    before = api.get("/workflows")["total_count"]
    response = api.session.post(
        f"{api.base_url}/workflow_specs",
        params={"initialize": initialize},
        json=payload,
        timeout=60,
    )
    assert 400 <= response.status_code < 500, response.text
    assert api.get("/workflows")["total_count"] == before


def test_inline_resource_requirements_are_stored(api: Api, server: ServerProcess) -> None:
    result = invoke(
        server, "-f", "json", "workflows", "create", str(FIXTURES / "explicit_outputs.kdl")
    )
    workflow_id = json.loads(result.output)["id"]
    records = api.get("/resource_requirements", params={"workflow_id": workflow_id})["items"]
    by_name = {r["name"]: r for r in records}
    assert set(by_name) == {"default", "small", "summarize"}
    assert by_name["summarize"]["num_cpus"] == 2 and by_name["summarize"]["memory"] == "200m"
    jobs = {j["name"]: j for j in api.get("/jobs", params={"workflow_id": workflow_id})["items"]}
    assert jobs["summarize"]["resource_requirements_id"] == by_name["summarize"]["id"]
    [scheduler] = api.get("/slurm_schedulers", params={"workflow_id": workflow_id})["items"]
    assert scheduler["name"] == "scheduler_1" and scheduler["walltime"] == "12:00:00"
