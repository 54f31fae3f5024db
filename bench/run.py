"""Run the benchmarks: ``python -m bench.run [--repeat 3] [--jobs 1000] [--out DIR]``.

Every figure is the median of ``--repeat`` runs, each in fresh processes. torc is measured
end to end through ``torc run``: against an already running server (as a deployed server
is), and cold, where ``torc run`` starts its embedded server itself. W1 and W2 run once per
``--workdir`` (by default tmpfs, then the disk): every system writes two new log files per
job there, and a new file costs far more on some disks than the job itself.
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

from bench import claims as claims_bench
from bench import create as create_bench
from bench.server import Server, env
from bench.workloads import WORKLOADS, Workload, stages

REPO = Path(__file__).resolve().parent.parent
PEERS = {
    "floor": ("bench.peers.floor", None),
    "floor (log files)": ("bench.peers.floor_files", None),
    "parsl": ("bench.peers.parsl_peer", "parsl"),
    "dask": ("bench.peers.dask_peer", "distributed"),
    "snakemake": ("bench.peers.snakemake_peer", "snakemake"),
    "luigi": ("bench.peers.luigi_peer", "luigi"),
}


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
    # Cold means the whole life of the embedded server, its stop included: it must not stay
    # for the next commands (and run beside the next measurements).
    cold = {} if server_url else {"TORC_CLIENT__EMBEDDED_IDLE_SECONDS": "0"}
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=workdir, env={**env(), **cold}, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"torc run failed: {done.stderr[-2000:]}")
    return elapsed


def measure(name: str, workload: Workload, repeat: int, server_url: str | None, base: Path) -> dict:
    seconds = []
    for _ in range(repeat):
        prefix = f"bench-{name.replace(' ', '_').replace('(', '').replace(')', '')}-"
        with tempfile.TemporaryDirectory(prefix=prefix, dir=base) as tmp:
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
        "workdir": str(base),
        "filesystem": filesystem_of(base),
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
        "| workload | system | jobs/s | median s | vs floor | vs floor (log files) "
        "| vs best peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in dict.fromkeys(row["workload"] for row in rows):
        mine = [row for row in rows if row["workload"] == workload]
        rates = {row["system"]: row["jobs_per_second"] for row in mine}
        floor = rates["floor"]
        with_files = rates.get("floor (log files)")
        peers = [rate for name, rate in rates.items() if not name.startswith(("torc", "floor"))]
        best = max(peers) if peers else None
        for row in mine:
            rate = row["jobs_per_second"]
            ours = row["system"].startswith("torc")
            versus_files = f"{rate / with_files:.2f}" if with_files and ours else ""
            versus_best = f"{rate / best:.2f}" if best and ours else ""
            lines.append(
                f"| {workload} | {row['system']} | {rate:.0f} | {row['median_seconds']:.2f} | "
                f"{rate / floor:.2f} | {versus_files} | {versus_best} |"
            )
    return "\n".join(lines)


def default_workdirs() -> str:
    """tmpfs (when there is one), then the disk under the temporary directory."""
    shm = Path("/dev/shm")
    tmpfs = [str(shm)] if shm.is_dir() and os.access(shm, os.W_OK) else []
    return ",".join([*tmpfs, tempfile.gettempdir()])


def filesystem_of(path: Path) -> str:
    """The type of the file system ``path`` is on (from /proc/mounts), or "unknown"."""
    target = str(Path(path).resolve())
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workloads", default="W1,W2,W3,C")
    parser.add_argument("--jobs", type=int, default=1000, help="W1 size")
    parser.add_argument("--w2-shape", default="100x10", help="W2 stages x jobs per stage")
    parser.add_argument(
        "--systems",
        default="floor,floor (log files),torc,torc (cold),parsl,dask,snakemake,luigi",
    )
    parser.add_argument("--w3-sizes", default="10000,100000,1000000")
    parser.add_argument("--c-runners", default="1,4,8,16")
    parser.add_argument("--c-jobs", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument(
        "--workdir",
        default=default_workdirs(),
        help="Where each W1/W2 run's directory (every system's job log files included) is "
        "made; several, comma-separated, give a table each. Default: /dev/shm (tmpfs, the "
        "orchestrators alone) and the temporary directory (the disk, with its cost per new "
        "file)",
    )
    return parser.parse_args()


def run_w1_w2(args: argparse.Namespace, keys: list[str]) -> list[dict]:
    stage_count, width = (int(n) for n in args.w2_shape.split("x"))
    workloads = {"W1": lambda: WORKLOADS["W1"](args.jobs), "W2": lambda: stages(stage_count, width)}
    systems = [s for s in args.systems.split(",") if s.startswith("torc") or available(s)]
    rows = []
    with Server() as url:
        for base in (Path(part) for part in args.workdir.split(",")):
            for key in keys:
                workload = workloads[key]()
                for system in systems:
                    row = measure(system, workload, args.repeat, url, base)
                    print(
                        f"{base} {key} {system}: {row['jobs_per_second']:.0f} jobs/s",
                        file=sys.stderr,
                    )
                    rows.append(row)
    return rows


def compile_project() -> None:
    """Byte-compile torc's packages, as ``pip install`` does for an installed package: an
    editable install under ``PYTHONDONTWRITEBYTECODE`` (set on some machines, this one among
    them) would otherwise compile every module on every ``torc`` start, about 60 ms."""
    import compileall

    for package in ("app", "cli", "runner"):
        compileall.compile_dir(REPO / package, quiet=1)


def main() -> None:
    args = parse_args()
    keys = args.workloads.split(",")
    compile_project()
    results: dict = {
        "machine": machine_facts(),
        "command": " ".join(sys.argv),
        "workdirs": args.workdir.split(","),
        "load_average": os.getloadavg(),
    }
    tables = []
    if flows := [key for key in keys if key in ("W1", "W2")]:
        results["rows"] = run_w1_w2(args, flows)
        for workdir in dict.fromkeys(row["workdir"] for row in results["rows"]):
            rows = [row for row in results["rows"] if row["workdir"] == workdir]
            title = f"### W1, W2: jobs/s through `torc run`, in {workdir} ({rows[0]['filesystem']})"
            tables.append(f"{title}\n\n{report(rows)}")
    if "W3" in keys:
        sizes = [int(size) for size in args.w3_sizes.split(",")]
        results["w3"] = create_bench.run(sizes, args.repeat)
        tables.append("### W3: create + initialize\n\n" + create_bench.table(results["w3"]))
    if "C" in keys:
        counts = [int(count) for count in args.c_runners.split(",")]
        results["c"] = claims_bench.run(counts, args.c_jobs, args.repeat)
        tables.append("### C: claim + start + complete\n\n" + claims_bench.table(results["c"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    load = ", ".join(f"{value:.2f}" for value in results["load_average"])
    text = f"Load average at the start: {load}.\n\n" + "\n\n".join(tables)
    (args.out / "results.md").write_text(text + "\n")
    print(text)


def machine_facts() -> dict:
    import psutil

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


if __name__ == "__main__":
    main()
