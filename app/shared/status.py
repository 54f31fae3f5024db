"""Job status codes and the status sets the lifecycle reasons with.

The integers are stored in the database; JSON uses the lowercase names.
"""

from __future__ import annotations

from enum import IntEnum


class JobStatus(IntEnum):
    UNINITIALIZED = 0
    BLOCKED = 1
    READY = 2
    PENDING = 3
    RUNNING = 4
    COMPLETED = 5
    FAILED = 6
    CANCELED = 7
    TERMINATED = 8
    DISABLED = 9
    PENDING_FAILED = 10

    @property
    def label(self) -> str:
        """The wire name, e.g. ``pending_failed``."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int) -> JobStatus:
        """Accept a wire name (any case) or a code; raise ValueError otherwise."""
        try:
            # isdecimal, not isdigit: "²" is a digit that int() refuses.
            if isinstance(value, int) or (isinstance(value, str) and value.isdecimal()):
                return cls(int(value))
            return cls[str(value).strip().upper()]
        except (KeyError, ValueError):
            raise ValueError(f"unknown job status {value!r}") from None


STATUS_NAMES: tuple[str, ...] = tuple(status.label for status in JobStatus)


def status_title(status: str) -> str:
    """``pending_failed`` -> ``PendingFailed`` (how upstream's tables print statuses)."""
    return "".join(part.capitalize() for part in status.split("_"))


# Statuses a finished job can be reported with (complete_job accepts these).
TERMINAL = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
        JobStatus.TERMINATED,
        JobStatus.PENDING_FAILED,
    }
)

# A blocker in one of these no longer holds its dependents back (disabled too:
# D11, docs/decisions.md).
DONE_FOR_UNBLOCKING = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
        JobStatus.TERMINATED,
        JobStatus.DISABLED,
    }
)

# The workflow is complete when every job is in one of these (pending_failed is not).
DONE_FOR_WORKFLOW = DONE_FOR_UNBLOCKING

# "Complete" in the upstream sense: a job that finished running (manage_status_change rules).
COMPLETE = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.TERMINATED}
)

# A blocker finishing in one of these cancels dependents that ask for it, whatever its return
# code (D11, docs/decisions.md); a canceled blocker does only when it failed
# (``lifecycle.poisons``).
FAILURE = frozenset({JobStatus.FAILED, JobStatus.TERMINATED})

# reset-status --failed-only resets these.
RESETTABLE_FAILED = frozenset(
    {JobStatus.FAILED, JobStatus.CANCELED, JobStatus.TERMINATED, JobStatus.PENDING_FAILED}
)

# Trigger satisfaction for job-based workflow actions.
ACTION_READY_STATES = frozenset(
    {
        JobStatus.READY,
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
        JobStatus.TERMINATED,
    }
)
ACTION_COMPLETE_STATES = COMPLETE

ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})

# Ran to an end without success (pending_failed still awaits its decision).
UNSUCCESSFUL = COMPLETE - {JobStatus.COMPLETED}

# Nothing more happens to these in this run: terminal, or disabled by the user.
SETTLED = TERMINAL | {JobStatus.DISABLED}

# Finished or awaiting a failure decision, without success (what progress counts as failed).
NOT_SUCCEEDED = TERMINAL - {JobStatus.COMPLETED}

# The workflow is still under way while a job is in one of these (blocked jobs wait on them).
UNDERWAY = frozenset(
    {JobStatus.UNINITIALIZED, JobStatus.READY, JobStatus.PENDING, JobStatus.RUNNING}
)


def codes(statuses: frozenset[JobStatus]) -> list[int]:
    """The integer codes of a status set, sorted, for SQL ``IN`` clauses."""
    return sorted(int(status) for status in statuses)


def labels(statuses: frozenset[JobStatus]) -> tuple[str, ...]:
    """The wire names of a status set in code order (a stable order for loops and output)."""
    return tuple(status.label for status in sorted(statuses))


# The sets by wire name, for the HTTP clients (CLI, runner, TUI), which see statuses as names.
ACTIVE_NAMES = labels(ACTIVE)
TERMINAL_NAMES = labels(TERMINAL)
FAILURE_NAMES = labels(FAILURE)
UNSUCCESSFUL_NAMES = labels(UNSUCCESSFUL)
SETTLED_NAMES = labels(SETTLED)
NOT_SUCCEEDED_NAMES = labels(NOT_SUCCEEDED)
UNDERWAY_NAMES = labels(UNDERWAY)

# The return code recorded for a job whose runner was lost while it ran (an orphan).
ORPHAN_RETURN_CODE = -128
