"""What ``torc remote`` does on each host, one SSH session per host and step.

A worker is ``torc run WORKFLOW`` started detached with ``nohup`` in the remote output
directory, which also holds its PID file (``torc_worker_<wf>.pid``) and its console log
(``torc_worker_<wf>.log``). Each step's script prints one ``WORD [PID]`` line first, then any
details (a log tail); the functions here turn that into a ``HostReport`` per host.
"""

from __future__ import annotations

import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.client import TorcClientError
from cli.remote.ssh import Ssh, SshResult, for_each
from cli.remote.workers import WorkerAddress

STARTUP_CHECKS = 10  # a worker still alive after 10 checks 0.2 s apart has started
STOP_WAIT_STEPS = {"TERM": 300, "KILL": 50}  # 0.2 s steps: 60 s for an orderly stop, 10 s else
LOG_TAIL_LINES = 20

# Shared by every script: is PID a live torc process (not a reused PID, not a zombie)?
PRELUDE = """\
set -u
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  command -v ps >/dev/null 2>&1 || return 0
  case "$(ps -o args= -p "$1" 2>/dev/null)" in
    *'<defunct>'*) return 1 ;;
    *torc*) return 0 ;;
  esac
  return 1
}
"""

CHECK_SCRIPT = """\
command -v torc >/dev/null 2>&1 || {
  echo "torc is not on PATH in non-interactive SSH sessions" >&2
  exit 127
}
torc --version
"""

# Arguments: DIR WORKFLOW_ID TORC_RUN_ARGS...; the environment file's lines come on stdin.
# The worker reads its environment (server URL, credentials) from a file only its user can
# read, and deletes it once read, so none of it is ever on a command line.
START_SCRIPT = """\
dir=$1 wf=$2
shift 2
mkdir -p -- "$dir" || exit 1
pidfile="$dir/torc_worker_$wf.pid" log="$dir/torc_worker_$wf.log" envfile="$dir/torc_worker_$wf.env"
if [ -f "$pidfile" ] && alive "$(cat "$pidfile")"; then
  echo "ALREADY $(cat "$pidfile")"
  exit 0
fi
(umask 077 && cat > "$envfile") <<'TORC_WORKER_ENV'
{environment}
TORC_WORKER_ENV
(
  nohup sh -c '. "$1" && rm -f -- "$1" && shift && exec torc "$@"' torc-worker "$envfile" "$@" \\
    > "$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
)
pid=$(cat "$pidfile")
i=0
while [ "$i" -lt {checks} ]; do
  sleep 0.2
  if ! alive "$pid"; then
    echo "DIED $pid"
    tail -n {lines} "$log"
    exit 0
  fi
  i=$((i + 1))
done
echo "STARTED $pid"
"""

STATUS_SCRIPT = """\
dir=$1 wf=$2
pidfile="$dir/torc_worker_$wf.pid"
[ -f "$pidfile" ] || { echo NONE; exit 0; }
pid=$(cat "$pidfile")
if alive "$pid"; then
  echo "RUNNING $pid"
else
  echo "EXITED $pid"
  tail -n 1 "$dir/torc_worker_$wf.log" 2>/dev/null
fi
"""

STOP_SCRIPT = """\
dir=$1 wf=$2 sig=$3 steps=$4
pidfile="$dir/torc_worker_$wf.pid"
[ -f "$pidfile" ] || { echo NONE; exit 0; }
pid=$(cat "$pidfile")
alive "$pid" || { echo "EXITED $pid"; exit 0; }
kill -s "$sig" "$pid" || { echo "RUNNING $pid"; exit 0; }
i=0
while alive "$pid"; do
  [ "$i" -ge "$steps" ] && { echo "RUNNING $pid"; exit 0; }
  sleep 0.2
  i=$((i + 1))
done
echo "STOPPED $pid"
"""

COLLECT_SCRIPT = """\
dir=$1
[ -d "$dir" ] || { echo "no directory $dir there" >&2; exit 3; }
exec tar -C "$dir" --exclude='./torc_worker_*.env' -czf - .
"""

DELETE_SCRIPT = """\
dir=$1
[ -e "$dir" ] || { echo ABSENT; exit 0; }
for pidfile in "$dir"/torc_worker_*.pid; do
  [ -f "$pidfile" ] || continue
  if alive "$(cat "$pidfile")"; then
    echo "BUSY $(cat "$pidfile")"
    exit 0
  fi
done
rm -rf -- "$dir" && echo DELETED
"""


class RemoteError(TorcClientError):
    """A check that failed on some hosts; nothing was started or changed."""


@dataclass
class HostReport:
    worker: WorkerAddress
    status: str
    pid: int | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "unreachable", "still running", "busy")

    def as_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker.text,
            "status": self.status,
            "pid": self.pid,
            "detail": self.detail,
            **self.extra,
        }


@dataclass
class Answer:
    """A script's first line (``WORD [PID]``) and the lines after it."""

    word: str
    pid: int | None
    rest: list[str]


def answer(result: SshResult) -> Answer | None:
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines:
        return None
    word, _, pid = lines[0].partition(" ")
    return Answer(word, int(pid) if pid.strip().isdigit() else None, lines[1:])


def run_script(ssh: Ssh, worker: WorkerAddress, script: str, *args: str) -> SshResult:
    return ssh.run(worker, PRELUDE + script, args)


def failure(worker: WorkerAddress, result: SshResult) -> HostReport:
    status = "unreachable" if result.connection_failed else "failed"
    reason = result.reason(worker.host)
    if result.connection_failed:
        reason = f"SSH connection failed to {worker}: {reason}"
    return HostReport(worker, status, detail=reason)


# Checks before starting ------------------------------------------------------------------


def check_hosts(
    ssh: Ssh,
    workers: Sequence[WorkerAddress],
    local_version: str,
    check_version: bool,
    max_parallel: int,
) -> None:
    """Every host answers over SSH and (unless told not to check) runs ``local_version``
    of torc; otherwise ``RemoteError`` with the seed's lines, all failing hosts named."""
    results = for_each(
        workers,
        lambda worker: run_script(ssh, worker, CHECK_SCRIPT if check_version else "true\n"),
        max_parallel,
    )
    unreachable = [
        f"  {worker}: SSH connection failed to {worker}: {result.reason(worker.host)}"
        for worker, result in zip(workers, results, strict=True)
        if result.connection_failed
    ]
    if unreachable:
        raise RemoteError(
            f"SSH connectivity check failed for {len(unreachable)} worker(s):\n"
            + "\n".join(unreachable)
        )
    if not check_version:
        return
    mismatched = []
    for worker, result in zip(workers, results, strict=True):
        if result.returncode != 0:
            mismatched.append(f"  {worker}: {result.reason(worker.host)}")
            continue
        remote_version = parse_version(result.stdout)
        if remote_version != local_version:
            mismatched.append(
                f"  {worker}: Version mismatch: local={local_version}, {worker}={remote_version}"
            )
    if mismatched:
        raise RemoteError(
            f"Version check failed on {len(mismatched)} worker(s):\n" + "\n".join(mismatched)
        )


def parse_version(output: str) -> str:
    """``torc 0.10.0`` (upstream) or ``torc, version 0.1.0`` (click) -> the version."""
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[0].split()[-1] if lines else "(no output)"


# Starting, watching, stopping ------------------------------------------------------------


def start_workers(
    ssh: Ssh,
    workers: Sequence[WorkerAddress],
    workflow_id: int,
    output_dir: str,
    torc_args: Sequence[str],
    environment: Mapping[str, str],
    max_parallel: int,
) -> list[HostReport]:
    """Start ``torc TORC_ARGS`` detached on every host; report which started, which were
    already running and which died at once (with the end of their log)."""
    env_lines = "\n".join(
        f"export {name}={shlex.quote(value)}" for name, value in environment.items()
    )
    script = (
        START_SCRIPT.replace("{environment}", env_lines)
        .replace("{checks}", str(STARTUP_CHECKS))
        .replace("{lines}", str(LOG_TAIL_LINES))
    )

    def start(worker: WorkerAddress) -> HostReport:
        result = run_script(ssh, worker, script, output_dir, str(workflow_id), *torc_args)
        reply = answer(result)
        if reply is None:
            return failure(worker, result)
        log = "\n".join(reply.rest)
        if reply.word == "STARTED":
            return HostReport(worker, "started", reply.pid)
        if reply.word == "ALREADY":
            return HostReport(worker, "already running", reply.pid)
        finished = _final_report(reply.rest, workflow_id)
        if finished is not None:  # it found nothing left to do and said so
            return HostReport(worker, "finished", reply.pid, finished)
        return HostReport(worker, "failed", reply.pid, log)

    return for_each(workers, start, max_parallel)


def _final_report(lines: Sequence[str], workflow_id: int) -> str | None:
    """``torc run``'s closing line (``Workflow 5: 3 completed in …``), if it got that far."""
    prefix = f"Workflow {workflow_id}: "
    for line in reversed(lines):
        last = line.split("\r")[-1].strip()
        if last.startswith(prefix):
            return last
    return None


def worker_states(
    ssh: Ssh,
    workers: Sequence[WorkerAddress],
    workflow_id: int,
    output_dir: str,
    max_parallel: int,
) -> list[HostReport]:
    def state(worker: WorkerAddress) -> HostReport:
        result = run_script(ssh, worker, STATUS_SCRIPT, output_dir, str(workflow_id))
        reply = answer(result)
        if reply is None:
            return failure(worker, result)
        if reply.word == "RUNNING":
            return HostReport(worker, "running", reply.pid)
        if reply.word == "EXITED":
            last = reply.rest[-1].split("\r")[-1].strip() if reply.rest else ""
            return HostReport(worker, "exited", reply.pid, last)
        return HostReport(worker, "not started", detail=f"no PID file in {output_dir}")

    return for_each(workers, state, max_parallel)


def stop_workers(
    ssh: Ssh,
    workers: Sequence[WorkerAddress],
    workflow_id: int,
    output_dir: str,
    force: bool,
    max_parallel: int,
) -> list[HostReport]:
    """SIGTERM (the runner stops its jobs and reports them) or, forced, SIGKILL; each host
    waits until its worker is gone, or says it is still running."""
    signal_name = "KILL" if force else "TERM"
    steps = str(STOP_WAIT_STEPS[signal_name])

    def stop(worker: WorkerAddress) -> HostReport:
        args = (output_dir, str(workflow_id), signal_name, steps)
        reply = answer(result := run_script(ssh, worker, STOP_SCRIPT, *args))
        if reply is None:
            return failure(worker, result)
        if reply.word == "STOPPED":
            return HostReport(worker, "stopped", reply.pid, f"SIG{signal_name}")
        if reply.word == "RUNNING":
            seconds = STOP_WAIT_STEPS[signal_name] // 5
            hint = "" if force else "; --force sends SIGKILL"
            return HostReport(
                worker, "still running", reply.pid, f"alive {seconds}s after SIG{signal_name}{hint}"
            )
        if reply.word == "EXITED":
            return HostReport(worker, "not running", reply.pid, "had already exited")
        return HostReport(worker, "not started", detail=f"no PID file in {output_dir}")

    return for_each(workers, stop, max_parallel)


# Logs ------------------------------------------------------------------------------------


def collect_logs(
    ssh: Ssh,
    workers: Sequence[WorkerAddress],
    remote_dir: str,
    local_dir: Path,
    delete: bool,
    max_parallel: int,
) -> list[HostReport]:
    """Copy each host's output directory into ``local_dir/<worker>/`` (a tar stream over
    SSH); with ``delete``, remove the remote directory once its copy is complete."""

    def collect(worker: WorkerAddress) -> HostReport:
        target = local_dir / worker.dir_name
        try:
            files = _fetch_tree(ssh, worker, remote_dir, target)
        except _FetchFailed as exc:
            return HostReport(worker, exc.status, detail=exc.reason)
        report = HostReport(worker, "collected", extra={"path": str(target), "files": files})
        if delete:
            removed = _delete(ssh, worker, remote_dir)
            report.extra["deleted"] = removed.status == "deleted"
            if not removed.ok:
                report.status, report.detail = removed.status, removed.detail
        return report

    return for_each(workers, collect, max_parallel)


class _FetchFailed(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _fetch_tree(ssh: Ssh, worker: WorkerAddress, remote_dir: str, target: Path) -> int:
    """Unpack the remote tar stream into ``target``; the number of files received."""
    with tempfile.TemporaryFile() as errors:
        process = ssh.stream(worker, PRELUDE + COLLECT_SCRIPT, (remote_dir,), errors)
        assert process.stdout is not None
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        files = 0
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|gz") as archive:
                for member in archive:
                    _extract(archive, member, partial)
                    files += member.isfile()
        except (tarfile.TarError, OSError, EOFError) as exc:
            problem: str | None = f"bad archive: {exc}"
        else:
            problem = None
        finally:
            process.stdout.close()
            returncode = process.wait()
        errors.seek(0)
        result = SshResult(returncode, "", errors.read().decode(errors="replace"))
    if returncode != 0 or problem is not None:
        shutil.rmtree(partial, ignore_errors=True)
        if returncode != 0:
            report = failure(worker, result)
            raise _FetchFailed(report.status, report.detail)
        raise _FetchFailed("failed", problem or "")
    shutil.rmtree(target, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)
    partial.rename(target)
    return files


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Files and directories only, and only inside ``target`` (the host is not trusted)."""
    name = Path(member.name)
    if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
        return
    if hasattr(tarfile, "data_filter"):
        archive.extract(member, target, filter="data")
    else:  # Python without PEP 706: the checks above are the filter
        archive.extract(member, target)


def delete_logs(
    ssh: Ssh, workers: Sequence[WorkerAddress], remote_dir: str, max_parallel: int
) -> list[HostReport]:
    return for_each(workers, lambda worker: _delete(ssh, worker, remote_dir), max_parallel)


def _delete(ssh: Ssh, worker: WorkerAddress, remote_dir: str) -> HostReport:
    """Remove the remote directory, unless a worker still runs in it."""
    reply = answer(result := run_script(ssh, worker, DELETE_SCRIPT, remote_dir))
    if reply is None:
        return failure(worker, result)
    if reply.word == "DELETED":
        return HostReport(worker, "deleted", detail=remote_dir)
    if reply.word == "BUSY":
        return HostReport(
            worker, "busy", reply.pid, f"a worker still runs in {remote_dir}; stop it first"
        )
    return HostReport(worker, "absent", detail=f"no {remote_dir} there")
