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
        ('name "x"\njob "a" x=1 { command "e"; }', "unknown KDL node 'x' in job 'a'"),
    ],
)
def test_kdl_structure_errors(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(write(tmp_path, "s.kdl", text))
    assert expected in message and "\n" not in message


def test_duplicate_keys_are_rejected_in_json5(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "s.json5", "{\n  name: 'a',\n  name: 'b',\n}\n"))
    assert message == f"{tmp_path}/s.json5:3:3: invalid JSON5: duplicate key 'name'"
