"""Deleting a big workflow while others use the server: ``python -m bench.delete``.

For each size, create a fan-shaped workflow (1 -> N-2 -> 1, so about 2N dependency rows),
initialize it, then delete it while a second client keeps calling ``GET /ping`` and
``POST /workflows`` (a small write). Reports how long the delete took and the slowest answer
the other client got meanwhile: a delete that holds the server blocks every other request
for its whole duration.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench.create import fan_spec
from bench.server import Server
from cli.client import TorcClient
from cli.spec import compile_spec


def create(url: str, size: int, workdir: Path) -> int:
    path = workdir / "fan.yaml"
    path.write_text(yaml.safe_dump(fan_spec(size)))
    client = TorcClient(url, timeout=3600)
    try:
        payload = compile_spec(path).payload
        return client.create_workflow_from_spec(payload, initialize=True)["workflow_id"]
    finally:
        client.close()


def measure_delete(url: str, database: Path, workflow_id: int) -> dict:
    """Delete in one thread; ping and write from this one until no row of it is left."""
    answered = threading.Event()
    timing: dict[str, float] = {}
    started = time.perf_counter()

    def delete() -> None:
        client = TorcClient(url, timeout=3600)
        client.delete_workflow(workflow_id)
        timing["delete_seconds"] = time.perf_counter() - started
        client.close()
        answered.set()

    other = TorcClient(url, timeout=3600)
    pings: list[float] = []
    writes: list[float] = []
    worker = threading.Thread(target=delete)
    worker.start()
    next_count = time.perf_counter() + 0.5
    while not answered.is_set() or _rows_left(database, workflow_id):
        sent = time.perf_counter()
        other.ping()
        pings.append(time.perf_counter() - sent)
        if len(pings) % 5 == 0:
            sent = time.perf_counter()
            other.create_workflow({"name": "small", "user": "bench"})
            writes.append(time.perf_counter() - sent)
        while time.perf_counter() < next_count and not answered.is_set():
            time.sleep(0.02)
            break
        next_count = max(next_count, time.perf_counter() + 0.5)
    timing["all_rows_gone_seconds"] = time.perf_counter() - started
    worker.join()
    other.close()
    pings.sort()
    return {
        **timing,
        "pings": len(pings),
        "ping_median_ms": 1000 * pings[len(pings) // 2] if pings else 0.0,
        "ping_max_ms": 1000 * max(pings, default=0.0),
        "write_max_ms": 1000 * max(writes, default=0.0),
    }


def _rows_left(database: Path, workflow_id: int) -> bool:
    """Whether any job row of the workflow is still in the file (read directly, read-only)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60) as db:
        row = db.execute("SELECT 1 FROM job WHERE workflow_id = ? LIMIT 1", [workflow_id])
        return row.fetchone() is not None


def run(sizes: list[int], threads: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        for thread_count in threads:
            server = Server(threads=thread_count)
            with tempfile.TemporaryDirectory() as tmp, server as url:
                workflow_id = create(url, size, Path(tmp))
                measured = measure_delete(url, server.dir / "torc.db", workflow_id)
                row = {"jobs": size, "threads": thread_count, **measured}
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| jobs | server threads | delete answered s | all rows gone s | ping median ms "
        "| ping max ms | small write max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['jobs']:,} | {r['threads']} | {r['delete_seconds']:.2f} | "
        f"{r['all_rows_gone_seconds']:.2f} | "
        f"{r['ping_median_ms']:.1f} | {r['ping_max_ms']:.1f} | {r['write_max_ms']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--threads", default="1,4")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    print(table(run(sizes, threads)))


if __name__ == "__main__":
    main()
