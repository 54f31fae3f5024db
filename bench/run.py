"""Run the benchmarks: ``python -m bench.run [--repeat 3] [--jobs 1000] [--out DIR]``.

Every figure is the median of ``--repeat`` runs, each in fresh processes. torc is measured
end to end through ``torc run``: against an already running server (as a deployed server
is), and cold, where ``torc run`` starts its embedded server itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.workloads import WORKLOADS, Workload

REPO = Path(__file__).resolve().parent.parent
PEERS = {
    "floor": ("bench.peers.floor", None),
    "parsl": ("bench.peers.parsl_peer", "parsl"),
    "dask": ("bench.peers.dask_peer", "distributed"),
    "snakemake": ("bench.peers.snakemake_peer", "snakemake"),
    "luigi": ("bench.peers.luigi_peer", "luigi"),
}


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    return {**clean, "PYTHONPATH": str(REPO)}


def run_peer(module: str, workload: Workload, workdir: Path) -> float:
    path = workdir / "workload.json"
    path.write_text(json.dumps({"jobs": workload.jobs, "slots": workload.slots}))
    done = subprocess.run(
        [sys.executable, "-m", module, str(path)],
        cwd=workdir,
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def run_torc(workload: Workload, workdir: Path, server_url: str | None) -> float:
    spec = workdir / "workflow.json"
    spec.write_text(json.dumps(workload.spec()))
    command = [sys.executable, "-m", "cli.main"]
    if server_url:
        command += ["--url", server_url]
    command += [
        "run",
        str(spec),
        "--max-parallel-jobs",
        str(workload.slots),
        "--output-dir",
        str(workdir / "output"),
        "--database",
        str(workdir / "torc.db"),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"torc run failed: {done.stderr[-2000:]}")
    return elapsed


class Server:
    """A torc-server for the warm measurements."""

    last_pid: int | None = None

    def __enter__(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="torc-bench-server-"))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.server",
                "run",
                "--url",
                "127.0.0.1",
                "--port",
                "0",
                "--database",
                str(self.dir / "torc.db"),
                "--threads",
                "4",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env(),
        )
        port = int(self.proc.stdout.readline().strip().split("=")[1])
        Server.last_pid = self.proc.pid
        time.sleep(0.5)
        return f"http://127.0.0.1:{port}/torc-service/v1"

    def __exit__(self, *_exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def measure(name: str, workload: Workload, repeat: int, server_url: str | None) -> dict:
    seconds = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            workdir = Path(tmp)
            if name == "torc":
                seconds.append(run_torc(workload, workdir, server_url))
            elif name == "torc (cold)":
                seconds.append(run_torc(workload, workdir, None))
            else:
                seconds.append(run_peer(PEERS[name][0], workload, workdir))
    median = statistics.median(seconds)
    return {
        "system": name,
        "workload": workload.name,
        "jobs": len(workload.jobs),
        "seconds": seconds,
        "median_seconds": median,
        "jobs_per_second": len(workload.jobs) / median,
    }


def available(name: str) -> bool:
    package = PEERS.get(name, (None, None))[1]
    return package is None or importlib.util.find_spec(package) is not None


def report(rows: list[dict]) -> str:
    lines = [
        "| workload | system | jobs/s | median s | vs floor | vs best peer |",
        "|---|---|---|---|---|---|",
    ]
    for workload in dict.fromkeys(row["workload"] for row in rows):
        mine = [row for row in rows if row["workload"] == workload]
        floor = next(r["jobs_per_second"] for r in mine if r["system"] == "floor")
        peers = [
            r["jobs_per_second"] for r in mine if not r["system"].startswith(("torc", "floor"))
        ]
        best = max(peers) if peers else None
        for row in mine:
            rate = row["jobs_per_second"]
            versus_best = f"{rate / best:.2f}" if best and row["system"].startswith("torc") else ""
            lines.append(
                f"| {workload} | {row['system']} | {rate:.0f} | "
                f"{row['median_seconds']:.2f} | {rate / floor:.2f} | {versus_best} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1000, help="W1 size (W2 is 100 x 10)")
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--systems", default="floor,torc,torc (cold),parsl,dask,snakemake,luigi")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    workloads = {"W1": lambda: WORKLOADS["W1"](args.jobs), "W2": WORKLOADS["W2"]}
    systems = [s for s in args.systems.split(",") if s.startswith("torc") or available(s)]
    rows = []
    with Server() as url:
        for key in args.workloads.split(","):
            workload = workloads[key]()
            for system in systems:
                row = measure(system, workload, args.repeat, url)
                print(f"{key} {system}: {row['jobs_per_second']:.0f} jobs/s", file=sys.stderr)
                rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    table = report(rows)
    (args.out / "results.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
