"""Validation: the invalid corpus, checks and dry-run output, references and defaults
(D7, D8, D9, D10 in docs/decisions.md)."""

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
                "jobs": ["nope"],
            },
            "lists unknown job 'nope'",  # on any trigger (D17, docs/decisions.md), if it exists
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


INT64_MAX = 2**63 - 1


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (
            {"resource_requirements": [{"name": "r", "num_cpus": 10**20, "memory": "1g"}]},
            "resource requirements 'r': field 'num_cpus' is out of range: 100000000000000000000 "
            "does not fit in a signed 64-bit integer",
        ),
        (
            {"resource_requirements": [{"name": "r", "num_cpus": 2**63, "memory": "1g"}]},
            "field 'num_cpus' is out of range: 9223372036854775808",
        ),
        (
            {"compute_node_wait_for_new_jobs_seconds": -(2**63) - 1},
            "field 'compute_node_wait_for_new_jobs_seconds' is out of range",
        ),
        (
            {"failure_handlers": [{"name": "f", "rules": [{"exit_codes": [1, 2**64]}]}]},
            "field 'exit_codes' is out of range: 18446744073709551616",
        ),
        (
            {"user_data": [{"name": "u", "data": 10**20}]},
            "user data 'u': field 'data' must be JSON data, but the value at the top is out of "
            "range: 100000000000000000000",
        ),
        (
            {"user_data": [{"name": "u", "data": {"runs": [{"seed": 2**63}]}}]},
            "the value at runs[0].seed is out of range: 9223372036854775808",
        ),
        ({"slurm_defaults": {"account": "a", "x": 10**20}}, "slurm_defaults: 'x' is out of range"),
    ],
)
def test_integers_beyond_64_bits_are_rejected(tmp_path: Path, extra: dict, fragment: str) -> None:
    path = spec_file(tmp_path, minimal(**extra))
    message = error_of(path)
    assert fragment in message
    assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", message), message
    assert not validate_spec(path)["valid"]


def test_nested_out_of_range_value_is_located(tmp_path: Path) -> None:
    text = (
        "name: t\njobs:\n  - {name: a, command: e}\nuser_data:\n  - name: u\n    data:\n"
        "      ok: 1\n      bad: 100000000000000000000\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert error_of(path).startswith(f"{path}:8:7: user data 'u': field 'data' must be JSON")


def test_largest_64_bit_integers_are_accepted(tmp_path: Path) -> None:
    spec = minimal(user_data=[{"name": "u", "data": [INT64_MAX, -(2**63)]}])
    assert build_payload(spec_file(tmp_path, spec))["user_data"][0]["data"] == [
        INT64_MAX,
        -(2**63),
    ]


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        (
            "for i in 1 2; do torc user-data get ${user_data.input.result_$i}; done",
            [
                "job 'a': invalid placeholder '${user_data.input.result_$i}' in its command",
                "holds a shell variable",
                "list the entries in input_user_data",
            ],
        ),
        (
            "cat ${file.input.data}",
            ["invalid placeholder '${file.input.data}'", "did you mean '${files.input.data}'?"],
        ),
        ("cat ${files.input.}", ["invalid placeholder '${files.input.}'", "the name is missing"]),
        (
            "cat ${files.inpt.data}",
            ["invalid placeholder '${files.inpt.data}'", "did you mean '${files.input.data}'?"],
        ),
        (
            "get ${userdata.output.config}",
            ["invalid placeholder", "did you mean '${user_data.output.config}'?"],
        ),
        ("cat ${files.data}", ["invalid placeholder '${files.data}'", "expected ${files.input"]),
        (
            "cat ${files.input.data",
            ["invalid placeholder '${files.input.data'", "it has no closing '}'"],
        ),
        (
            "cat ${Files.input.data}",
            ["invalid placeholder '${Files.input.data}'", "did you mean '${files.input.data}'?"],
        ),
        ("cat ${files.input.dta}", ["unknown file 'dta'", "did you mean 'data'?"]),
    ],
)
def test_malformed_placeholders_are_errors(
    tmp_path: Path, command: str, fragments: list[str]
) -> None:
    spec = minimal(
        files=[{"name": "data", "path": "d.txt"}],
        user_data=[{"name": "config"}, {"name": "result_1"}, {"name": "result_2"}],
        jobs=[{"name": "a", "command": command}],
    )
    path = spec_file(tmp_path, spec)
    message = error_of(path)
    for fragment in fragments:
        assert fragment in message, message
    assert message.startswith(f"{path}:")
    assert not validate_spec(path)["valid"]


def test_shell_variables_are_left_alone(tmp_path: Path) -> None:
    command = (
        'echo ${HOME} ${TORC_JOB_ID} ${i} ${files} ${file_path} ${USER_DATA} "${@}" && '
        "cat ${files.input.data}"
    )
    spec = minimal(
        files=[{"name": "data", "path": "d.txt"}], jobs=[{"name": "a", "command": command}]
    )
    [job] = build_payload(spec_file(tmp_path, spec))["jobs"]
    assert job["command"] == command.replace("${files.input.data}", "d.txt")


def test_inline_resource_requirements(tmp_path: Path) -> None:
    inline = {"num_cpus": 8, "memory": "32g", "num_gpus": 1, "runtime": "PT4H"}
    spec = minimal(
        resource_requirements=[{"name": "train", "num_cpus": 1, "memory": "1g"}],
        jobs=[
            {"name": "train", "command": "e", "resource_requirements": inline},
            {
                "name": "eval_{i}",
                "command": "e",
                "parameters": {"i": "1:2"},
                "resource_requirements": {"num_cpus": 2, "memory": "2g"},
            },
            {
                "name": "default",
                "command": "e",
                "resource_requirements": {"num_cpus": 1, "memory": "1m"},
            },
            {"name": "named", "command": "e", "resource_requirements": "train"},
        ],
    )
    payload = build_payload(spec_file(tmp_path, spec))
    records = payload["resource_requirements"]
    assert [r["name"] for r in records] == ["train", "train_2", "eval_{i}", "default_2"]
    assert records[1] == {
        "name": "train_2",
        "num_cpus": 8,
        "num_gpus": 1,
        "num_nodes": 1,
        "memory": "32g",
        "runtime": "PT4H",
    }
    assert records[2]["runtime"] == "PT1H" and records[2]["num_gpus"] == 0
    assert [job["resource_requirements"] for job in payload["jobs"]] == [1, 2, 2, 3, 0]
    assert validate_spec(spec_file(tmp_path, spec))["summary"]["resource_requirements_count"] == 4


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"num_cpus": 1}, "job 'a', resource_requirements: missing required field 'memory'"),
        ({"num_cpus": 0, "memory": "1g"}, "field 'num_cpus' must be at least 1"),
        ({"num_cpus": 1, "memory": "1g", "name": "x"}, "unknown field 'name'"),
        ({"num_cpus": 1, "memory": "1g", "runtime": "PT"}, "invalid runtime 'PT'"),
        (3, "field 'resource_requirements' must be a string or a mapping of fields, got integer 3"),
    ],
)
def test_inline_resource_requirements_errors(tmp_path: Path, value: object, fragment: str) -> None:
    spec = minimal(jobs=[{"name": "a", "command": "e", "resource_requirements": value}])
    path = spec_file(tmp_path, spec)
    message = error_of(path)
    assert fragment in message and re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", message)


def test_inline_resource_requirements_meet_scheduler_checks(tmp_path: Path) -> None:
    spec = minimal(
        slurm_schedulers=[{"name": "s", "account": "a", "walltime": "01:00:00"}],
        jobs=[
            {
                "name": "a",
                "command": "e",
                "scheduler": "s",
                "resource_requirements": {"num_cpus": 1, "memory": "1g", "runtime": "PT2H"},
            }
        ],
    )
    assert "its runtime PT2H exceeds the walltime 01:00:00" in error_of(spec_file(tmp_path, spec))


@pytest.mark.parametrize("runtime", ["PT", "P2DT", "pt", "P"])
def test_degenerate_runtimes_are_rejected(tmp_path: Path, runtime: str) -> None:
    spec = minimal(
        resource_requirements=[{"name": "r", "num_cpus": 1, "memory": "1g", "runtime": runtime}]
    )
    assert f"invalid runtime '{runtime}'" in error_of(spec_file(tmp_path, spec))


def test_whole_day_runtime_is_accepted(tmp_path: Path) -> None:
    spec = minimal(
        resource_requirements=[{"name": "r", "num_cpus": 1, "memory": "1g", "runtime": "P2D"}]
    )
    assert build_payload(spec_file(tmp_path, spec))["resource_requirements"][0]["runtime"] == "P2D"


@pytest.mark.parametrize(
    "key", ["--partition", "--job-name", "job_name", "Job-Name", "-mem", " time"]
)
def test_forbidden_slurm_defaults_in_any_spelling(tmp_path: Path, key: str) -> None:
    spec = minimal(slurm_defaults={key: "x"})
    assert f"slurm_defaults: '{key}' is managed by torc" in error_of(spec_file(tmp_path, spec))


def test_slurm_defaults_are_stored_without_leading_dashes(tmp_path: Path) -> None:
    spec = minimal(slurm_defaults={"--qos": "high", "mail-type": "END"})
    stored = json.loads(build_payload(spec_file(tmp_path, spec))["workflow"]["slurm_defaults"])
    assert stored == {"qos": "high", "mail-type": "END"}


def test_slurm_schedulers_without_a_name_get_one(tmp_path: Path) -> None:
    spec = minimal(
        slurm_schedulers=[
            {"account": "a"},
            {"name": "scheduler_1", "account": "b"},
            {"account": "c"},
        ],
        actions=[
            {
                "trigger_type": "on_workflow_start",
                "action_type": "schedule_nodes",
                "scheduler": "scheduler_3",
                "scheduler_type": "slurm",
            }
        ],
    )
    payload = build_payload(spec_file(tmp_path, spec))
    assert [s["name"] for s in payload["slurm_schedulers"]] == [
        "scheduler_2",
        "scheduler_1",
        "scheduler_3",
    ]
    assert payload["actions"][0]["scheduler"] == 2


def test_duplicate_names_from_unused_parameters_get_a_hint(tmp_path: Path) -> None:
    """Files (and user data) whose name leaves out a parameter repeat their names; a job
    like that is a partial fan-in instead (D16 in docs/decisions.md)."""
    files = minimal(
        files=[{"name": "f_{a}", "path": "p", "parameters": {"a": "1:2", "b": "1:3", "c": "[x]"}}]
    )
    path = spec_file(tmp_path, files)
    message = error_of(path)
    assert "Duplicate file name: 'f_1'; file 'f_{a}' does not use its parameter(s) 'b', 'c'" in (
        message
    )
    assert "add {b} to the name" in message
    result = validate_spec(path)
    assert len(result["errors"]) == 1  # one error for the entry, not one per repeated name


def test_duplicate_names_of_two_entries_get_no_parameter_hint(tmp_path: Path) -> None:
    spec = minimal(jobs=[{"name": "a", "command": "e"}, {"name": "a", "command": "e"}])
    assert error_of(spec_file(tmp_path, spec)).endswith("Duplicate job name: 'a'")


def test_summary_keeps_the_name_when_another_field_is_wrong(tmp_path: Path) -> None:
    spec = minimal(description="d", jobs=[{"name": "a", "command": "e", "bogus": 1}])
    result = validate_spec(spec_file(tmp_path, spec))
    assert not result["valid"]
    assert result["summary"]["workflow_name"] == "t"
    assert result["summary"]["workflow_description"] == "d"
    assert "Workflow: t\n" in format_validation(result)


def test_passed_with_warnings(tmp_path: Path) -> None:
    spec = minimal(user_data=[{"data": 1}, {"data": 2}])
    text = format_validation(validate_spec(spec_file(tmp_path, spec)))
    assert text.endswith("Validation: PASSED (with 2 warning(s))")
    assert "Warnings (2):" in text
    assert format_validation(validate_spec(spec_file(tmp_path, minimal()))).endswith(
        "Validation: PASSED"
    )


def test_dry_run_result_for_unreadable_files(tmp_path: Path) -> None:
    for path, fragment in (
        (tmp_path / "missing.yaml", "spec file not found"),
        (INVALID / "syntax_error.yaml", "invalid YAML"),
    ):
        result = validate_spec(path)
        assert result["valid"] is False and result["warnings"] == []
        assert len(result["errors"]) == 1 and fragment in result["errors"][0]
        assert result["summary"]["job_count"] == 0
