"""Parameter values, substitution and expansion (D3, D4, D6 in docs/decisions.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli.spec import SpecError, build_payload, compile_spec
from cli.spec.parameters import (
    ParameterSet,
    TemplateCompiler,
    parse_parameter,
    render_plain,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def values(raw: object) -> list:
    return list(parse_parameter("p", raw).values)


def spec_file(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def job_names(tmp_path: Path, jobs: list[dict], **top: object) -> list[str]:
    payload = build_payload(spec_file(tmp_path, {"name": "t", **top, "jobs": jobs}))
    return [job["name"] for job in payload["jobs"]]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1:5", [1, 2, 3, 4, 5]),
        ("0:10:2", [0, 2, 4, 6, 8, 10]),
        ("0:9:4", [0, 4, 8]),
        ("5:1", [5, 4, 3, 2, 1]),
        ("10:0:-5", [10, 5, 0]),
        ("{1:3}", [1, 2, 3]),
        (" 1 : 3 ", [1, 2, 3]),
        ("0.0:1.0:0.25", [0.0, 0.25, 0.5, 0.75, 1.0]),
        ("1:2:0.5", [1.0, 1.5, 2.0]),
        ("0.0001:0.01:10", [0.0001]),
        ("[1,5,10]", [1, 5, 10]),
        ("[0.1, 0.5]", [0.1, 0.5]),
        ("['adam','sgd']", ["adam", "sgd"]),
        ("[a, b]", ["a", "b"]),
        ('["x, y", z]', ["x, y", "z"]),
        ("[]", []),
        ("[ ]", []),
        ("hello", ["hello"]),
        ("42", [42]),
        ("a:b", ["a:b"]),
        (7, [7]),
        (0.5, [0.5]),
        ([1, "two", 3.5], [1, "two", 3.5]),
    ],
)
def test_parameter_values(raw: object, expected: list) -> None:
    assert values(raw) == expected


def test_float_ranges_are_exact() -> None:
    tenths = values("0.1:1.0:0.1")
    assert [render_plain(v) for v in tenths] == [
        "0.1",
        "0.2",
        "0.3",
        "0.4",
        "0.5",
        "0.6",
        "0.7",
        "0.8",
        "0.9",
        "1.0",
    ]
    assert len(values("0.0:1.0:0.1")) == 11


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1:10:0", "range step must not be 0"),
        ("1:10:-1", "never goes from 1 to 10"),
        ("1:", "invalid range '1:'"),
        ("1:2:3:4", "invalid range"),
        ("1.5.2:3", "bounds and step must be numbers"),
        ("[1, 2", "unbalanced brackets"),
        ("[1,,2]", "empty item"),
        ("['a, b]", "unterminated quote"),
        (True, "expected a range, list or single value"),
        ([[1]], "list items must be numbers or strings"),
    ],
)
def test_bad_parameter_values(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match="parameter 'p'") as caught:
        parse_parameter("p", raw)
    assert message in str(caught.value)


def test_plain_rendering_never_uses_exponents() -> None:
    assert [render_plain(v) for v in (5, 1.0, 0.001, 1e-05, 2.5e20, "s")] == [
        "5",
        "1.0",
        "0.001",
        "0.00001",
        "250000000000000000000",
        "s",
    ]


def render(text: str, **params: str) -> list[str]:
    parameter_set = ParameterSet(tuple(parse_parameter(k, v) for k, v in params.items()))
    template = TemplateCompiler(parameter_set).compile(text)
    return [template.render(c) for c in parameter_set.combinations()]


def test_substitution_with_and_without_format_specs() -> None:
    assert render("job_{i:03d}", i="[1, 42, 100]") == ["job_001", "job_042", "job_100"]
    assert render("lr{lr:.4f}", lr="[0.0001,0.001]") == ["lr0.0001", "lr0.0010"]
    assert render("t{x:.2f}", x="0.1:0.3:0.1") == ["t0.10", "t0.20", "t0.30"]
    assert render("{x:.2e}", x="[0.001]") == ["1.00e-03"]
    # D6 (docs/decisions.md): both forms of the same parameter are replaced in one string
    assert render("{i}-{i:02d}", i="[3]") == ["3-03"]


def test_substitution_leaves_other_braces_alone() -> None:
    text = "awk '{print $1}' ${i} ${files.input.f_{i}} {unknown} {} {i!r} {{i}}"
    assert render(text, i="[7]") == [
        "awk '{print $1}' ${i} ${files.input.f_7} {unknown} {} {i!r} {7}"
    ]


def test_format_spec_that_does_not_fit_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot format value 'adam' of parameter 'opt'"):
        render("{opt:03d}", opt="[adam]")


def test_product_order_first_parameter_slowest(tmp_path: Path) -> None:
    job = {"name": "job_{a}_{b}", "command": "echo", "parameters": {"a": "[1, 2]", "b": "[x, y]"}}
    assert job_names(tmp_path, [job]) == ["job_1_x", "job_1_y", "job_2_x", "job_2_y"]


def test_zip_mode_pairs_values(tmp_path: Path) -> None:
    job = {
        "name": "train_{dataset}_{model}",
        "command": "echo",
        "parameters": {"dataset": "['cifar10','mnist']", "model": "[resnet, cnn]"},
        "parameter_mode": "zip",
    }
    assert job_names(tmp_path, [job]) == ["train_cifar10_resnet", "train_mnist_cnn"]


def test_zip_length_mismatch_message(tmp_path: Path) -> None:
    job = {
        "name": "j_{a}_{b}_{c}",
        "command": "echo",
        "parameters": {"a": "1:3", "b": "1:3", "c": "1:2"},
        "parameter_mode": "zip",
    }
    with pytest.raises(SpecError) as caught:
        job_names(tmp_path, [job])
    assert (
        "All parameters must have the same number of values when using 'zip' mode. "
        "Parameter 'a' has 3 values, but 'c' has 2 values." in str(caught.value)
    )


def test_empty_list_removes_the_job(tmp_path: Path) -> None:
    jobs = [
        {"name": "keep", "command": "echo"},
        {"name": "gone_{i}", "command": "echo", "parameters": {"i": "[]"}},
    ]
    assert job_names(tmp_path, jobs) == ["keep"]


def test_shared_parameters_and_local_override(tmp_path: Path) -> None:
    jobs = [
        {"name": "train_{lr}", "command": "echo", "use_parameters": ["lr"]},
        {"name": "special_{lr}", "command": "echo", "parameters": {"lr": "[9]"}},
        {
            "name": "mix_{lr}_{s}",
            "command": "e",
            "use_parameters": ["lr"],
            "parameters": {"s": "1:2"},
        },
        {
            "name": "both_{lr}",
            "command": "e",
            "use_parameters": ["lr"],
            "parameters": {"lr": "[5]"},
        },
        {"name": "plain_{lr}", "command": "echo"},
    ]
    names = job_names(tmp_path, jobs, parameters={"lr": "[1, 2]", "unused": "[x]"})
    assert names == [
        "train_1",
        "train_2",
        "special_9",
        "mix_1_1",
        "mix_1_2",
        "mix_2_1",
        "mix_2_2",
        "both_5",
        "plain_{lr}",
    ]


def test_unknown_use_parameters_name_is_an_error(tmp_path: Path) -> None:
    job = {"name": "t_{lr}", "command": "echo", "use_parameters": ["lrs"]}
    with pytest.raises(SpecError, match="unknown parameter 'lrs'; did you mean 'lr'"):
        job_names(tmp_path, [job], parameters={"lr": "[1]"})


def test_parameterized_dependencies_are_pairwise(tmp_path: Path) -> None:
    params = {"config": "['A','B','C']"}
    jobs = [
        {"name": "generate_{config}", "command": "echo", "parameters": params},
        {
            "name": "process_{config}",
            "command": "echo",
            "depends_on": ["generate_{config}"],
            "parameters": params,
        },
    ]
    payload = build_payload(spec_file(tmp_path, {"name": "t", "jobs": jobs}))
    edges = {job["name"]: job.get("depends_on") for job in payload["jobs"][3:]}
    assert edges == {"process_A": [0], "process_B": [1], "process_C": [2]}


def test_fan_in_job_is_one_job_depending_on_all(tmp_path: Path) -> None:
    jobs = [
        {"name": "process_{i}", "command": "echo", "parameters": {"i": "1:5"}},
        {
            "name": "aggregate",
            "command": "cat results/chunk_{i}.txt",
            "depends_on": ["process_{i}", "process_1"],
            "parameters": {"i": "1:5"},
        },
    ]
    compiled = compile_spec(spec_file(tmp_path, {"name": "t", "jobs": jobs}))
    aggregate = compiled.payload["jobs"][-1]
    assert aggregate["name"] == "aggregate" and len(compiled.payload["jobs"]) == 6
    assert aggregate["depends_on"] == [0, 1, 2, 3, 4]
    assert aggregate["command"] == "cat results/chunk_{i}.txt"
    assert any("single fan-in job" in warning for warning in compiled.warnings)


def test_parameterized_user_data_substitutes_strings_in_data(tmp_path: Path) -> None:
    spec = {
        "name": "t",
        "user_data": [
            {
                "name": "config_{experiment}",
                "data": {"experiment": "{experiment}", "rate": 0.001, "tags": ["{experiment}", 1]},
                "parameters": {"experiment": "['baseline','full']"},
            }
        ],
        "jobs": [{"name": "a", "command": "echo"}],
    }
    payload = build_payload(spec_file(tmp_path, spec))
    assert payload["user_data"] == [
        {
            "name": "config_baseline",
            "data": {"experiment": "baseline", "rate": 0.001, "tags": ["baseline", 1]},
            "is_ephemeral": False,
        },
        {
            "name": "config_full",
            "data": {"experiment": "full", "rate": 0.001, "tags": ["full", 1]},
            "is_ephemeral": False,
        },
    ]


def test_hundred_jobs_fixture() -> None:
    payload = build_payload(FIXTURES / "hundred_jobs.yaml")
    names = [job["name"] for job in payload["jobs"]]
    assert names == [f"job_{i:03d}" for i in range(1, 101)]
    assert payload["jobs"][41]["command"] == 'echo "this is job 42 of 100"'


def test_hyperparameter_sweep_fixture() -> None:
    payload = build_payload(FIXTURES / "hyperparameter_sweep.yaml")
    names = [job["name"] for job in payload["jobs"]]
    expected_training = [
        f"train_lr{lr}_bs{bs}_{opt}"
        for lr in ("0.0001", "0.0010", "0.0100")
        for bs in (16, 32, 64)
        for opt in ("adam", "sgd")
    ]
    assert names == ["prepare_data", *expected_training, "aggregate"]
    files = [f["name"] for f in payload["files"]]
    aggregate = payload["jobs"][-1]
    assert [files[i] for i in aggregate["input_files"]] == [
        name.replace("train_", "metrics_") for name in expected_training
    ]
    first = payload["jobs"][1]
    assert first["command"] == (
        'echo "lr=0.0001 batch_size=16 optimizer=adam" > '
        "output_files/sweep/metrics_lr0.0001_bs16_adam.txt"
    )
    assert [files[i] for i in first["output_files"]] == ["metrics_lr0.0001_bs16_adam"]
    assert [files[i] for i in first["input_files"]] == ["training_data"]


def test_parameters_shared_fixture() -> None:
    payload = build_payload(FIXTURES / "parameters_shared.yaml")
    jobs = {job["name"]: job for job in payload["jobs"]}
    names = list(jobs)
    assert names[:6] == [
        "fetch_cifar10",
        "fetch_mnist",
        "fetch_imagenet",
        "train_cifar10_resnet",
        "train_mnist_cnn",
        "train_imagenet_transformer",
    ]
    assert names[6:8] == ["repeat_cifar10_seed7", "repeat_cifar10_seed42"]
    assert jobs["train_mnist_cnn"]["depends_on"] == [names.index("fetch_mnist")]
    files = [f["name"] for f in payload["files"]]
    assert files == [
        "raw_cifar10",
        "raw_mnist",
        "raw_imagenet",
        "model_cifar10_resnet",
        "model_mnist_cnn",
        "model_imagenet_transformer",
    ]
    assert jobs["report"]["input_files"] == [3, 4, 5]
    assert payload["user_data"][1]["data"] == {"dataset": "mnist", "epochs": 3}
    assert jobs["repeat_mnist_seed42"]["input_user_data"] == [1]
