"""Create + initialize from a spec file, end to end: ``python -m bench.create [--sizes ...]``.

For each size: write a spec (independent jobs, and 1 -> N-2 -> 1 fan-out/fan-in), then time
parse + expand (client) and send + store + initialize (one request to a running server).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from bench.server import Server
from cli.client import TorcClient
from cli.spec import compile_spec


def independent_spec(count: int) -> dict:
    return {
        "name": f"independent_{count}",
        "jobs": [{"name": "job_{i}", "command": "true", "parameters": {"i": f"1:{count}"}}],
    }


def fan_spec(count: int) -> dict:
    return {
        "name": f"fan_{count}",
        "jobs": [
            {"name": "start", "command": "true"},
            {
                "name": "work_{i}",
                "command": "true",
                "depends_on": ["start"],
                "parameters": {"i": f"1:{count - 2}"},
            },
            {"name": "end", "command": "true", "depends_on_regexes": ["^work_"]},
        ],
    }


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return psutil.Process(pid).memory_info().rss


def measure(url: str, spec: dict, workdir: Path, server_pid: int) -> dict:
    path = workdir / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    started = time.perf_counter()
    compiled = compile_spec(path)
    expanded = time.perf_counter()
    client = TorcClient(url, timeout=3600)
    created = client.create_workflow_from_spec(compiled.payload, initialize=True)
    finished = time.perf_counter()
    client.close()
    rss = peak_rss(server_pid)
    return {
        "spec": spec["name"],
        "jobs": created["job_count"],
        "expand_seconds": expanded - started,
        "create_initialize_seconds": finished - expanded,
        "total_seconds": finished - started,
        "server_peak_rss_mb": rss / 1024**2,
    }


def run(sizes: list[int], repeat: int) -> list[dict]:
    """Median of ``repeat`` measurements per (shape, size), each on a fresh server so its peak
    RSS is that creation's alone."""
    rows = []
    for size in sizes:
        for make_spec in (independent_spec, fan_spec):
            runs = []
            for _ in range(repeat):
                server = Server()
                with tempfile.TemporaryDirectory() as tmp, server as server_url:
                    runs.append(measure(server_url, make_spec(size), Path(tmp), server.pid))
            runs.sort(key=lambda row: row["total_seconds"])
            row = runs[len(runs) // 2]
            row["server_peak_rss_mb"] = max(r["server_peak_rss_mb"] for r in runs)
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| spec | jobs | expand s | create+initialize s | total s | server peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['spec']} | {r['jobs']} | {r['expand_seconds']:.2f} | "
        f"{r['create_initialize_seconds']:.2f} | {r['total_seconds']:.2f} | "
        f"{r['server_peak_rss_mb']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(table(run([int(s) for s in args.sizes.split(",")], args.repeat)))


if __name__ == "__main__":
    main()
