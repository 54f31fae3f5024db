"""The runner_cycle body's fast path loads exactly what the full schema loads.

The fast path may decline any body (the schema then decides, errors included); whatever it
accepts must be a body the schema accepts, loaded to the same value. Checked on thousands of
generated bodies mixing valid and invalid values of every field.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from marshmallow import Schema, ValidationError

from app.api.schemas import RunnerCycleBody, _fast_runner_cycle
from app.shared.units import MAX_INTEGER

INTS = [0, 1, 7, -3, MAX_INTEGER, MAX_INTEGER + 1, -(2**63) - 1, True, 1.0, 2.5, "4", None]
NUMBERS = [0, 0.25, 3, 1e300, -1.5, True, "1.5", None, MAX_INTEGER + 1]
STRINGS = ["2026-01-01T00:00:00Z", "", 5, None]
STATUSES = ["completed", "failed", "terminated", "pending_failed", "done", "", None, 3]


def pick(rng: random.Random, valid: Any, choices: list) -> Any:
    return valid if rng.random() < 0.8 else rng.choice(choices)


def report(rng: random.Random) -> Any:
    item: dict[str, Any] = {
        "job_id": pick(rng, rng.randint(1, 10**6), INTS),
        "status": pick(rng, rng.choice(STATUSES[:4]), STATUSES),
        "return_code": pick(rng, rng.choice([0, 1, -9, 137]), INTS),
        "exec_time_minutes": pick(rng, rng.random(), NUMBERS),
        "completion_time": pick(rng, STRINGS[0], STRINGS),
    }
    for key, valid, choices in (
        ("attempt_id", rng.randint(1, 4), [*INTS, 0]),
        ("peak_memory_bytes", rng.randint(0, 2**40), INTS),
        ("avg_memory_bytes", None, INTS),
        ("peak_cpu_percent", rng.random() * 400, NUMBERS),
        ("avg_cpu_percent", rng.randint(0, 100), NUMBERS),
    ):
        if rng.random() < 0.7:
            item[key] = pick(rng, valid, choices)
    if rng.random() < 0.05:
        item[rng.choice(["exit_code", "stdout"])] = 1
    if rng.random() < 0.05:
        del item[rng.choice(list(item))]
    return item if rng.random() < 0.98 else rng.choice([None, [], "x"])


def claim(rng: random.Random) -> Any:
    body: dict[str, Any] = {"limit": pick(rng, rng.randint(0, 600), [*INTS, 10_001])}
    if rng.random() < 0.5:
        body["sort_method"] = pick(rng, "gpus_runtime_memory", ["none", "fastest", None, 1])
    if rng.random() < 0.2:
        body["strict_scheduler_match"] = pick(rng, True, [0, "yes", None])
    if rng.random() < 0.6:
        offer: dict[str, Any] = {
            "num_cpus": pick(rng, rng.randint(0, 64), [*INTS, -1]),
            "memory_gb": pick(rng, rng.random() * 512, [*NUMBERS, -1, 2**40]),
            "num_gpus": pick(rng, 0, INTS),
            "num_nodes": pick(rng, 1, INTS),
        }
        for key, valid in (("scheduler_config_id", 3), ("time_limit", "PT1H"), ("id", 9)):
            if rng.random() < 0.3:
                offer[key] = pick(rng, valid, [None, "x", 1.5, True])
        if rng.random() < 0.05:
            del offer[rng.choice(list(offer))]
        body["resources"] = offer if rng.random() < 0.97 else rng.choice([None, 5, []])
    if rng.random() < 0.03:
        body["extra"] = 1
    return body


def cycle_body(rng: random.Random) -> Any:
    body: dict[str, Any] = {"compute_node_id": pick(rng, rng.randint(1, 99), INTS)}
    if rng.random() < 0.9:
        body["started"] = [pick(rng, rng.randint(1, 10**6), INTS) for _ in range(rng.randint(0, 4))]
    if rng.random() < 0.9:
        body["completed"] = [report(rng) for _ in range(rng.randint(0, 4))]
    if rng.random() < 0.7:
        body["claim"] = claim(rng) if rng.random() < 0.9 else None
    if rng.random() < 0.5:
        body["resync"] = pick(rng, False, [1, "no", None])
    if rng.random() < 0.1:
        body["retried"] = rng.choice([[], [{"job_id": 1, "max_retries": 2}]])
    if rng.random() < 0.1:
        body["file_mtimes"] = rng.choice([[], [{"file_id": 1, "st_mtime": 2.5}]])
    if rng.random() < 0.03:
        body["surprise"] = True
    return body


def full_load(body: Any) -> Any:
    return Schema.load(RunnerCycleBody(), body)


@pytest.mark.parametrize("seed", range(4))
def test_fast_path_loads_what_the_schema_loads(seed: int) -> None:
    rng = random.Random(seed)
    accepted = declined = 0
    for _ in range(2500):
        body = cycle_body(rng)
        fast = _fast_runner_cycle(body)
        if fast is None:
            declined += 1
            continue
        accepted += 1
        try:
            expected = full_load(body)
        except ValidationError as exc:
            pytest.fail(f"fast path accepted a body the schema rejects: {body!r}: {exc}")
        assert fast == expected, body
    # Both outcomes were exercised, and the usual bodies do take the fast path.
    assert accepted > 300 and declined > 300


def test_invalid_bodies_get_the_schemas_errors() -> None:
    schema = RunnerCycleBody()
    with pytest.raises(ValidationError) as caught:
        schema.load({"compute_node_id": 1, "completed": [{"job_id": 1}]})
    assert "status" in caught.value.messages["completed"][0]
    with pytest.raises(ValidationError):
        schema.load({"compute_node_id": True})
    loaded = schema.load({"compute_node_id": 4, "started": [1, 2], "claim": {"limit": 3}})
    assert loaded["claim"] == {
        "limit": 3,
        "resources": None,
        "sort_method": "none",
        "strict_scheduler_match": False,
    }
    assert loaded["completed"] == [] and loaded["resync"] is False
