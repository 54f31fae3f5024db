"""Input that must fail fast and in one line: NUL characters, deep nesting, YAML alias bombs,
control characters, malformed KDL, and specs that would expand to too many jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
import requests

from cli.spec import SpecError, build_payload
from tests.helpers import (
    Api,
    ServerProcess,
    assert_error_shape,
    spec_payload,
    start_runner,
    torc,
)


def nested_json(levels: int) -> str:
    """JSON text nested ``levels`` deep (mappings and lists in turn); built as text, since
    encoders refuse to write what the server must refuse to read."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(levels))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(levels)))
    return opening + '"leaf"' + closing


NUL_BODIES = [
    ("/workflows", {"name": "a\x00b", "user": "u"}, "name"),
    ("/jobs", {"workflow_id": "{wf}", "name": "j", "command": "echo \x00"}, "command"),
    ("/user_data", {"workflow_id": "{wf}", "name": "d", "data": {"k\x00": 1}}, "data.k"),
    ("/workflow_specs", spec_payload([{"name": "j\x00", "command": "true"}]), "jobs.0.name"),
]


@pytest.mark.parametrize(("path", "body", "field"), NUL_BODIES, ids=[b[0] for b in NUL_BODIES])
def test_a_nul_character_is_refused_with_422_naming_the_field(
    api: Api, server: ServerProcess, path: str, body: dict, field: str
) -> None:
    wf = api.workflow("nul")
    if body.get("workflow_id") == "{wf}":
        body = {**body, "workflow_id": wf}
    before = api.get("/workflows")["total_count"]
    response = requests.post(server.url + path, json=body, timeout=30)
    message = assert_error_shape(response, 422)["message"]
    assert field in message and "NUL" in message
    assert api.get("/workflows")["total_count"] == before
    assert api.get("/jobs", params={"workflow_id": wf})["total_count"] == 0


def test_a_nul_in_the_path_or_query_is_refused(api: Api, server: ServerProcess) -> None:
    response = requests.get(server.url + "/workflows", params={"name": "a\x00"}, timeout=30)
    assert_error_shape(response, 422)


@pytest.mark.parametrize("levels", [197, 254, 1000])
def test_nesting_beyond_the_limit_is_422_and_within_it_round_trips(
    api: Api, server: ServerProcess, levels: int
) -> None:
    wf = api.workflow("deep")
    body = f'{{"workflow_id": {wf}, "name": "d", "data": {nested_json(levels)}}}'
    response = post_text(server.url + "/user_data", body)
    if levels < 200:
        assert response.status_code == 200, response.text
        listed = api.get("/user_data", params={"workflow_id": wf})["items"]
        assert listed[0]["data"] == orjson.loads(nested_json(levels))  # and it reads back
    else:
        message = assert_error_shape(response, 422)["message"]
        assert "nested more than 200 levels" in message
    # In a whole workflow the data sits three levels down (payload, list, record).
    payload = orjson.dumps(spec_payload([{"name": "j", "command": "true"}])).decode()
    payload = payload[:-1] + f', "user_data": [{{"name": "d", "data": {nested_json(levels)}}}]}}'
    response = post_text(server.url + "/workflow_specs", payload)
    assert response.status_code == (200 if levels <= 197 else 422), response.text[:300]


def post_text(url: str, body: str) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return requests.post(url, data=body.encode(), headers=headers, timeout=30)


def test_a_runner_fails_a_job_it_cannot_launch_and_goes_on(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    """A NUL byte in a command (written before the API refused them, or by hand) fails that
    job with return code 127; the runner runs the others and exits normally."""
    jobs = [{"name": "bad", "command": "echo bad"}, {"name": "good", "command": "true"}]
    payload = spec_payload(jobs, workflow={"compute_node_wait_for_new_jobs_seconds": 1})
    wf = api.post("/workflow_specs", payload, params={"initialize": "true"})["workflow_id"]
    with sqlite3.connect(server.database) as db:
        db.execute(
            "UPDATE job SET command = ? WHERE workflow_id = ? AND name = 'bad'",
            ["echo \x00bad", wf],
        )
    err = tmp_path / "runner.err"
    runner = start_runner(server.url, wf, tmp_path, stderr=err)
    assert runner.wait(timeout=120) == 1, err.read_text()[-2000:]  # 1: a job failed
    assert "1 completed, 1 failed" in err.read_text()
    assert api.statuses(wf) == {"bad": "failed", "good": "completed"}
    [result] = [
        r for r in api.get("/results", params={"workflow_id": wf})["items"] if r["return_code"]
    ]
    assert result["return_code"] == 127
    assert "Traceback" not in err.read_text()


ALIAS_BOMB = """name: bomb
user_data:
  - name: d
    data:
      a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
      i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
jobs:
  - name: a
    command: echo
"""
JOB = "jobs:\n  - name: a\n    command: echo\n"


def deep_yaml(levels: int) -> str:
    return f"name: deep\nuser_data:\n  - name: d\n    data: {'[' * levels}1{']' * levels}\n{JOB}"


BAD_SPECS = [
    ("bomb.yaml", ALIAS_BOMB, "alias bomb"),
    ("deep.yaml", deep_yaml(300), "nested more than 200 levels"),
    ("deeper.yaml", deep_yaml(10_000), "nested too deeply"),
    (
        "deep.json",
        '{"name": "x", "user_data": [{"name": "d", "data": '
        + "[" * 10_000
        + "]" * 10_000
        + '}], "jobs": [{"name": "a", "command": "e"}]}',
        "nested too deeply",
    ),
    (
        "deep.json5",
        "{name: 'x', jobs: [{name: 'a', command: 'e'}], x: " + "[" * 5000 + "]" * 5000 + "}",
        "nested too deeply",
    ),
    ("ctrl.yaml", f"name: a\x04b\n{JOB}", "control character #x0004"),
    ("nul.yaml", f"name: a\x00b\n{JOB}", "control character #x0000"),
    ("nul_escape.yaml", f'name: "a\\0b"\n{JOB}', "name: holds a NUL character"),
    (
        "nul_command.json",
        '{"name": "x", "jobs": [{"name": "a", "command": "echo \\u0000"}]}',
        "jobs.0.command: holds a NUL character",
    ),
    ("broken.kdl", 'name "x"\njob "a" {\n    command "echo"\n', "invalid KDL"),
    ("yaml_looking.kdl", "name: x\njobs:\n  - name: a\n    command: echo\n", "field 'name:'"),
    ("yaml_inside.kdl", 'name: "wf"\njobs: [{name: a, command: echo}]\n', "invalid KDL"),
]


@pytest.mark.parametrize(("name", "text", "mentions"), BAD_SPECS, ids=[s[0] for s in BAD_SPECS])
def test_a_bad_spec_is_one_error_line_quickly(tmp_path: Path, name: str, text: str, mentions: str):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        build_payload(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert mentions in message, message


def test_the_cli_reports_an_alias_bomb_and_deep_nesting_at_once(tmp_path: Path) -> None:
    """Both used to hang (the bomb) or print a RecursionError traceback (the nesting)."""
    url = "http://127.0.0.1:9/torc-service/v1"  # never reached: the spec fails first
    for name, text in (("bomb.yaml", ALIAS_BOMB), ("deep.yaml", deep_yaml(10_000))):
        (tmp_path / name).write_text(text)
        created = torc("--url", url, "workflows", "create", name, cwd=tmp_path, timeout=60)
        assert created.returncode == 1
        [line] = created.stderr.splitlines()
        assert line.startswith(f"Error: {name}:"), line
        checked = torc("--url", url, "workflows", "create", name, "--dry-run", cwd=tmp_path)
        assert checked.returncode == 1 and "Validation: FAILED" in checked.stdout
        assert line.removeprefix(f"Error: {name}: ")[:40] in " ".join(checked.stdout.split())
        assert "Traceback" not in created.stderr + checked.stderr


@pytest.mark.parametrize("levels", [300, 5000])
def test_deep_data_on_the_command_line_is_one_error_line(tmp_path: Path, levels: int) -> None:
    data = "[" * levels + "]" * levels
    for args in (["user-data", "create", "1", "-n", "d", "--data", data],
                 ["events", "create", "1", "--data", data]):  # fmt: skip
        result = torc("--url", "http://127.0.0.1:9/torc-service/v1", *args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        [line] = result.stderr.splitlines()
        assert "nested more than 200 levels" in line


def test_a_spec_over_the_job_limit_is_refused_before_expanding(tmp_path: Path) -> None:
    """1:1000000000 once made torc use 23.5 GB until the kernel killed it; a 10^7-job
    product took 76 s and 6 GB in a dry run. Counted first, both are refused at once."""
    huge = tmp_path / "huge.yaml"
    huge.write_text(
        "name: huge\njobs:\n  - name: job_{i}\n    command: echo {i}\n"
        "    parameters:\n      i: '1:1000000000'\n"
    )
    product = tmp_path / "product.yaml"
    product.write_text(
        "name: product\njobs:\n  - name: job_{a}_{b}\n    command: echo\n"
        "    parameters:\n      a: '1:10000'\n      b: '1:1000'\n"
    )
    url = "http://127.0.0.1:9/torc-service/v1"  # never reached
    for path, count in ((huge, "1,000,000,000"), (product, "10,000,000")):
        result = torc("--url", url, "workflows", "create", path.name, cwd=tmp_path, timeout=60)
        assert result.returncode == 1
        [line] = result.stderr.splitlines()
        assert f"expands to {count} jobs" in line and "over the limit of 1,000,000" in line
        assert "TORC_CLIENT__MAX_JOBS" in line, line
        checked = torc("--url", url, "workflows", "create", path.name, "--dry-run", cwd=tmp_path)
        assert checked.returncode == 1 and f"expands to {count} jobs" in checked.stdout


def test_the_job_limit_is_a_setting(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: s\njobs:\n  - name: job_{i}\n    command: echo\n    parameters:\n      i: '1:50'\n"
    )
    with pytest.raises(SpecError, match="expands to 50 jobs .* over the limit of 49"):
        build_payload(spec, max_jobs=49)
    assert len(build_payload(spec, max_jobs=50)["jobs"]) == 50
    result = torc(
        "--url", "http://127.0.0.1:9/torc-service/v1", "workflows", "create", "spec.yaml",
        "--dry-run", cwd=tmp_path, env={"TORC_CLIENT__MAX_JOBS": "10"},
    )  # fmt: skip
    assert result.returncode == 1 and "over the limit of 10" in result.stdout


def test_a_fan_in_over_too_many_combinations_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "fan_in.yaml"
    spec.write_text(
        "name: f\njobs:\n  - name: gather\n    command: echo\n    depends_on: ['w_{i}']\n"
        "    parameters:\n      i: '1:2000000'\n"
    )
    with pytest.raises(SpecError, match="'gather' fans in over 2,000,000 parameter combinations"):
        build_payload(spec)


def test_the_job_limit_counts_a_partial_fan_in_as_its_jobs(tmp_path: Path) -> None:
    """D16 (docs/decisions.md): report_{dataset} over 3 datasets x 4 analyses is 3 jobs, not
    12; with the 12 analyze jobs the spec is 15 jobs (it was counted as 24 and refused)."""
    spec = tmp_path / "partial.yaml"
    spec.write_text(
        "name: p\nparameters:\n  dataset: '1:3'\n  analysis: '1:4'\njobs:\n"
        "  - name: analyze_{dataset}_{analysis}\n    command: echo\n"
        "    use_parameters: [dataset, analysis]\n"
        "  - name: report_{dataset}\n    command: echo\n"
        "    depends_on: ['analyze_{dataset}_{analysis}']\n"
        "    use_parameters: [dataset, analysis]\n"
    )
    assert len(build_payload(spec, max_jobs=15)["jobs"]) == 15
    with pytest.raises(SpecError, match="expands to 15 jobs .12 from job 'analyze_"):
        build_payload(spec, max_jobs=14)


def test_a_regex_dependency_matching_only_its_own_job_says_so(tmp_path: Path) -> None:
    spec = tmp_path / "self.yaml"
    spec.write_text(
        "name: s\njobs:\n  - name: a\n    command: echo\n    depends_on_regexes: ['^a$']\n"
        "  - name: b\n    command: echo\n    depends_on_regexes: ['^zzz']\n"
    )
    with pytest.raises(SpecError) as caught:
        build_payload(spec)
    message = str(caught.value)
    assert "regex '^a$' of job 'a' matched only the job itself" in message, message
    assert message.startswith(f"{spec}:5:"), message
