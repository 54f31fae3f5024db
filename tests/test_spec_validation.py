"""Validation: the invalid corpus, references (D7-D9), defaults (D10), checks and dry-run output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from cli.spec import SpecError, build_payload, compile_spec, format_validation, validate_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INVALID = FIXTURES / "invalid"
EXPECTED: dict[str, str] = json.loads((INVALID / "expected.json").read_text())
# Problems with the file as a whole have no single line to point at.
WITHOUT_POSITION = {"missing_name.yaml"}


def spec_file(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def minimal(**extra: object) -> dict:
    return {"name": "t", "jobs": [{"name": "a", "command": "echo a"}], **extra}


def error_of(path: Path, **options: object) -> str:
    with pytest.raises(SpecError) as caught:
        build_payload(path, **options)
    return str(caught.value)


def test_corpus_is_large_and_covers_every_format() -> None:
    assert len(EXPECTED) >= 50
    files = {path.name for path in INVALID.iterdir() if path.name != "expected.json"}
    assert files == set(EXPECTED)
    for extension in ("yaml", "json", "json5", "kdl"):
        assert sum(name.endswith(f".{extension}") for name in files) >= 8, extension


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_spec_fails_with_expected_message(name: str) -> None:
    path = INVALID / name
    message = error_of(path)
    assert EXPECTED[name] in message
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    has_line = re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", message)
    if name.endswith((".yaml", ".json")) and name not in WITHOUT_POSITION:
        assert has_line, message
    result = validate_spec(path)
    assert not result["valid"] and any(EXPECTED[name] in error for error in result["errors"])


def test_error_lines_point_at_the_offending_entry() -> None:
    assert error_of(INVALID / "unknown_job_field.yaml").startswith(
        f"{INVALID}/unknown_job_field.yaml:7:5: "
    )
    assert error_of(INVALID / "unknown_dependency.kdl").startswith(
        f"{INVALID}/unknown_dependency.kdl:7:5: "
    )
    assert error_of(INVALID / "duplicate_rr.json5").startswith(f"{INVALID}/duplicate_rr.json5:5:")


def test_file_placeholders_become_paths_and_merge_with_lists(tmp_path: Path) -> None:
    spec = minimal(
        files=[
            {"name": "raw", "path": "data/raw.csv"},
            {"name": "out", "path": "o.csv"},
            {"name": "extra", "path": "x.csv"},
        ],
        jobs=[
            {"name": "make", "command": "touch ${files.output.raw}"},
            {
                "name": "use",
                "command": "cp ${files.input.raw} ${files.output.out}",
                "invocation_script": "bash ${files.input.extra}",
                "input_files": ["extra"],
            },
        ],
    )
    jobs = build_payload(spec_file(tmp_path, spec))["jobs"]
    assert jobs[0] == {"name": "make", "command": "touch data/raw.csv", "output_files": [0]}
    assert jobs[1]["command"] == "cp data/raw.csv o.csv"
    assert jobs[1]["invocation_script"] == "bash x.csv"
    assert jobs[1]["input_files"] == [2, 0] and jobs[1]["output_files"] == [1]
    assert "depends_on" not in jobs[1]  # file edges are left to the server


def test_user_data_placeholders_stay_for_the_server(tmp_path: Path) -> None:
    payload = build_payload(FIXTURES / "user_data.yaml")
    generate, train, evaluate = payload["jobs"]
    assert "${user_data.output.config}" in generate["command"]
    assert generate["output_user_data"] == [0]
    assert train["input_user_data"] == [1, 0] and evaluate["input_user_data"] == [0]
    assert payload["user_data"][0] == {"name": "config", "data": None, "is_ephemeral": False}


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ({"depends_on": ["prepar"]}, "job 'a' lists unknown job 'prepar' in depends_on"),
        ({"input_files": ["f"]}, "lists unknown file 'f' in input_files"),
        ({"output_user_data": ["u"]}, "lists unknown user data 'u' in output_user_data"),
        ({"command": "x ${files.output.nope}"}, "unknown file 'nope' in '${files.output.nope}'"),
        ({"command": "x ${user_data.input.u}"}, "unknown user data 'u' in '${user_data.input.u}'"),
        ({"command": "x ${files.inputs.f}"}, "invalid placeholder '${files.inputs.f}'"),
        ({"resource_requirements": "big"}, "uses unknown resource requirements 'big'"),
        ({"failure_handler": "retry"}, "uses unknown failure handler 'retry'"),
        ({"scheduler": "cpu"}, "uses unknown slurm scheduler 'cpu'"),
        ({"output_file_regexes": ["^x"]}, "Output file regex '^x' did not match any files"),
        ({"input_user_data_regexes": ["("]}, "invalid regular expression '('"),
    ],
)
def test_unknown_references_are_errors(tmp_path: Path, job: dict, expected: str) -> None:
    spec = minimal(jobs=[{"name": "prepare", "command": "e"}, {"name": "a", "command": "e", **job}])
    message = error_of(spec_file(tmp_path, spec))
    assert expected in message


def test_regex_dependencies_search_unanchored_and_skip_the_job_itself(tmp_path: Path) -> None:
    spec = minimal(
        jobs=[
            {"name": "pretrain_1", "command": "e"},
            {"name": "train_2", "command": "e"},
            {"name": "train_all", "command": "e", "depends_on_regexes": ["train"]},
        ]
    )
    assert build_payload(spec_file(tmp_path, spec))["jobs"][2]["depends_on"] == [0, 1]


def test_action_selection_and_schedulers(tmp_path: Path) -> None:
    spec = minimal(
        jobs=[{"name": "train_1", "command": "e"}, {"name": "eval", "command": "e"}],
        slurm_defaults={"account": "shared_account", "mail-type": ["END"]},
        slurm_schedulers=[{"name": "cpu"}],
        actions=[
            {
                "trigger_type": "on_jobs_ready",
                "action_type": "run_commands",
                "jobs": ["eval"],
                "job_name_regexes": ["^train"],
                "commands": ["echo"],
            },
            {
                "trigger_type": "on_workflow_start",
                "action_type": "schedule_nodes",
                "scheduler": "cpu",
                "scheduler_type": "slurm",
                "num_allocations": 2,
            },
        ],
    )
    compiled = compile_spec(spec_file(tmp_path, spec))
    payload = compiled.payload
    assert payload["slurm_schedulers"] == [
        {"name": "cpu", "account": "shared_account", "nodes": 1, "walltime": "01:00:00"}
    ]
    assert json.loads(payload["workflow"]["slurm_defaults"]) == {"account": "shared_account"}
    assert any("'mail-type' must be a single value" in w for w in compiled.warnings)
    assert payload["actions"][0]["jobs"] == [1, 0]
    assert payload["actions"][1] == {
        "trigger_type": "on_workflow_start",
        "action_type": "schedule_nodes",
        "persistent": False,
        "scheduler": 0,
        "scheduler_type": "slurm",
        "num_allocations": 2,
    }


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            {"trigger_type": "on_jobs_ready", "action_type": "run_commands", "commands": ["e"]},
            "on_jobs_ready actions need 'jobs' or 'job_name_regexes'",
        ),
        (
            {
                "trigger_type": "on_workflow_start",
                "action_type": "run_commands",
                "commands": ["e"],
                "jobs": ["a"],
            },
            "'jobs' and 'job_name_regexes' only apply",
        ),
        (
            {
                "trigger_type": "on_jobs_ready",
                "action_type": "run_commands",
                "commands": ["e"],
                "jobs": ["b"],
            },
            "lists unknown job 'b'",
        ),
        (
            {
                "trigger_type": "on_workflow_start",
                "action_type": "schedule_nodes",
                "scheduler": "gpu",
                "scheduler_type": "slurm",
            },
            "unknown slurm scheduler 'gpu'",
        ),
        (
            {
                "trigger_type": "on_workflow_start",
                "action_type": "run_commands",
                "commands": ["e"],
                "num_allocations": 1,
            },
            "'num_allocations' only applies to schedule_nodes",
        ),
    ],
)
def test_action_errors(tmp_path: Path, action: dict, expected: str) -> None:
    assert expected in error_of(spec_file(tmp_path, minimal(actions=[action])))


def test_monitoring_defaults_and_overrides(tmp_path: Path) -> None:
    def monitor(**options: object) -> dict:
        return json.loads(build_payload(path, **options)["workflow"]["resource_monitor_config"])

    path = spec_file(tmp_path, minimal())
    assert monitor() == {
        "enabled": True,
        "granularity": "summary",
        "sample_interval_seconds": 5,
        "generate_plots": False,
    }
    assert monitor(resource_monitoring=False)["enabled"] is False
    path = spec_file(tmp_path, minimal(resource_monitor={"sample_interval_seconds": 30}))
    assert monitor()["enabled"] is True and monitor()["sample_interval_seconds"] == 30
    path = spec_file(tmp_path, minimal(resource_monitor={"enabled": False}))
    assert monitor() == {
        "enabled": False,
        "granularity": "summary",
        "sample_interval_seconds": 5,
        "generate_plots": False,
    }
    path = spec_file(tmp_path, minimal(resource_monitor={"granularity": "TimeSeries"}))
    assert monitor()["granularity"] == "time_series"


def test_workflow_record_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "env_user")
    path = spec_file(tmp_path, minimal())
    workflow = build_payload(path)["workflow"]
    assert workflow["user"] == "env_user" and workflow["jobs_sort_method"] == "gpus_runtime_memory"
    assert workflow["use_pending_failed"] is False and "description" not in workflow
    assert build_payload(path, user="cli_user")["workflow"]["user"] == "cli_user"
    spec_user = spec_file(tmp_path, minimal(user="spec_user"), "other.yaml")
    assert build_payload(spec_user)["workflow"]["user"] == "spec_user"
    monkeypatch.delenv("USER")
    assert build_payload(path)["workflow"]["user"] == "unknown"


def test_component_defaults(tmp_path: Path) -> None:
    spec = minimal(
        resource_requirements=[{"name": "small", "num_cpus": 2, "memory": "2G"}],
        failure_handlers=[{"name": "retry", "rules": [{"exit_codes": [3]}]}],
    )
    payload = build_payload(spec_file(tmp_path, spec))
    assert payload["resource_requirements"] == [
        {
            "name": "small",
            "num_cpus": 2,
            "num_gpus": 0,
            "num_nodes": 1,
            "memory": "2G",
            "runtime": "PT1H",
        }
    ]
    assert json.loads(payload["failure_handlers"][0]["rules"]) == [
        {"exit_codes": [3], "match_all_exit_codes": False, "max_retries": 3}
    ]


def test_all_features_fixture_payload() -> None:
    payload = build_payload(FIXTURES / "all_features.yaml")
    workflow = payload["workflow"]
    assert workflow["use_pending_failed"] is True
    assert workflow["jobs_sort_method"] == "gpus_memory_runtime"
    assert workflow["compute_node_min_time_for_new_jobs_seconds"] == 300
    assert json.loads(workflow["resource_monitor_config"])["granularity"] == "time_series"
    jobs = {job["name"]: job for job in payload["jobs"]}
    assert jobs["featurize"]["input_files"] == [0, 1, 2]
    assert jobs["evaluate"]["depends_on"] == [0, 1, 2]
    assert jobs["train"]["scheduler"] == 1 and jobs["train"]["supports_termination"] is True
    assert [a["trigger_type"] for a in payload["actions"]] == [
        "on_workflow_start",
        "on_jobs_ready",
        "on_workflow_start",
        "on_jobs_complete",
        "on_worker_start",
        "on_worker_complete",
        "on_workflow_complete",
    ]


def test_scheduler_checks_and_skip_checks(tmp_path: Path) -> None:
    spec = minimal(
        resource_requirements=[
            {"name": "big", "num_cpus": 1, "memory": "300g", "num_gpus": 2, "num_nodes": 2}
        ],
        slurm_schedulers=[{"name": "s", "account": "a", "mem": "200G", "gres": "gpu:a100:1"}],
        jobs=[{"name": "a", "command": "e", "resource_requirements": "big", "scheduler": "s"}],
    )
    path = spec_file(tmp_path, spec)
    result = validate_spec(path)
    assert len(result["errors"]) == 3
    for error, fragment in zip(
        result["errors"], ("needs 2 nodes", "memory 300g exceeds", "needs 2 GPUs"), strict=True
    ):
        assert "job 'a' cannot run on slurm scheduler 's'" in error and fragment in error
    skipped = validate_spec(path, skip_checks=True)
    assert skipped["valid"] and len(skipped["warnings"]) == 3
    assert build_payload(path, skip_checks=True)["jobs"][0]["scheduler"] == 0


def test_heterogeneous_scheduler_warning(tmp_path: Path) -> None:
    schedulers = [
        {"name": "small", "account": "a", "mem": "100G", "walltime": "01:00:00"},
        {"name": "large", "account": "a", "mem": "500G", "walltime": "04:00:00"},
        {"name": "other", "account": "a", "mem": "100G", "walltime": "01:00:00"},
    ]
    result = validate_spec(spec_file(tmp_path, minimal(slurm_schedulers=schedulers)))
    assert result["valid"]
    assert result["warnings"] == [
        f"{tmp_path}/spec.yaml: Workflow has 3 schedulers with different memory (mem), walltime "
        "but 1 job(s) have no explicit scheduler assignment and jobs_sort_method is not set. "
        "The default sort method 'gpus_runtime_memory' will be used (jobs sorted by GPUs, then "
        "runtime, then memory). If this doesn't match your workload, consider setting "
        "jobs_sort_method explicitly to 'gpus_memory_runtime' (prioritize memory over runtime) "
        "or 'none' (no sorting)."
    ]
    sorted_spec = minimal(slurm_schedulers=schedulers, jobs_sort_method="none")
    assert validate_spec(spec_file(tmp_path, sorted_spec))["warnings"] == []


def test_unnamed_user_data_is_skipped_with_a_warning(tmp_path: Path) -> None:
    spec = minimal(user_data=[{"data": {"a": 1}}, {"name": "kept"}])
    compiled = compile_spec(spec_file(tmp_path, spec))
    assert [u["name"] for u in compiled.payload["user_data"]] == ["kept"]
    [warning] = compiled.warnings
    assert re.match(
        rf"{tmp_path}/spec.yaml:\d+:\d+: user data #1 has no name and is skipped$", warning
    )


def test_validate_spec_collects_several_errors_and_never_raises(tmp_path: Path) -> None:
    spec = minimal(
        jobs=[
            {"name": "a", "command": "e", "depends_on": ["x"]},
            {"name": "b", "command": "e", "resource_requirements": "y"},
        ]
    )
    result = validate_spec(spec_file(tmp_path, spec))
    assert not result["valid"] and len(result["errors"]) == 2
    assert result["summary"]["job_count"] == 2
    broken = validate_spec(INVALID / "syntax_error.yaml")
    assert not broken["valid"] and broken["summary"]["job_count"] == 0
    assert broken["summary"]["workflow_name"] is None
    assert validate_spec(tmp_path / "missing.yaml")["errors"][0].endswith("spec file not found")


def test_validate_spec_summary_shape() -> None:
    result = validate_spec(FIXTURES / "all_features.yaml")
    assert result["valid"] and result["errors"] == []
    summary = result["summary"]
    assert set(summary) == {
        "workflow_name",
        "workflow_description",
        "job_count",
        "job_count_before_expansion",
        "file_count",
        "file_count_before_expansion",
        "user_data_count",
        "resource_requirements_count",
        "slurm_scheduler_count",
        "action_count",
        "has_schedule_nodes_action",
        "job_names",
        "scheduler_names",
    }
    assert summary["job_count"] == 7 and summary["job_count_before_expansion"] == 5
    assert summary["file_count"] == 5 and summary["file_count_before_expansion"] == 3
    assert summary["has_schedule_nodes_action"] is True
    assert summary["scheduler_names"] == ["cpu_nodes", "gpu_nodes"]


def test_format_validation_passed() -> None:
    text = format_validation(validate_spec(FIXTURES / "hundred_jobs.yaml"))
    assert text.splitlines()[:12] == [
        "Workflow Validation Results",
        "===========================",
        "Workflow: hundred_jobs",
        "Description: One parameterized job definition expanded into 100 independent jobs",
        "",
        "Components to be created:",
        "  Jobs: 100 (expanded from 1 parameterized job specs)",
        "  Files: 0",
        "  User data records: 0",
        "  Resource requirements: 1",
        "  Slurm schedulers: 0",
        "  Workflow actions: 0",
    ]
    assert text.endswith("Validation: PASSED")
    submit = format_validation(validate_spec(FIXTURES / "all_features.yaml"))
    assert (
        "Submission: Ready for scheduler submission (has on_workflow_start schedule_nodes "
        "action)" in submit
    )


def test_format_validation_failed() -> None:
    text = format_validation(validate_spec(INVALID / "cycle_explicit.yaml"))
    assert "Errors (1):\n  - " in text and "Circular dependency detected: a -> b -> c -> a" in text
    assert text.endswith("Validation: FAILED")


def test_job_reading_its_own_output_does_not_wait_for_itself(tmp_path: Path) -> None:
    spec = minimal(
        files=[{"name": "log", "path": "run.log"}],
        jobs=[{"name": "a", "command": "echo > ${files.output.log}; cat ${files.input.log}"}],
    )
    [job] = build_payload(spec_file(tmp_path, spec))["jobs"]
    assert job["output_files"] == [0] and "input_files" not in job


def test_fan_in_job_expands_all_of_its_lists(tmp_path: Path) -> None:
    spec = minimal(
        files=[{"name": "part_{i}", "path": "p{i}.txt", "parameters": {"i": "1:2"}}],
        jobs=[
            {
                "name": "split",
                "command": "e",
                "output_files": ["part_{i}"],
                "parameters": {"i": "1:2"},
            }
        ],
    )
    [job] = build_payload(spec_file(tmp_path, spec))["jobs"]
    assert job == {"name": "split", "command": "e", "output_files": [0, 1]}
