"""Claim + start + complete throughput with concurrent runners: ``python -m bench.claims``.

Workload C. Each simulated runner is its own process with its own HTTP session and does what
the real job runner does with no-op jobs: one ``runner_cycle`` round trip per turn that reports
the jobs it finished, marks the jobs it took as started and claims the next batch (queue
depth). The figure is job lifecycles per second: jobs / wall time from the moment every
runner is ready until the workflow is complete.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from typing import Any

from bench.server import Server
from cli.client import TorcClient

BATCH = 200  # jobs claimed per round trip by one runner


def create_workflow(client: TorcClient, jobs: int) -> tuple[int, int]:
    payload = {
        "workflow": {"name": f"claims_{jobs}", "user": "bench"},
        "jobs": [{"name": f"job_{i}", "command": "true"} for i in range(jobs)],
    }
    workflow_id = client.create_workflow_from_spec(payload, initialize=True)["workflow_id"]
    return workflow_id, client.workflow_status(workflow_id)["run_id"]


def register(client: TorcClient, workflow_id: int, index: int) -> int:
    node = client.create_compute_node(
        {
            "workflow_id": workflow_id,
            "hostname": f"bench-runner-{index}",
            "pid": index,
            "start_time": "2026-01-01T00:00:00.000Z",
            "num_cpus": 1,
            "memory_gb": 1.0,
            "num_gpus": 0,
            "num_nodes": 1,
            "is_active": True,
            "compute_node_type": "local",
        },
    )
    return node["id"]


def report(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "job_id": job["id"],
        "status": "completed",
        "return_code": 0,
        "exec_time_minutes": 0.0,
        "completion_time": "2026-01-01T00:00:00.000Z",
        "attempt_id": job.get("attempt_id") or 1,
    }


def runner(url: str, workflow_id: int, run_id: int, index: int, barrier, counts) -> None:
    client = TorcClient(url, timeout=600)
    node = register(client, workflow_id, index)
    barrier.wait()
    held: list[dict] = []
    done = 0
    while True:
        answer = client.runner_cycle(
            workflow_id,
            run_id,
            {
                "compute_node_id": node,
                "started": [job["id"] for job in held],
                "completed": [report(job) for job in held],
                "claim": {"limit": BATCH},
            },
        )
        done += len(held)
        held = answer["jobs"]
        if not held:
            break
    counts[index] = done
    client.close()


def contract_runner(url: str, workflow_id: int, run_id: int, index: int, barrier, counts) -> None:
    """The same work through the upstream per-job endpoints (one request per transition)."""
    client = TorcClient(url, timeout=600)
    node = register(client, workflow_id, index)
    barrier.wait()
    done = 0
    while True:
        claimed = client.claim_next_jobs(workflow_id, limit=BATCH)
        if not claimed:
            break
        for job in claimed:
            client.start_job(job["id"], run_id, node)
            body = {**report(job), "workflow_id": workflow_id, "run_id": run_id}
            body["compute_node_id"] = node
            client.complete_job(job["id"], "completed", run_id, body)
            done += 1
    counts[index] = done
    client.close()


def measure(url: str, runners: int, jobs: int, contract: bool = False) -> dict[str, Any]:
    client = TorcClient(url, timeout=600)
    workflow_id, run_id = create_workflow(client, jobs)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(runners + 1)
    counts = context.Array("i", runners)
    target = contract_runner if contract else runner
    workers = [
        context.Process(target=target, args=(url, workflow_id, run_id, i, barrier, counts))
        for i in range(runners)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    complete = client.is_complete(workflow_id)["is_complete"]
    client.close()
    if sum(counts) != jobs or not complete:
        raise RuntimeError(f"{sum(counts)} of {jobs} jobs completed (complete={complete})")
    return {
        "path": "per-job endpoints" if contract else "runner_cycle",
        "runners": runners,
        "jobs": jobs,
        "seconds": seconds,
        "lifecycles_per_second": jobs / seconds,
        "per_runner": list(counts),
    }


def run(runner_counts: list[int], jobs: int, repeat: int, contract: bool = False) -> list[dict]:
    """Median of ``repeat`` runs for each runner count (and path, with ``contract``)."""
    rows = []
    with Server() as url:
        for per_job in (False, True) if contract else (False,):
            for count in runner_counts:
                runs = sorted(
                    (measure(url, count, jobs, per_job) for _ in range(repeat)),
                    key=lambda row: row["seconds"],
                )
                print(json.dumps(runs[len(runs) // 2]), file=sys.stderr)
                rows.append(runs[len(runs) // 2])
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| path | runners | jobs | seconds | lifecycles/s |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['path']} | {r['runners']} | {r['jobs']} | {r['seconds']:.2f} | "
        f"{r['lifecycles_per_second']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runners", default="1,4,8,16")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--contract",
        action="store_true",
        help="also measure the upstream per-job endpoints (claim, start_job, complete_job)",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.runners.split(",")]
    print(table(run(counts, args.jobs, args.repeat, args.contract)))


if __name__ == "__main__":
    main()
