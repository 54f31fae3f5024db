"""Many claimers at once: every job handed out exactly once, no error reaches a client."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.helpers import Api

JOBS = 2000
CLAIMERS = 16


def claim_until_empty(args: tuple[str, int, int, bool]) -> tuple[list[int], list[str]]:
    """One claimer process: claim small batches until nothing is left."""
    base_url, workflow_id, index, by_resources = args
    session = requests.Session()
    claimed: list[int] = []
    errors: list[str] = []
    empty_rounds = 0
    while empty_rounds < 3:
        if by_resources:
            response = session.post(
                f"{base_url}/workflows/{workflow_id}/claim_jobs_based_on_resources/7",
                json={"num_cpus": 7, "memory_gb": 4, "num_gpus": 0, "num_nodes": 1},
                timeout=60,
            )
        else:
            response = session.post(
                f"{base_url}/workflows/{workflow_id}/claim_next_jobs",
                params={"limit": 5 + index % 4},
                timeout=60,
            )
        if response.status_code != 200:
            errors.append(f"{response.status_code} {response.text[:200]}")
            continue
        jobs = response.json()["jobs"]
        empty_rounds = 0 if jobs else empty_rounds + 1
        claimed.extend(job["id"] for job in jobs)
    return claimed, errors


def test_concurrent_claimers_get_disjoint_jobs(api: Api) -> None:
    wf = api.workflow("concurrency")
    jobs = [{"workflow_id": wf, "name": f"job{i}", "command": "true"} for i in range(JOBS)]
    created = api.post("/bulk_jobs", {"jobs": jobs})["jobs"]
    api.initialize(wf)
    context = multiprocessing.get_context("spawn")
    with context.Pool(CLAIMERS) as pool:
        outcomes = pool.map(
            claim_until_empty, [(api.base_url, wf, i, i % 2 == 1) for i in range(CLAIMERS)]
        )
    claimed = [job_id for ids, _ in outcomes for job_id in ids]
    errors = [error for _, errs in outcomes for error in errs]
    assert errors == []
    assert len(claimed) == JOBS
    assert sorted(claimed) == sorted(job["id"] for job in created)
    statuses = api.get("/jobs", params={"workflow_id": wf, "status": "pending"})
    assert statuses["total_count"] == JOBS


def test_concurrent_completions_release_a_fan_in_exactly_once(api: Api) -> None:
    wf = api.workflow("fan-in")
    leaves = [api.job(wf, f"leaf{i}") for i in range(40)]
    api.job(wf, "join", depends_on_job_ids=leaves)
    api.initialize(wf)
    api.claim(wf, 100)
    node = api.compute_node(wf)

    def finish(job_id: int) -> int:
        client = Api(api.base_url)
        try:
            client.finish(job_id, node=node)
            return job_id
        finally:
            client.close()

    with ThreadPoolExecutor(16) as pool:
        assert sorted(pool.map(finish, leaves)) == leaves
    assert api.statuses(wf)["join"] == "ready"
    events = api.get("/events", params={"workflow_id": wf})["items"]
    released = [e for e in events if e["data"]["type"] == "jobs_ready"]
    assert len(released) == 1 and released[0]["data"]["count"] == 1
