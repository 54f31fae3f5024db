"""The runnable failure-handler examples in fixtures/examples, end to end through ``torc run``.

Each example is copied to a temporary directory and run from there, as its comments say
(``cd fixtures && torc run examples/yaml/<name>.yaml``). The checks read what the run left
behind: every attempt's result, its own ``.o`` and ``.e`` log, the per-attempt recovery log
with the recovery script's full environment, the demo's ``$TORC_OUTPUT_DIR/recovery.log``,
and the final job statuses — against the rules in the spec (``max_retries: N`` allows N
retries, attempts 1 to N+1: D5 in docs/decisions.md).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.helpers import Api, ServerProcess, start_server, torc

EXAMPLES = REPO / "fixtures" / "examples"
SCRIPT_ENV = (
    "TORC_WORKFLOW_ID",
    "TORC_JOB_ID",
    "TORC_JOB_NAME",
    "TORC_API_URL",
    "TORC_OUTPUT_DIR",
    "TORC_ATTEMPT_ID",
    "TORC_RETURN_CODE",
)


@dataclass
class Run:
    workflow_id: int
    output: Path
    returncode: int
    jobs: dict[str, dict]  # name -> job record
    attempts: dict[str, list[tuple[int, int]]]  # name -> [(attempt_id, return_code), ...]
    url: str | None = None  # the embedded server's, when torc run started one

    def log(self, name: str, attempt: int, suffix: str) -> Path:
        job_id = self.jobs[name]["id"]
        return (
            self.output / "job_stdio" / f"job_wf{self.workflow_id}_j{job_id}_r1_a{attempt}.{suffix}"
        )

    def status(self, name: str) -> str:
        return self.jobs[name]["status"]


def run_example(
    url: str | None, name: str, directory: Path, env: dict[str, str] | None = None
) -> Run:
    shutil.copytree(EXAMPLES, directory / "examples")
    args = ["run", f"examples/yaml/{name}.yaml", "-o", "output", "-p", "0.2"]
    if url is not None:
        args = ["--url", url, *args]
    done = torc(*args, cwd=directory, env=env, timeout=180)
    match = re.search(r"Created workflow (\d+)", done.stderr)
    assert match, done.stdout + done.stderr
    workflow_id = int(match[1])
    if url is not None:
        api = Api(url)
        try:
            return _collect(api, workflow_id, directory / "output", done.returncode)
        finally:
            api.close()
    # The embedded server stopped with the run: read its database with a server of our own.
    embedded = re.search(r"embedded torc server at (\S+)", done.stderr)
    assert embedded, done.stderr
    reader = start_server(directory / "reader", database=directory / "torc.db")
    api = Api(reader.url)
    try:
        run = _collect(api, workflow_id, directory / "output", done.returncode)
    finally:
        api.close()
        reader.stop()
    run.url = embedded[1]
    return run


def _collect(api: Api, workflow_id: int, output: Path, returncode: int) -> Run:
    jobs = {
        job["name"]: job for job in api.get("/jobs", params={"workflow_id": workflow_id})["items"]
    }
    names = {job["id"]: name for name, job in jobs.items()}
    results = api.get("/results", params={"workflow_id": workflow_id, "all_runs": "true"})["items"]
    attempts: dict[str, list[tuple[int, int]]] = {name: [] for name in jobs}
    for result in sorted(results, key=lambda r: (r["job_id"], r["attempt_id"])):
        attempts[names[result["job_id"]]].append((result["attempt_id"], result["return_code"]))
    return Run(workflow_id, output.resolve(), returncode, jobs, attempts)


def script_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs if key in SCRIPT_ENV}


def check_attempt_logs(run: Run, name: str) -> None:
    for attempt, code in run.attempts[name]:
        stdout, stderr = run.log(name, attempt, "o"), run.log(name, attempt, "e")
        assert stdout.is_file() and stderr.is_file(), (name, attempt)
        if code != 0:
            assert f"attempt {attempt}" in stdout.read_text() and f"exit code {code}" in (
                stderr.read_text()
            ), (name, attempt)


def check_recovery_env(run: Run, name: str, attempt: int, code: int, url: str | None) -> None:
    env = script_env(run.log(name, attempt, "recovery.log"))
    expected = {
        "TORC_WORKFLOW_ID": str(run.workflow_id),
        "TORC_JOB_ID": str(run.jobs[name]["id"]),
        "TORC_JOB_NAME": name,
        "TORC_OUTPUT_DIR": str(run.output),
        "TORC_ATTEMPT_ID": str(attempt),  # the attempt that failed
        "TORC_RETURN_CODE": str(code),
    }
    assert set(env) == set(SCRIPT_ENV), env
    assert {key: env[key] for key in expected} == expected
    assert env["TORC_API_URL"] == (url or run.url)


def rules_of(name: str) -> dict[int, tuple[int, bool]]:
    """exit code -> (max_retries, has a recovery script), from the example's spec."""
    spec = yaml.safe_load((EXAMPLES / "yaml" / f"{name}.yaml").read_text())
    [handler] = spec["failure_handlers"]
    return {
        code: (rule.get("max_retries", 3), bool(rule.get("recovery_script")))
        for rule in handler["rules"]
        for code in rule.get("exit_codes", ())
    }


def check_random_run(run: Run, rules: dict[int, tuple[int, bool]], url: str | None) -> set:
    """Every attempt followed the rules; returns the recoveries that ran (name, attempt, code).

    A failure whose code has a rule with retries left is retried (after the recovery script,
    if the rule has one); any other failure is final; success is final.
    """
    recovered = set()
    for name, attempts in run.attempts.items():
        if name == "aggregate_results":
            continue
        assert attempts, name
        assert [a for a, _ in attempts] == list(range(1, len(attempts) + 1)), (name, attempts)
        for index, (attempt, code) in enumerate(attempts):
            last = index == len(attempts) - 1
            max_retries, has_script = rules.get(code, (0, False))
            retried = code != 0 and code in rules and attempt <= max_retries
            assert retried == (not last), (name, attempts)
            recovery_log = run.log(name, attempt, "recovery.log")
            assert recovery_log.exists() == (retried and has_script), (name, attempt)
            if retried and has_script:
                check_recovery_env(run, name, attempt, code, url)
                recovered.add((name, attempt, code))
        final = attempts[-1][1]
        assert run.status(name) == ("completed" if final == 0 else "failed"), (name, attempts)
        check_attempt_logs(run, name)
    return recovered


def recovery_log_lines(run: Run) -> set[tuple[str, int, int]]:
    path = run.output / "recovery.log"
    if not path.exists():
        return set()
    entries = set()
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\S+ (\S+) attempt=(\d+) exit=(\d+)", line)
        assert match, line
        entries.add((match[1], int(match[2]), int(match[3])))
    return entries


# the runnable demos (random failures, repeatable with TORC_DEMO_SEED) ------------------------


def test_failure_handler_demo_with_the_embedded_server(tmp_path: Path) -> None:
    """``torc run`` with no server configured: it starts its own, as a user would."""
    env = {"TORC_DEMO_SEED": "7"}
    run = run_example(None, "failure_handler_demo", tmp_path, env)
    assert len(run.jobs) == 5
    recovered = check_random_run(run, rules_of("failure_handler_demo"), None)
    assert recovered == recovery_log_lines(run)
    assert recovered, "seed 7 makes at least one job need the recovery script"
    assert run.returncode == (
        0 if all(j["status"] == "completed" for j in run.jobs.values()) else 1
    )


def test_failure_handler_simulation(server: ServerProcess, tmp_path: Path) -> None:
    run = run_example(server.url, "failure_handler_simulation", tmp_path, {"TORC_DEMO_SEED": "1"})
    assert len(run.jobs) == 10
    rules = rules_of("failure_handler_simulation")
    recovered = check_random_run(run, rules, server.url)
    assert recovered == recovery_log_lines(run)
    codes = {code for attempts in run.attempts.values() for _, code in attempts}
    # seed 1 gives every kind of outcome: success, no rule (1), recoveries (10, 11), plain
    # retries (12), and retries used up
    assert {0, 1, 10, 11, 12} <= codes, codes
    assert any(attempts[-1][1] in rules for attempts in run.attempts.values() if attempts)
    simulations = [job for name, job in run.jobs.items() if name.startswith("simulate_")]
    if all(job["status"] == "completed" for job in simulations):
        assert run.status("aggregate_results") == "completed"
    else:
        assert run.status("aggregate_results") == "canceled"
        assert run.attempts["aggregate_results"] == []
        assert run.returncode == 1


# the tutorial's examples (deterministic) --------------------------------------------------------


def test_exit_code_rules(server: ServerProcess, tmp_path: Path) -> None:
    run = run_example(server.url, "failure_handler_exit_codes", tmp_path)
    assert run.attempts == {
        "converges_on_third_try": [(1, 10), (2, 10), (3, 0)],
        "transient_once": [(1, 12), (2, 0)],
        "always_out_of_resources": [(1, 11), (2, 11), (3, 11)],  # 2 retries, then failed
        "has_a_bug": [(1, 1)],  # exit 1 has no rule
    }
    assert {name: run.status(name) for name in run.jobs} == {
        "converges_on_third_try": "completed",
        "transient_once": "completed",
        "always_out_of_resources": "failed",
        "has_a_bug": "failed",
    }
    for attempt in (1, 2):
        check_recovery_env(run, "converges_on_third_try", attempt, 10, server.url)
    assert not run.log("converges_on_third_try", 3, "recovery.log").exists()
    assert not any(run.log("transient_once", a, "recovery.log").exists() for a in (1, 2))
    for name in run.jobs:
        check_attempt_logs(run, name)
    assert recovery_log_lines(run) == {
        ("converges_on_third_try", 1, 10),
        ("converges_on_third_try", 2, 10),
    }
    assert run.returncode == 1


def test_catch_all_and_priority(server: ServerProcess, tmp_path: Path) -> None:
    run = run_example(server.url, "failure_handler_catch_all", tmp_path)
    assert run.attempts == {
        "flaky": [(1, 7), (2, 0)],  # the catch-all retries any code
        "known_error": [(1, 10), (2, 10), (3, 10), (4, 0)],  # its own rule: 3 retries
        "hopeless": [(1, 5), (2, 5), (3, 5)],  # catch-all: 2 retries
    }
    assert run.status("known_error") == "completed" and run.status("hopeless") == "failed"
    for attempt in (1, 2, 3):
        check_recovery_env(run, "known_error", attempt, 10, server.url)
    assert not run.log("flaky", 1, "recovery.log").exists()
    for name in run.jobs:
        check_attempt_logs(run, name)


def test_recovery_script_fixes_the_cause(server: ServerProcess, tmp_path: Path) -> None:
    run = run_example(server.url, "failure_handler_fix_the_cause", tmp_path)
    assert run.returncode == 0
    assert run.attempts == {"process": [(1, 10), (2, 0)], "report": [(1, 0)]}
    assert run.status("process") == run.status("report") == "completed"
    assert "input missing" in run.log("process", 1, "e").read_text()
    assert run.log("process", 2, "o").read_text() == "prepared by the recovery script\n"
    recovery = run.log("process", 1, "recovery.log").read_text()
    assert "attempt 1 of process exited 10: creating the input" in recovery


def test_max_retries_exhausted(server: ServerProcess, tmp_path: Path) -> None:
    run = run_example(server.url, "failure_handler_retries_exhausted", tmp_path)
    assert run.returncode == 1
    assert run.attempts == {"stubborn": [(1, 10), (2, 10), (3, 10)], "downstream": []}
    assert run.status("stubborn") == "failed" and run.status("downstream") == "canceled"
    assert run.jobs["stubborn"]["attempt_id"] == 3
    check_attempt_logs(run, "stubborn")
    assert not run.log("stubborn", 4, "o").exists()


@pytest.mark.parametrize("name", sorted(p.stem for p in (EXAMPLES / "yaml").glob("*.yaml")))
def test_every_example_is_a_valid_spec(name: str) -> None:
    result = torc("workflows", "create", str(EXAMPLES / "yaml" / f"{name}.yaml"), "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
