"""Expansion streams (issue 13): a spec's jobs are made as they are read, their records are
kept as JSON text that spills to a temporary file, and the request body is copied from it."""

from __future__ import annotations

import itertools
import random
import tracemalloc
from pathlib import Path

import orjson
import pytest
import yaml

import cli.spec.records as records_module
from cli.client import TorcClient
from cli.spec import build_payload, compile_spec
from cli.spec.errors import Diagnostics
from cli.spec.expand import (
    ExpandedFiles,
    ExpandedJobs,
    ParameterizedJobs,
    expand_file,
    expand_job,
    parameter_set,
)
from cli.spec.graph import DependencyGraph, find_cycle
from cli.spec.models import FileSpec, JobSpec
from cli.spec.parameters import ParameterSet, parse_parameter
from cli.spec.records import JobRecords, Mapped, request_body
from cli.workflow_manager import create_from_spec_file
from tests.helpers import Api, ServerProcess


def _diag() -> Diagnostics:
    return Diagnostics("spec.yaml", lambda path: None, fail_fast=True)


def _jobs_of(entry: dict, index: int = 0) -> list | ParameterizedJobs:
    spec = JobSpec(**entry)
    params = parameter_set(spec, {}, "job", ("jobs", index), _diag())
    return expand_job(spec, index, params, _diag())


def test_a_huge_sweep_costs_its_templates_not_its_jobs() -> None:
    tracemalloc.start()
    try:
        jobs = _jobs_of(
            {"name": "job_{i:09d}", "command": "run {i}", "parameters": {"i": "1:10000000"}}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Before: the sweep's ten million values were rendered up front (about 700 MB).
    assert peak < 2**20
    assert len(jobs) == 10_000_000
    assert jobs[0].name == "job_000000001" and jobs[-1].name == "job_010000000"
    assert jobs[4_999_999].command == "run 5000000"


@pytest.mark.parametrize("mode", ["product", "zip"])
def test_a_job_read_by_position_is_the_one_iteration_makes(mode: str) -> None:
    params = {"a": "1:4", "b": "[x, y, z, w]", "c": "0.5:2.0:0.5"}
    entry = {
        "name": "j_{a}_{b}_{c}",
        "command": "run {a:03d} {b} {c:.2f}",
        "depends_on": ["j_1_x_0.5"],
        "parameters": params,
        "parameter_mode": mode,
    }
    jobs = _jobs_of(entry)
    made = list(jobs)
    assert [jobs[i] for i in range(len(jobs))] == made
    assert list(jobs.names()) == [job.name for job in made]
    if mode == "product":  # the first parameter varies slowest, as itertools.product does
        values = [parse_parameter(name, raw).values for name, raw in params.items()]
        expected = [f"j_{a}_{b}_{c}" for a, b, c in itertools.product(*values)]
        assert [job.name for job in made] == expected


def test_the_spec_sequence_spans_entries_of_every_kind() -> None:
    sweep = _jobs_of({"name": "s_{i}", "command": "c", "parameters": {"i": "1:5"}}, 1)
    fan_in = _jobs_of({"name": "f", "command": "c", "parameters": {"i": "1:3"}}, 2)
    single = _jobs_of({"name": "one", "command": "c"}, 0)
    jobs = ExpandedJobs([single, [], sweep, fan_in])
    assert len(jobs) == 7
    assert [job.name for job in jobs] == list(jobs.names())
    assert list(jobs.names()) == ["one", "s_1", "s_2", "s_3", "s_4", "s_5", "f"]
    assert [jobs.spec_index(i) for i in range(7)] == [0, 1, 1, 1, 1, 1, 2]
    assert jobs[-1].name == "f" and jobs[3].name == "s_3"
    with pytest.raises(IndexError):
        jobs[7]
    jobs.assign_resource_requirements({1: "big", 0: "small"})
    assert [job.resource_requirements for job in jobs] == ["small"] + ["big"] * 5 + [None]


def test_combination_at_matches_the_combinations_in_order() -> None:
    params = ParameterSet(
        tuple(parse_parameter(n, raw) for n, raw in {"a": "1:3", "b": "[p, q]", "c": "5:1"}.items())
    )
    assert [params.combination_at(i) for i in range(params.count())] == list(params.combinations())


def test_records_spill_to_a_file_and_read_back_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records_module, "_READ_BLOCK", 100)  # records cross block ends
    monkeypatch.setattr(records_module, "_WRITE_BLOCK", 50)
    expected = [
        {"name": f"job_{i}", "command": "x" * (i % 300), "depends_on": list(range(i % 7))}
        for i in range(2000)
    ]
    records = JobRecords(spool_bytes=4096)
    for record in expected:
        records.append(record)
    assert records._file._rolled  # type: ignore[attr-defined]  (on disk, not in memory)
    assert list(records) == expected
    assert records[1234] == expected[1234] and records[-1] == expected[-1]
    assert records[5:8] == expected[5:8]
    with pytest.raises(IndexError):
        records[2000]
    iterator = iter(records)  # reading by position meanwhile does not disturb an iteration
    assert next(iterator) == expected[0] and records[1999] == expected[1999]
    assert list(iterator) == expected[1:]
    payload = {"workflow": {"name": "w"}, "jobs": records, "actions": []}
    with request_body(payload, spool_bytes=4096) as body:
        assert orjson.loads(body.read()) == {**payload, "jobs": expected}
    with request_body({"jobs": records}) as body:
        assert orjson.loads(body.read()) == {"jobs": expected}


def test_mapped_records_are_made_when_read_and_keep_what_is_assigned() -> None:
    made: list[int] = []

    def convert(number: int) -> dict:
        made.append(number)
        return {"n": number}

    mapped = Mapped(range(100_000_000), convert)
    assert len(mapped) == 100_000_000 and mapped[-1] == {"n": 99_999_999} and made == [99_999_999]
    small = Mapped(range(5), convert)
    small[2] = {**small[2], "st_mtime": 1.5}
    assert list(small) == [{"n": 0}, {"n": 1}, {"n": 2, "st_mtime": 1.5}, {"n": 3}, {"n": 4}]
    with request_body({"files": small, "name": "x"}) as body:
        assert orjson.loads(body.read()) == {"files": list(small), "name": "x"}


def test_a_huge_file_sweep_is_made_as_it_is_read() -> None:
    spec = FileSpec(name="out_{i}", path="out/{i:08d}.txt", parameters={"i": "1:10000000"})
    tracemalloc.start()
    try:
        params = parameter_set(spec, {}, "file", ("files", 0), _diag())
        files = ExpandedFiles([expand_file(spec, 0, params, _diag())])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # before: ten million ExpandedFile objects (over a gigabyte)
    assert len(files) == 10_000_000
    assert files[9_999_999].name == "out_10000000" and files.path(0) == "out/00000001.txt"


def _reference_has_cycle(blockers: list[list[int]]) -> bool:
    """Kahn's algorithm: a graph has a cycle iff some job is never freed."""
    waiting = [len(set(b)) for b in blockers]
    dependents: list[set[int]] = [set() for _ in blockers]
    for job, waits in enumerate(blockers):
        for blocker in set(waits):
            dependents[blocker].add(job)
    ready = [job for job, count in enumerate(waiting) if count == 0]
    freed = 0
    while ready:
        job = ready.pop()
        freed += 1
        for dependent in dependents[job]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    return freed < len(blockers)


def test_the_graph_finds_exactly_the_cycles_explicit_and_implied() -> None:
    generator = random.Random(13)
    for _ in range(300):
        count = generator.randint(1, 12)
        records = []
        for job in range(count):
            record: dict = {"name": f"j{job}"}
            for key, limit in (("depends_on", count), ("input_files", 4), ("output_files", 4)):
                items = sorted({generator.randrange(limit) for _ in range(generator.randint(0, 2))})
                if key == "depends_on":
                    items = [item for item in items if item != job]
                if items:
                    record[key] = items
            records.append(record)
        graph = DependencyGraph()
        for record in records:
            graph.add(record)
        blockers = [list(graph[job]) for job in range(count)]
        for job, record in enumerate(records):  # the graph's own view of the implied waits
            producers = {
                writer
                for item in record.get("input_files", ())
                for writer, other in enumerate(records)
                if item in other.get("output_files", ())
            }
            assert set(blockers[job]) == set(record.get("depends_on", ())) | producers
        cycle = graph.find_cycle()
        assert (cycle is not None) == _reference_has_cycle(blockers)
        assert find_cycle(blockers) == cycle
        if cycle:  # each step of the cycle is a real wait
            assert all(before in blockers[after] for before, after in itertools.pairwise(cycle))


def test_a_forward_dependency_is_no_cycle(tmp_path: Path) -> None:
    spec = {
        "name": "forward",
        "jobs": [
            {"name": "late", "command": "true", "depends_on": ["early"]},
            {"name": "reader", "command": "true", "input_files": ["f"]},
            {"name": "early", "command": "true", "output_files": ["f"]},
        ],
        "files": [{"name": "f", "path": "f.txt"}],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    payload = build_payload(path)
    assert payload["jobs"][0]["depends_on"] == [2]
    assert payload["jobs"][1]["input_files"] == [0]


def test_a_spec_whose_records_spilled_to_disk_creates_the_same_workflow(
    api: Api, server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {
        "name": "spilled",
        "jobs": [
            {"name": "prep", "command": "echo prep > ${files.output.input_file}"},
            {
                "name": "work_{i:04d}",
                "command": "work {i} ${files.input.input_file}",
                "depends_on": ["prep"],
                "output_files": ["out_{i}"],
                "parameters": {"i": "1:3000"},
            },
            {"name": "join", "command": "join", "input_file_regexes": ["^out_"]},
        ],
        "files": [
            {"name": "input_file", "path": "in.txt"},
            {"name": "out_{i}", "path": "out/{i}.txt", "parameters": {"i": "1:3000"}},
        ],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    expected = build_payload(path)
    monkeypatch.setattr(records_module, "SPOOL_BYTES", 4096)
    compiled = compile_spec(path)
    assert compiled.payload["jobs"]._file._rolled  # type: ignore[attr-defined]
    with TorcClient(server.url) as client:
        workflow_id = create_from_spec_file(client, str(path)).workflow_id
    jobs = api.get(f"/jobs?workflow_id={workflow_id}&limit=10000")["items"]
    assert len(jobs) == len(expected["jobs"]) == 3002
    assert [job["name"] for job in jobs] == [job["name"] for job in expected["jobs"]]
    assert jobs[1]["command"] == "work 1 in.txt"
    blocked = api.get(f"/workflows/{workflow_id}/job_dependencies?limit=10000")["items"]
    waiting_for_prep = {d["job_name"] for d in blocked if d["depends_on_job_name"] == "prep"}
    assert waiting_for_prep == {f"work_{i:04d}" for i in range(1, 3001)}
