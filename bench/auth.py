"""Cost of authentication: ``python -m bench.auth [--requests 1000] [--cost 12]``.

The same N keep-alive requests (``GET /workflows/{id}``, a workflow-scoped read) against a
server without authentication and against servers that require it, with the password hashed
at the given bcrypt cost: with the credential cache (the default, 60 s), with access control
enforced as well, and with the cache disabled (fewer requests: each costs a bcrypt check).
The first authenticated request always pays one bcrypt check; it is reported on its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.auth.htpasswd import HtpasswdFile, hash_password
from bench.server import Server
from cli.client import TorcClient

USER, PASSWORD = "bench", "bench-password-not-secret"


def timed_requests(url: str, count: int, authenticated: bool) -> dict[str, float]:
    credentials = {"username": USER, "password": PASSWORD} if authenticated else {}
    client = TorcClient(url, **credentials)
    try:
        start = time.perf_counter()
        client.ping()  # the first check of these credentials: one bcrypt verification
        first = time.perf_counter() - start
        workflow_id = client.create_workflow({"name": "bench-auth", "user": USER})["id"]
        start = time.perf_counter()
        for _ in range(count):
            client.get_workflow(workflow_id)
        total = time.perf_counter() - start
    finally:
        client.close()
    return {"requests": count, "total_s": total, "per_request_ms": total / count * 1000,
            "first_request_ms": first * 1000}  # fmt: skip


def measure(
    label: str, server_args: list[str], count: int, authenticated: bool, repeat: int
) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        with Server(*server_args) as url:
            runs.append(timed_requests(url, count, authenticated))
    best = min(runs, key=lambda run: run["total_s"])
    return {
        "setup": label,
        **best,
        "median_total_s": statistics.median(run["total_s"] for run in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--uncached-requests", type=int, default=20)
    parser.add_argument("--cost", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    args = parser.parse_args(argv)

    directory = Path(tempfile.mkdtemp(prefix="torc-bench-auth-"))
    htpasswd = HtpasswdFile.read_or_new(directory / "htpasswd")
    htpasswd.set(USER, hash_password(PASSWORD, args.cost))
    htpasswd.write()
    auth = ["--auth-file", str(htpasswd.path), "--require-auth"]
    rows = [
        measure("no authentication", [], args.requests, False, args.repeat),
        measure(f"required, cost {args.cost}, cached", auth, args.requests, True, args.repeat),
        measure(
            f"required, cost {args.cost}, cached, access control",
            [*auth, "--enforce-access-control"],
            args.requests,
            True,
            args.repeat,
        ),
        measure(
            f"required, cost {args.cost}, cache disabled",
            [*auth, "--credential-cache-ttl-secs", "0"],
            args.uncached_requests,
            True,
            1,
        ),
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    base = rows[0]["per_request_ms"]
    print("| setup | requests | total (s) | per request (ms) | vs none | first request (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['setup']} | {row['requests']} | {row['total_s']:.2f} | "
            f"{row['per_request_ms']:.2f} | {row['per_request_ms'] / base:.2f}x | "
            f"{row['first_request_ms']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
