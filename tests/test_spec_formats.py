"""Spec file formats: the four parsers, format fallback, positions, and the KDL mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.spec import SpecError, build_payload, load_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLES = sorted(path.stem for path in FIXTURES.glob("*.yaml"))


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(SpecError) as caught:
        build_payload(path)
    return str(caught.value)


def test_every_example_exists_in_all_four_formats() -> None:
    assert set(EXAMPLES) >= {
        "diamond",
        "hundred_jobs",
        "hyperparameter_sweep",
        "barrier",
        "user_data",
        "parameters_shared",
        "all_features",
    }
    for stem in EXAMPLES:
        for extension in ("yaml", "json", "json5", "kdl"):
            assert (FIXTURES / f"{stem}.{extension}").is_file(), (stem, extension)


@pytest.mark.parametrize("stem", EXAMPLES)
@pytest.mark.parametrize("extension", ["json", "json5", "kdl"])
def test_all_formats_give_the_same_payload(stem: str, extension: str) -> None:
    reference = build_payload(FIXTURES / f"{stem}.yaml", user="tester")
    other = build_payload(FIXTURES / f"{stem}.{extension}", user="tester")
    assert other == reference
    assert load_spec(FIXTURES / f"{stem}.{extension}").format == extension


@pytest.mark.parametrize("stem", EXAMPLES)
def test_payload_is_plain_json(stem: str) -> None:
    payload = build_payload(FIXTURES / f"{stem}.yaml")
    assert json.loads(json.dumps(payload)) == payload


def test_format_fallback_for_misnamed_and_unknown_extensions(tmp_path: Path) -> None:
    kdl_text = 'name "x"\njob "a" {\n    command "echo"\n}\n'
    misnamed = write(tmp_path, "spec.yaml", kdl_text)
    assert load_spec(misnamed).format == "kdl"
    json5_in_json = write(tmp_path, "spec.json", '{name: "x", jobs: [{name: "a", command: "e"}]}')
    assert load_spec(json5_in_json).format == "json5"
    unknown = write(tmp_path, "spec.txt", "name: x\njobs:\n  - name: a\n    command: echo\n")
    assert load_spec(unknown).format == "yaml"
    assert build_payload(misnamed)["jobs"] == build_payload(unknown)["jobs"]


def test_failing_fallbacks_report_the_extensions_own_parser(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "bad.kdl", 'name "x"\njob "a" {\n'))
    assert "invalid KDL" in message
    message = error_of(write(tmp_path, "bad.conf", "name: [unclosed\n"))
    assert "invalid YAML" in message and message.startswith(f"{tmp_path}/bad.conf:")


def test_yaml_and_json_syntax_errors_carry_line_and_column(tmp_path: Path) -> None:
    yaml_error = error_of(write(tmp_path, "a.yaml", "name: x\njobs:\n  - name: a\n   bad: 1\n"))
    assert yaml_error.startswith(f"{tmp_path}/a.yaml:4:")
    json_error = error_of(write(tmp_path, "a.json", '{\n  "name": "x",\n  "jobs": [\n}\n'))
    assert json_error.startswith(f"{tmp_path}/a.json:4:1: invalid JSON")
    json5_error = error_of(write(tmp_path, "a.json5", "{\n  name: 'x',,\n}\n"))
    assert json5_error.startswith(f"{tmp_path}/a.json5:2:")


def test_file_problems(tmp_path: Path) -> None:
    assert error_of(tmp_path / "missing.yaml").endswith("missing.yaml: spec file not found")
    assert error_of(write(tmp_path, "empty.yaml", "\n  \n")).endswith("spec file is empty")


def test_locate_points_at_keys_and_items(tmp_path: Path) -> None:
    text = "name: x\njobs:\n  - name: a\n    command: echo a\n  - name: b\n    command: b\n"
    spec = load_spec(write(tmp_path, "s.yaml", text))
    assert spec.locate(("jobs", 1, "command")) == (6, 5)
    assert spec.locate(("jobs", 1, "command", 3)) == (6, 5)  # nearest known ancestor
    assert spec.locate(("nothing",)) is None
    json5_text = "{\n  name: 'x',\n  jobs: [\n    {name: 'a',\n     command: 'echo'},\n  ],\n}\n"
    spec = load_spec(write(tmp_path, "s.json5", json5_text))
    assert spec.locate(("jobs", 0, "command")) == (5, 6)
    assert spec.locate(("jobs", 0)) == (4, 5)


def test_kdl_positions_follow_the_node(tmp_path: Path) -> None:
    text = 'name "x"\njob "a" {\n    command "echo"\n}\njob "b" {\n    command 3\n}\n'
    message = error_of(write(tmp_path, "s.kdl", text))
    assert message.startswith(f"{tmp_path}/s.kdl:6:5: job 'b': field 'command' must be a string")


def test_kdl_mapping_covers_properties_children_and_aliases(tmp_path: Path) -> None:
    text = """
name "kdl_mapping"
parameters { i "1:2" }
file "f_{i}" path="out/{i}.txt" { use_parameters "i" }
file "g" { path "g.txt" }
user_data "settings" {
    data { depth 2; sizes 1 2 3; nested { flag #true } }
}
job "a_{i}" {
    command "echo {i} > ${files.output.f_{i}}"
    use_parameters "i"
}
job "b" {
    command "cat g.txt"
    depends_on_job "a_1"
    depends_on "a_2"
    input_files "g" "f_1"
    input_user_data "settings"
}
action {
    trigger_type "on_jobs_complete"
    action_type "run_commands"
    job "b"
    job_name_regex "^a_"
    command "echo one"
    command "echo two"
}
"""
    payload = build_payload(write(tmp_path, "s.kdl", text))
    assert [f["path"] for f in payload["files"]] == ["out/1.txt", "out/2.txt", "g.txt"]
    assert payload["user_data"][0]["data"] == {
        "depth": 2,
        "sizes": [1, 2, 3],
        "nested": {"flag": True},
    }
    b = payload["jobs"][2]
    assert b["depends_on"] == [0, 1] and b["input_files"] == [2, 0]
    assert payload["actions"][0]["jobs"] == [2, 0, 1]
    assert payload["actions"][0]["commands"] == ["echo one", "echo two"]


def test_kdl_accepts_v1_booleans(tmp_path: Path) -> None:
    text = 'name "v1"\nuse_pending_failed true\njob "a" {\n    command "echo"\n}\n'
    assert build_payload(write(tmp_path, "s.kdl", text))["workflow"]["use_pending_failed"] is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name "x"\nname "y"\njob "a" { command "e"; }', "'name' is given more than once"),
        ('name "x"\njob "a" { command "e"; depends_on; }', "needs at least one value"),
        ('name "x"\njob "a" { command "e" { x 1; }; }', "takes values only, not children"),
        ('name "x"\nparameters "1:3"\njob "a" { command "e"; }', "takes child nodes"),
        ('name "x"\naction "n" { trigger_type "on_workflow_start"; }', "takes no arguments"),
        ('name "x"\njob "a" x=1 { command "e"; }', "job 'a': unknown field 'x'"),
    ],
)
def test_kdl_structure_errors(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(write(tmp_path, "s.kdl", text))
    assert expected in message and "\n" not in message


def test_duplicate_keys_are_rejected_in_json5(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "s.json5", "{\n  name: 'a',\n  name: 'b',\n}\n"))
    assert message == f"{tmp_path}/s.json5:3:3: invalid JSON5: duplicate key 'name'"


def test_yaml_plain_scalars_follow_the_yaml_1_2_core_schema(tmp_path: Path) -> None:
    """PyYAML alone reads YAML 1.1: ``1:10`` would be the base-60 integer 70 (one job
    ``job_70``), ``12:00:00`` the integer 43200 and ``yes`` a boolean."""
    text = """name: core_schema
description: yes
parameters: {i: 1:10}
user_data:
  - name: values
    data: [on, off, No, 010, 0o17, 0x1F, 1_000, 2024-01-01, True, FALSE, ~, null, 1.5e3, .5]
jobs:
  - name: job_{i}
    command: echo {i}
    use_parameters: [i]
slurm_schedulers:
  - name: s
    account: a
    walltime: 12:00:00
"""
    payload = build_payload(write(tmp_path, "s.yaml", text))
    assert [job["name"] for job in payload["jobs"]] == [f"job_{i}" for i in range(1, 11)]
    assert payload["workflow"]["description"] == "yes"
    assert payload["slurm_schedulers"][0]["walltime"] == "12:00:00"
    assert payload["user_data"][0]["data"] == [
        "on",
        "off",
        "No",
        10,
        15,
        31,
        "1_000",
        "2024-01-01",
        True,
        False,
        None,
        None,
        1500.0,
        0.5,
    ]


def test_yaml_core_schema_keeps_positions_and_duplicate_checks(tmp_path: Path) -> None:
    text = "name: x\njobs:\n  - name: a\n    command: echo a\n    supports_termination: on\n"
    message = error_of(write(tmp_path, "s.yaml", text))
    assert message.startswith(f"{tmp_path}/s.yaml:5:5: ")
    assert "must be true or false, got string 'on'" in message
    duplicate = "name: x\njobs:\n  - name: a\n    command: echo a\n    command: echo b\n"
    assert error_of(write(tmp_path, "d.yaml", duplicate)) == (
        f"{tmp_path}/d.yaml:5:5: invalid YAML: duplicate key 'command'"
    )


def test_yaml_special_floats_cannot_be_user_data(tmp_path: Path) -> None:
    text = "name: x\nuser_data:\n  - name: u\n    data: {limit: .inf}\n"
    text += "jobs:\n  - {name: a, command: e}\n"
    message = error_of(write(tmp_path, "s.yaml", text))
    assert message.startswith(f"{tmp_path}/s.yaml:4:12: ")
    assert "the value at limit is inf (quote it)" in message


@pytest.mark.parametrize(
    "jobs",
    [
        # block style
        "jobs:\n  - &job\n    name: a\n    command: echo a\n  - <<: *job\n    name: b\n",
        # flow style
        "jobs: [ &job {name: a, command: echo a}, {<<: *job, name: b} ]\n",
        # a list of merged mappings
        "base: &base {command: echo a}\nmore: &more {supports_termination: true}\n"
        "jobs:\n  - {<<: [*base, *more], name: a}\n  - <<: [*base, *more]\n    name: b\n",
    ],
)
def test_yaml_merge_keys_with_overrides(tmp_path: Path, jobs: str) -> None:
    text = "name: merged\n" + jobs
    if "base:" in text:  # anchors live in an extra top-level key: drop it after parsing
        spec = load_spec(write(tmp_path, "s.yaml", text))
        del spec.data["base"], spec.data["more"]
        payload = build_payload(spec)
    else:
        payload = build_payload(write(tmp_path, "s.yaml", text))
    assert [(job["name"], job["command"]) for job in payload["jobs"]] == [
        ("a", "echo a"),
        ("b", "echo a"),
    ]


def test_yaml_merge_keeps_real_duplicates_and_positions(tmp_path: Path) -> None:
    text = "name: x\njobs:\n  - &job\n    name: a\n    command: e\n"
    text += "  - <<: *job\n    name: b\n    name: c\n"
    assert error_of(write(tmp_path, "d.yaml", text)) == (
        f"{tmp_path}/d.yaml:8:5: invalid YAML: duplicate key 'name'"
    )
    text = "name: x\njobs:\n  - &job\n    name: a\n    comand: e\n  - <<: *job\n    name: b\n"
    spec = load_spec(write(tmp_path, "m.yaml", text))
    assert spec.locate(("jobs", 1, "comand")) == (5, 5)  # where the merged key is written
    assert spec.locate(("jobs", 1, "name")) == (7, 5)  # the override


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ('name "x"\njob "a" {\n    command "x"\n    depends_on = "b"\n}\n', "4:16", "Unexpected"),
        ('name "x"\njob "a" {\n  command "x"\n  flag #tru\n}\n', "4:8", "Bare identifier"),
        ('name "x"\n}\njob "a" { command "e"; }\n', "2:1", "Unexpected '}'"),
        ('name "x"\njob "a" {\n    command "echo a"\n\njob "b" {\n}\n', "2:1", "unclosed"),
    ],
)
def test_kdl_syntax_errors_carry_line_and_column(
    tmp_path: Path, text: str, position: str, fragment: str
) -> None:
    message = error_of(write(tmp_path, "s.kdl", text))
    assert message.startswith(f"{tmp_path}/s.kdl:{position}: invalid KDL: "), message
    assert fragment in message


def test_kdl_equals_sign_gets_a_hint(tmp_path: Path) -> None:
    text = 'name "x"\njob "a" {\n    command "x"\n    depends_on = "b"\n}\n'
    assert "write 'depends_on \"b\"'" in error_of(write(tmp_path, "s.kdl", text))


def test_kdl_inline_resource_requirements(tmp_path: Path) -> None:
    children = 'name "x"\njob "a" {\n    command "e"\n    resource_requirements {\n'
    children += '        num_cpus 2\n        memory "2g"\n    }\n}\n'
    properties = 'name "x"\njob "a" {\n    command "e"\n'
    properties += '    resource_requirements num_cpus=2 memory="2g"\n}\n'
    expected = [
        {
            "name": "a",
            "num_cpus": 2,
            "num_gpus": 0,
            "num_nodes": 1,
            "memory": "2g",
            "runtime": "PT1H",
        }
    ]
    for name, text in (("c.kdl", children), ("p.kdl", properties)):
        payload = build_payload(write(tmp_path, name, text))
        assert payload["resource_requirements"] == expected
        assert payload["jobs"][0]["resource_requirements"] == 0
    both = (
        'name "x"\njob "a" {\n    command "e"\n    resource_requirements "r" { num_cpus 1; }\n}\n'
    )
    message = error_of(write(tmp_path, "b.kdl", both))
    assert message.startswith(f"{tmp_path}/b.kdl:4:5: ")
    assert "takes a value or child nodes, not both" in message


def test_kdl_unnamed_slurm_scheduler(tmp_path: Path) -> None:
    text = 'name "x"\njob "a" { command "e"; }\nslurm_scheduler { account "p"; }\n'
    assert build_payload(write(tmp_path, "s.kdl", text))["slurm_schedulers"][0]["name"] == (
        "scheduler_1"
    )
