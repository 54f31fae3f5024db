"""Create + initialize from a spec file, end to end: ``python -m bench.create [--sizes ...]``.

For each size: write a spec (independent jobs, and 1 -> N-2 -> 1 fan-out/fan-in), then time
parse + expand (client) and send + store + initialize (one request to a running server), and
the peak memory of the client and of the server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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
    """One creation; the client (compile + send) runs in a child process of its own, so its
    peak memory is that creation's alone."""
    path = workdir / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.create", "--client", url, str(path)],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the client failed on {path} (exit {child.returncode})")
    row = json.loads(output)
    return {
        "spec": spec["name"],
        **row,
        "client_peak_rss_mb": usage.ru_maxrss / 1024,
        "server_peak_rss_mb": peak_rss(server_pid) / 1024**2,
    }


def create_as_client(url: str, path: str) -> dict:
    """What ``torc workflows create --initialize`` does, timed by stage."""
    started = time.perf_counter()
    compiled = compile_spec(path)
    expanded = time.perf_counter()
    with TorcClient(url, timeout=3600) as client, compiled.request_body() as body:
        created = client.create_workflow_from_spec(body, initialize=True)
    finished = time.perf_counter()
    return {
        "jobs": created["job_count"],
        "expand_seconds": expanded - started,
        "create_initialize_seconds": finished - expanded,
        "total_seconds": finished - started,
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
            for key in ("client_peak_rss_mb", "server_peak_rss_mb"):
                row[key] = max(r[key] for r in runs)
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| spec | jobs | expand s | create+initialize s | total s | client peak RSS MB "
        "| server peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['spec']} | {r['jobs']} | {r['expand_seconds']:.2f} | "
        f"{r['create_initialize_seconds']:.2f} | {r['total_seconds']:.2f} | "
        f"{r['client_peak_rss_mb']:.0f} | {r['server_peak_rss_mb']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--client", nargs=2, metavar=("URL", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(create_as_client(*args.client)))
        return
    print(table(run([int(s) for s in args.sizes.split(",")], args.repeat)))


if __name__ == "__main__":
    main()
