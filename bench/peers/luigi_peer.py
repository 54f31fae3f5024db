"""Luigi with the local scheduler and ``slots`` workers; each task runs ``true`` with its
stdout and stderr in a file each."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    import luigi

    workload = json.load(open(sys.argv[1]))
    done = Path("done").resolve()
    stdio = Path("job_stdio").resolve()
    done.mkdir()
    stdio.mkdir()
    deps_of = dict(workload["jobs"])

    class Job(luigi.Task):
        job = luigi.Parameter()

        def requires(self):
            return [Job(job=dep) for dep in deps_of[self.job]]

        def output(self):
            return luigi.LocalTarget(str(done / self.job))

        def run(self):
            stem = stdio / self.job
            with open(f"{stem}.o", "w") as out, open(f"{stem}.e", "w") as err:
                subprocess.run(["true"], stdout=out, stderr=err, check=True)
            Path(self.output().path).touch()

    started = time.perf_counter()
    luigi.build(
        [Job(job=name) for name in deps_of],
        workers=workload["slots"],
        local_scheduler=True,
        log_level="WARNING",
    )
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
