"""What a new user met trying the seed's how-tos and upstream's specs (issue 12): worker
actions per runner, export/import with results, input checks on run, and the seed's options."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from cli.spec.errors import SpecError
from tests.helpers import Api, ServerProcess, start_runner, torc, wait_for


def create(server: ServerProcess, tmp_path: Path, spec: dict, *args: str) -> int:
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    made = torc("--url", server.url, "-f", "json", "workflows", "create", str(path), *args)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)["workflow_id"]


def test_worker_actions_run_once_per_runner(
    server: ServerProcess, api: Api, tmp_path: Path
) -> None:
    """on_worker_start/on_worker_complete are persistent unless the spec says otherwise
    (D15, docs/decisions.md)."""
    log = tmp_path / "actions.log"

    def action(trigger: str, word: str) -> dict:
        command = f"echo {word} >> {log}"
        return {"trigger_type": trigger, "action_type": "run_commands", "commands": [command]}

    spec = {
        "name": "two_workers",
        "jobs": [{"name": f"j{i}", "command": "sleep 1"} for i in range(4)],
        "actions": [
            action("on_worker_start", "start"),
            action("on_worker_complete", "complete"),
            {**action("on_worker_start", "first_only"), "persistent": False},
        ],
    }
    wf = create(server, tmp_path, spec)
    assert torc("--url", server.url, "workflows", "initialize", str(wf)).returncode == 0
    for number in range(2):
        (tmp_path / f"r{number}").mkdir()
    runners = [start_runner(server.url, wf, tmp_path / f"r{i}") for i in range(2)]
    for runner in runners:
        assert runner.wait(timeout=120) == 0
    words = sorted(log.read_text().split())
    assert words == ["complete", "complete", "first_only", "start", "start"]
    persistent = {(a["trigger_type"], a["persistent"]) for a in api.get(f"/workflows/{wf}/actions")}
    assert persistent == {
        ("on_worker_start", True),
        ("on_worker_complete", True),
        ("on_worker_start", False),
    }


def test_an_api_worker_action_without_persistent_is_persistent(api: Api) -> None:
    wf = api.workflow("api_worker_action")

    def made(trigger: str, **extra) -> bool:
        body = {"workflow_id": wf, "trigger_type": trigger, "action_type": "run_commands"}
        body["action_config"] = {"commands": ["true"]}
        return api.post(f"/workflows/{wf}/actions", {**body, **extra})["persistent"]

    assert made("on_worker_start") and made("on_worker_complete")
    assert not made("on_worker_start", persistent=False)
    assert not made("on_workflow_start")


def test_imported_results_are_the_current_results(server: ServerProcess, tmp_path: Path) -> None:
    spec = {"name": "export_results", "jobs": [{"name": "a", "command": "true"}]}
    spec["jobs"].append({"name": "b", "command": "exit 3", "depends_on": ["a"]})
    wf = create(server, tmp_path, spec)
    ran = torc("--url", server.url, "run", str(wf), "-o", str(tmp_path / "out"), "-p", "0.2")
    assert ran.returncode == 1, ran.stderr
    document = tmp_path / "export.json"
    url = ("--url", server.url)
    exported = torc(*url, "workflows", "export", str(wf), "--include-results", "-o", str(document))
    assert exported.returncode == 0, exported.stderr
    imported = torc(*url, "-f", "json", "workflows", "import", str(document))
    assert imported.returncode == 0, imported.stderr
    copy = json.loads(imported.stdout)["workflow_id"]

    listed = torc(*url, "-f", "json", "results", "list", str(copy))
    assert listed.returncode == 0, listed.stderr
    results = json.loads(listed.stdout)["results"]
    assert sorted((r["job_name"], r["return_code"]) for r in results) == [("a", 0), ("b", 3)]


def test_run_checks_required_inputs_like_initialize(server: ServerProcess, tmp_path: Path) -> None:
    """Seed L4912-4920: a missing required input stops initialize unless --force; `torc run`
    (spec or ID) and `workflows run` initialize the same way."""
    data = tmp_path / "input.csv"
    spec = {
        "name": "needs_input",
        "files": [{"name": "data", "path": str(data)}],
        "jobs": [{"name": "read", "command": "cat ${files.input.data}"}],
    }
    wf = create(server, tmp_path, spec)
    url = ("--url", server.url)
    out = ("-o", str(tmp_path / "out"), "-p", "0.2")
    for command in (("run", str(wf), *out), ("workflows", "run", str(wf), "--output-dir", out[1])):
        refused = torc(*url, *command)
        assert refused.returncode == 1, refused.stderr
        assert f"missing required input files: {data}" in refused.stderr
        assert f"torc workflows initialize {wf} --force" in refused.stderr
    spec_path = tmp_path / "needs_input.yaml"
    refused = torc(*url, "run", str(spec_path), *out)
    assert refused.returncode == 1 and "missing required input files" in refused.stderr
    assert not (tmp_path / "out" / "job_stdio").exists()  # nothing ran

    data.write_text("a,b\n")
    ran = torc(*url, "run", str(wf), *out)
    assert ran.returncode == 0, ran.stderr


def test_logs_analyze_finds_signal_kills_and_runtime_limits(
    server: ServerProcess, tmp_path: Path
) -> None:
    """Seed L4531-4554 lists "Signal kills" and "Time limit exceeded"; such jobs leave
    nothing in their own output, so the runner's log is what shows them."""
    spec = {
        "name": "kills",
        "jobs": [
            {"name": "killed", "command": "kill -9 $$"},
            {"name": "slow", "command": "sleep 60", "resource_requirements": "short"},
        ],
        "resource_requirements": [
            {"name": "short", "num_cpus": 1, "memory": "10m", "runtime": "PT1S"}
        ],
    }
    wf = create(server, tmp_path, spec)
    output = tmp_path / "out"
    ran = torc("--url", server.url, "run", str(wf), "-o", str(output), "-p", "0.2")
    assert ran.returncode == 1, ran.stderr
    analyzed = torc("-f", "json", "logs", "analyze", str(output))
    assert analyzed.returncode == 0, analyzed.stderr
    found = {entry["type"]: entry for entry in json.loads(analyzed.stdout)["errors_by_type"]}
    assert found["Job Killed by Signal"]["count"] == 1
    assert "return_code=-9 status=failed" in found["Job Killed by Signal"]["occurrences"][0]["text"]
    assert found["Runtime Limit Exceeded"]["category"] == "timeout"
    assert found["Runtime Limit Exceeded"]["count"] == 1


def test_the_seeds_own_options(server: ServerProcess, tmp_path: Path) -> None:
    """`torc run ID OUTPUT_DIR` (L4433), `results get WF --job-id N` (L2256),
    `jobs list-by-status WF` (L3052) and `results list WF --status done` (L5374)."""
    spec = {"name": "seed_options", "jobs": [{"name": "ok", "command": "true"}]}
    spec["jobs"].append({"name": "bad", "command": "exit 2"})
    wf = create(server, tmp_path, spec)
    url = ("--url", server.url)
    ran = torc(*url, "run", str(wf), str(tmp_path / "my_output"), "-p", "0.2")
    assert ran.returncode == 1, ran.stderr
    assert len(list((tmp_path / "my_output" / "job_stdio").glob("*.o"))) == 2
    twice = torc(*url, "run", str(wf), "a", "-o", "b")
    assert twice.returncode == 2 and "two output directories" in twice.stderr

    def as_json(*args: str):
        done = torc(*url, "-f", "json", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    jobs = {job["name"]: job["id"] for job in as_json("jobs", "list", str(wf))["jobs"]}
    result = as_json("results", "get", str(wf), "--job-id", str(jobs["bad"]))
    assert (result["job_id"], result["return_code"], result["job_name"]) == (jobs["bad"], 2, "bad")
    assert as_json("results", "get", str(result["id"]))["return_code"] == 2

    by_status = as_json("jobs", "list-by-status", str(wf))
    assert by_status["total"] == 2
    assert by_status["jobs_by_status"] == {
        "completed": [{"id": jobs["ok"], "name": "ok"}],
        "failed": [{"id": jobs["bad"], "name": "bad"}],
    }
    table = torc(*url, "jobs", "list-by-status", str(wf)).stdout
    assert [line.split() for line in table.splitlines()[2:]] == [
        ["completed", "1", "ok"],
        ["failed", "1", "bad"],
    ]
    done = as_json("results", "list", str(wf), "--status", "done")["results"]
    assert [r["job_id"] for r in done] == [jobs["ok"]]
    assert [j["name"] for j in as_json("jobs", "list", str(wf), "-s", "done")["jobs"]] == ["ok"]


def test_utilization_all_labels_every_row(server: ServerProcess, api: Api) -> None:
    """--all lists checks within their limits too: their negative percentages are headroom,
    and each row says whether it is one of the violations counted above it."""
    wf = api.workflow("utilization_all")
    rr = {"workflow_id": wf, "name": "small", "num_cpus": 1, "memory": "1g", "runtime": "PT1H"}
    rr_id = api.post("/resource_requirements", rr)["id"]
    node = api.compute_node(wf)
    for name, peak_gib in (("fits", 0.5), ("grows", 2.0)):
        job = api.job(wf, name, resource_requirements_id=rr_id)
        result = {
            "workflow_id": wf, "job_id": job, "run_id": 1, "compute_node_id": node,
            "return_code": 0, "exec_time_minutes": 6.0, "status": "completed",
            "completion_time": "2025-01-01T00:00:00.000Z",
            "peak_memory_bytes": int(peak_gib * 1024**3), "peak_cpu_percent": 50.0,
        }  # fmt: skip
        api.post("/results", result)
    out = torc("--url", server.url, "reports", "check-resource-utilization", str(wf), "--all")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "⚠ Found 1 resource over-utilization violations (OVER below)"
    assert lines[1].startswith("All 6 checks of 2 jobs: peak use against the requirement")
    assert "Peak vs Specified" in lines[2] and "Verdict" in lines[2]
    rows = [line.split() for line in lines[4:]]
    verdicts = {(row[1], row[2]): (row[-2], row[-1]) for row in rows}
    assert verdicts[("grows", "Memory")] == ("+100.0%", "OVER")
    assert verdicts[("fits", "Memory")] == ("-50.0%", "within")
    assert [row[-1] for row in rows].count("within") == 5


def test_no_resource_monitoring_records_no_usage(server: ServerProcess, tmp_path: Path) -> None:
    """Seed L4151: "No metrics recorded - check that monitoring wasn't disabled with
    --no-resource-monitoring"."""
    command = f"{sys.executable} -c 'b = bytearray(300 * 2**20)'"  # well above the runner's
    spec = {"name": "unmonitored", "jobs": [{"name": "busy", "command": command}]}
    fields = ("peak_memory_bytes", "avg_memory_bytes", "peak_cpu_percent", "avg_cpu_percent")
    for flags, recorded in ((("--no-resource-monitoring",), False), ((), True)):
        wf = create(server, tmp_path, spec, *flags)
        ran = torc("--url", server.url, "run", str(wf), "-o", str(tmp_path / "out"), "-p", "0.2")
        assert ran.returncode == 0, ran.stderr
        listed = torc("--url", server.url, "-f", "json", "results", "list", str(wf))
        [result] = json.loads(listed.stdout)["results"]
        assert (result["peak_memory_bytes"] is not None) is recorded, result
        if not recorded:
            assert [result[name] for name in fields] == [None] * 4


# Upstream's own specs --------------------------------------------------------------------


def compile_yaml(tmp_path: Path, text: str):
    from cli.spec import compile_spec

    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return compile_spec(str(path))


PARTIAL_FAN_IN = """\
name: partial_fan_in
jobs:
  - name: analyze_{dataset}_{analysis_type}
    command: analyze {dataset} {analysis_type}
    parameters:
      dataset: "['sales','inventory']"
      analysis_type: "['a','b']"
  - name: report_{dataset}
    command: report {dataset} {analysis_type}
    depends_on: ["analyze_{dataset}_{analysis_type}"]
    parameters:
      dataset: "['sales','inventory']"
      analysis_type: "['a','b']"
"""


def test_a_name_with_some_parameters_is_a_partial_fan_in(tmp_path: Path) -> None:
    """report_{dataset} is one job per dataset, depending on its analyze jobs.

    D16 (docs/decisions.md)."""
    compiled = compile_yaml(tmp_path, PARTIAL_FAN_IN)
    jobs = compiled.payload["jobs"]
    names = [job["name"] for job in jobs]
    assert names == [
        "analyze_sales_a", "analyze_sales_b", "analyze_inventory_a", "analyze_inventory_b",
        "report_sales", "report_inventory",
    ]  # fmt: skip
    reports = {job["name"]: job for job in jobs[4:]}
    assert [names[i] for i in reports["report_sales"]["depends_on"]] == [
        "analyze_sales_a",
        "analyze_sales_b",
    ]
    assert [names[i] for i in reports["report_inventory"]["depends_on"]] == [
        "analyze_inventory_a",
        "analyze_inventory_b",
    ]
    # {dataset} is substituted in the command; {analysis_type} has no single value there.
    assert reports["report_sales"]["command"] == "report sales {analysis_type}"
    assert any("one job per dataset" in w and "analysis_type" in w for w in compiled.warnings)


UPSTREAM_MONITOR = """\
name: upstream_monitor
resource_monitor:
  enabled: true
  granularity: time_series
  sample_interval_seconds: 2
  metrics: [cpu, memory]
jobs:
  - name: work
    command: "true"
"""


def test_resource_monitor_ignores_unknown_keys_with_a_warning(tmp_path: Path) -> None:
    """Upstream's resource_monitor struct accepts keys it does not know.

    D17 (docs/decisions.md)."""
    compiled = compile_yaml(tmp_path, UPSTREAM_MONITOR)
    config = json.loads(compiled.payload["workflow"]["resource_monitor_config"])
    assert config["granularity"] == "time_series" and "metrics" not in config
    assert any("unknown field 'metrics' is ignored" in w for w in compiled.warnings)
    elsewhere = UPSTREAM_MONITOR.replace("    command:", "    metrics: 1\n    command:")
    with pytest.raises(SpecError, match="job 'work': unknown field 'metrics'"):
        compile_yaml(tmp_path, elsewhere)  # other sections keep refusing unknown keys


def test_a_workflow_start_schedule_nodes_action_may_list_jobs(
    server: ServerProcess, api: Api, tmp_path: Path
) -> None:
    """Upstream's specs list the jobs a schedule_nodes action allocates for, on
    on_workflow_start too: accepted and recorded, with a warning (D17, docs/decisions.md)."""
    spec = {
        "name": "start_with_jobs",
        "slurm_schedulers": [{"name": "cpu", "account": "acct"}],
        "jobs": [{"name": "prep", "command": "true"}, {"name": "work_1", "command": "true"}],
        "actions": [
            {
                "trigger_type": "on_workflow_start",
                "action_type": "schedule_nodes",
                "scheduler": "cpu",
                "scheduler_type": "slurm",
                "jobs": ["prep"],
                "job_name_regexes": ["^work_"],
            }
        ],
    }
    path = tmp_path / "start_with_jobs.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    made = torc("--url", server.url, "-f", "json", "workflows", "create", str(path))
    assert made.returncode == 0, made.stderr
    assert "its jobs are recorded, but only the on_jobs_ready and on_jobs_complete" in made.stderr
    wf = json.loads(made.stdout)["workflow_id"]
    jobs = {job["name"]: job["id"] for job in api.get("/jobs", params={"workflow_id": wf})["items"]}
    [action] = api.get(f"/workflows/{wf}/actions")
    assert action["job_ids"] == [jobs["prep"], jobs["work_1"]]
    assert action["trigger_type"] == "on_workflow_start"


def test_the_api_accepts_two_requirements_of_one_name(api: Api) -> None:
    """Upstream's schema has no unique (workflow, name) and its generated client's tests
    create two requirements of the same name; specs still refuse duplicates."""
    wf = api.workflow("same_rr_name")
    body = {"workflow_id": wf, "name": "gpu", "num_cpus": 2, "memory": "1g"}
    first = api.post("/resource_requirements", body)
    second = api.post("/resource_requirements", {**body, "num_cpus": 4})
    assert first["id"] != second["id"]
    listed = api.get("/resource_requirements", params={"workflow_id": wf})["items"]
    assert sorted((r["name"], r["num_cpus"]) for r in listed) == [
        ("default", 1),
        ("gpu", 2),
        ("gpu", 4),
    ]
    api.put(f"/resource_requirements/{first['id']}", {**first, "num_cpus": 3})
    api.post("/resource_requirements", {**body, "name": "default"}, expect=409)


def test_summary_mid_run_counts_time_so_far(
    server: ServerProcess, api: Api, tmp_path: Path
) -> None:
    """Mid-run, the summary showed "Total Execution Time: 0.0s / Walltime: 0.0s"."""
    spec = {"name": "mid_run", "jobs": [{"name": "quick", "command": "true"}]}
    spec["jobs"].append({"name": "slow", "command": "sleep 60"})
    wf = create(server, tmp_path, spec)
    assert torc("--url", server.url, "workflows", "initialize", str(wf)).returncode == 0
    runner = start_runner(server.url, wf, tmp_path)
    try:
        wait_for(lambda: api.statuses(wf) == {"quick": "completed", "slow": "running"}, 60)
        time.sleep(1.5)
        done = torc("--url", server.url, "-f", "json", "reports", "summary", str(wf))
        report = json.loads(done.stdout)
        assert report["walltime_seconds"] >= 1.5, report
        text = torc("--url", server.url, "reports", "summary", str(wf)).stdout
        assert re.search(r"Total Execution Time: [\d.]+s \(finished jobs; 1 running\)", text)
        assert re.search(r"Walltime: +(\d+m )?[\d.]+s so far", text), text
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)


def test_workflows_list_says_what_the_user_filter_hides(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A spec with `user: datauser` disappeared from `workflows list` without a word."""
    me, owner = f"me_{uuid.uuid4().hex[:8]}", f"datauser_{uuid.uuid4().hex[:8]}"
    spec = {"name": "owned", "user": owner, "jobs": [{"name": "a", "command": "true"}]}
    path = tmp_path / "owned.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {"USER": me}
    url = ("--url", server.url)
    assert torc(*url, "workflows", "create", str(path), env=env).returncode == 0
    mine = torc(*url, "-f", "json", "workflows", "list", env=env)
    assert json.loads(mine.stdout)["workflows"] == []
    note = re.search(r"Note: (\d+) workflow\(s\) of other users not shown", mine.stderr)
    assert note and int(note[1]) >= 1, mine.stderr
    assert f"only {me}'s are" in mine.stderr and "--all-users" in mine.stderr
    theirs = torc(*url, "-f", "json", "workflows", "list", "-u", owner, env=env)
    assert [w["name"] for w in json.loads(theirs.stdout)["workflows"]] == ["owned"]
    everyone = torc(*url, "workflows", "list", "--all-users", env=env)
    assert "owned" in everyone.stdout and "Note:" not in everyone.stderr


def test_dry_run_reports_every_error_in_one_pass(tmp_path: Path) -> None:
    """Schema errors no longer hide the reference errors after them; an entry that failed its
    schema check is not reported again for what follows from it."""
    from cli.spec import validate_spec

    spec = tmp_path / "many.yaml"
    spec.write_text(
        "name: many\n"
        "jobz: []\n"
        "jobs:\n"
        "  - name: a\n"
        "    command: echo\n"
        "    resource_requirements: nope\n"
        "    bogus: 1\n"
        "  - name: broken\n"
        "    command: [not, a, string]\n"
        "  - name: c\n"
        "    command: echo\n"
        "    depends_on: [zzz, broken]\n"
        "resource_requirements:\n"
        "  - name: r\n"
        "    num_cpus: two\n"
        "    memory: 1g\n"
    )
    errors = validate_spec(spec)["errors"]
    messages = [error.split(": ", 1)[1] for error in errors]
    assert messages == [
        "workflow: unknown field 'jobz'; did you mean 'jobs'?",
        "job 'a': unknown field 'bogus'",
        "job 'broken': field 'command' must be a string, got a list",
        "resource requirements 'r': field 'num_cpus' must be an integer, got string 'two'",
        "job 'a' uses unknown resource requirements 'nope'",
        "job 'c' lists unknown job 'zzz' in depends_on",
    ], errors
    kdl = tmp_path / "many.kdl"
    kdl.write_text(
        'name "many"\njob "a" {\n  command "e"\n  bogus 1\n}\njob "b" {\n  commnd "e"\n}\n'
    )
    messages = [error.split(": ", 1)[1] for error in validate_spec(kdl)["errors"]]
    assert messages == [
        "job 'a': unknown field 'bogus'",
        "job 'b': unknown field 'commnd'; did you mean 'command'?",
        "job 'b': missing required field 'command'",
    ]


def test_an_unquoted_placeholder_in_yaml_gets_a_quoting_hint(tmp_path: Path) -> None:
    """The seed writes `output_files: [model_{i}]`, which is not valid YAML."""
    text = (
        "name: sweep\n"
        "jobs:\n"
        "  - name: train_{i}\n"
        "    command: python train.py {i}\n"
        "    output_files: [model_{i}]\n"
        "    parameters:\n"
        "      i: '1:3'\n"
        "files:\n"
        "  - name: model_{i}\n"
        "    path: /models/model_{i}.pt\n"
        "    parameters:\n"
        "      i: '1:3'\n"
    )
    with pytest.raises(SpecError) as raised:
        compile_yaml(tmp_path, text)
    message = str(raised.value)
    assert ":5:" in message and "invalid YAML" in message
    assert 'a value with a {placeholder} must be quoted, as in "model_{i}"' in message
    with pytest.raises(SpecError, match=r"unquoted \{model\} is a mapping in YAML: quote it"):
        compile_yaml(tmp_path, text.replace("[model_{i}]", "{model}"))
    fixed = compile_yaml(tmp_path, text.replace("[model_{i}]", '["model_{i}"]'))
    assert len(fixed.payload["jobs"]) == 3


def test_a_server_started_to_exit_when_idle_stops_by_itself(make_server) -> None:
    """The embedded server outlives its command and stops after its idle time; requests
    keep it up meanwhile."""
    proc = make_server("--exit-when-idle", "2")
    client = Api(proc.url)
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # a request a second: never idle for 2 s
            client.get("/ping")
            time.sleep(0.5)
        assert proc.popen.poll() is None
    finally:
        client.close()
    assert proc.popen.wait(timeout=30) == 0
    assert "No request for 2.0s; stopping" in proc.log_text()


# Fair figures on a real disk ---------------------------------------------------------------


def test_log_files_are_made_ahead_and_never_truncated_by_the_maker(tmp_path: Path) -> None:
    """The runner makes claimed jobs' log files before their launch (a new file and O_TRUNC
    cost up to a millisecond each on ext4); a file that existed, or whose job started first,
    is left to the launch to truncate, so no job output is ever touched."""
    from runner.launchers.local import LogFileMaker

    maker = LogFileMaker()
    fresh = [str(tmp_path / "stdio" / f"job_{i}.{end}") for i in range(50) for end in "oe"]
    old = tmp_path / "stdio" / "old.o"
    old.parent.mkdir()
    old.write_text("an earlier start's output\n")
    maker.prepare([*fresh, str(old)])
    wait_for(lambda: all(Path(path).exists() for path in fresh), timeout=30)
    maker.close()
    assert all(maker.take(fresh[i], fresh[i + 1]) for i in range(0, len(fresh), 2))
    assert not any(Path(path).stat().st_size for path in fresh)
    assert not maker.take(str(old)) and old.read_text() == "an earlier start's output\n"

    late = LogFileMaker()
    started = str(tmp_path / "stdio" / "started.o")
    assert not late.take(started)  # its job opened (and created) it first
    Path(started).write_text("job output\n")
    late.prepare([started])
    late.close()
    assert Path(started).read_text() == "job output\n"


def test_the_local_launcher_starts_jobs_on_the_log_files_it_made_ahead(tmp_path: Path) -> None:
    """The runner hands claimed jobs' log paths to its launcher (``Launcher.prepare``); the
    local launcher's child then opens the files made ahead, and its output lands in them."""
    import os

    from runner.clock import SystemClock
    from runner.launchers import LaunchRequest
    from runner.launchers.local import LocalLauncher
    from runner.resources import Need

    launcher = LocalLauncher(SystemClock())
    stdout, stderr = str(tmp_path / "stdio" / "job_1.o"), str(tmp_path / "stdio" / "job_1.e")
    try:
        launcher.prepare([stdout, stderr])
        launcher.log_files.close(timeout=30)  # its thread has made both and ended
        assert Path(stdout).exists() and Path(stderr).exists()
        request = LaunchRequest(
            1, "job_1", "echo out; echo err >&2", None, dict(os.environ), stdout, stderr, Need()
        )
        handle = launcher.start(request)
        exit_info = handle.wait(30)
        handle.close()
    finally:
        launcher.close()
    assert exit_info is not None and exit_info.return_code == 0
    assert (Path(stdout).read_text(), Path(stderr).read_text()) == ("out\n", "err\n")
