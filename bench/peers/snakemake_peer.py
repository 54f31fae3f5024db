"""Snakemake: one rule per job writing a marker file and its ``log:`` files, ``-j slots``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def snakefile(jobs: list) -> str:
    lines = ["rule all:", "    input: " + ", ".join(f"'done/{name}'" for name, _ in jobs), ""]
    for name, deps in jobs:
        inputs = ", ".join(f"'done/{dep}'" for dep in deps)
        lines += [f"rule {name}:"]
        if inputs:
            lines += [f"    input: {inputs}"]
        lines += [
            f"    output: 'done/{name}'",
            f"    log: o='job_stdio/{name}.o', e='job_stdio/{name}.e'",
            "    shell: 'true > {log.o} 2> {log.e} && touch {output}'",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    workload = json.load(open(sys.argv[1]))
    workdir = Path("snakemake").resolve()
    workdir.mkdir()
    (workdir / "Snakefile").write_text(snakefile(workload["jobs"]))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "-j", str(workload["slots"]), "--quiet", "all"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
