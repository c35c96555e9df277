"""The records that cross the backend seam (its protocols are in `protocols`).

The seam is small and dumb: encoded payloads and timestamps go in, rows come out. Encoding,
retry policy and aging live above it, so every backend shares them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..job import FailedAttempt, JobState


@dataclass(slots=True)
class NewJob:
    id: str
    task: str
    queue: str
    priority: int
    rank: float  # lower runs first; ties run in id (= creation) order
    payload: str
    enqueued_at: float
    run_at: float | None  # None: runnable now (queued); else scheduled until then
    retries: int
    backoff: str | None  # Backoff.to_json(), None for the default
    timeout: float | None
    #: A JSON object of what the job carries for its run and for the admin views but that no
    #: claim or index reads (headers, ...); None when it has none, never '' (docs/architecture.md).
    meta: str | None = None
    #: None: it never expires; else (the producer's clock, as enqueued_at) a job not started by
    #: then is never run: it ends cancelled, "expired" (docs/state-machine.md).
    expires_at: float | None = None
    #: None: no uniqueness; else at most one job with this key in the queue: while one is active
    #: (unique_for None) or enqueued within the last `unique_for` seconds (docs/state-machine.md).
    unique_key: str | None = None
    unique_for: float | None = None
    #: None: not group-limited; else the group whose jobs a queue's group_concurrency bounds.
    group: str | None = None


@dataclass(slots=True)
class ClaimedJob:
    id: str
    task: str
    queue: str
    priority: int
    payload: str
    attempts: int  # including this run
    retries: int
    backoff: str | None
    timeout: float | None
    token: str
    meta: str | None = None  # as enqueued
    enqueued_at: float = 0.0  # as stored
    #: True: claimed for its first attempt at or after its expires_at (by the store's clock, in
    #: the claim itself): the worker cancels it unrun, "expired".
    past_expiry: bool = False


class Lease(NamedTuple):
    id: str
    token: str


class Completion(NamedTuple):
    id: str
    token: str
    result: str  # JSON


class Postponement(NamedTuple):
    """A claimed job given back unrun, its attempt not spent: scheduled again `delay` seconds
    after `now` (the store's clock, as for leases). With `unknown_task`, the worker could not run
    its task: the job's `unknown_since` is set to `now` unless it is set already (the first such
    give-back is when the job's wait for a worker that knows the task began)."""

    id: str
    token: str
    delay: float
    unknown_task: bool = False


class Cancellation(NamedTuple):
    """A claimed job ended `cancelled` with `reason` as its error: its task raised Cancel, or it
    expired before its first start ("expired"). No failed attempt is logged."""

    id: str
    token: str
    reason: str


class Expired(NamedTuple):
    """A job `expire_due` cancelled, for the per-minute counters."""

    id: str
    queue: str
    task: str


class Failure(NamedTuple):
    id: str
    token: str
    error: str
    traceback: str | None
    #: Seconds after `now` (the store's clock, as for leases) until it runs again; None: dead.
    retry_in: float | None


class ProgressUpdate(NamedTuple):
    """A running job's progress (`current_job().progress`), written only with its token."""

    id: str
    token: str
    progress: str  # a JSON object: current, total, message


@dataclass(slots=True)
class JobRecord:
    id: str
    task: str
    queue: str
    priority: int
    state: JobState
    payload: str
    attempts: int
    retries: int
    enqueued_at: float
    run_at: float | None
    started_at: float | None  # when its last attempt was claimed (each claim sets it)
    finished_at: float | None
    worker: str | None
    result: str | None
    error: str | None  # of the last failed attempt
    traceback: str | None
    meta: str | None = None  # as enqueued
    #: When a worker first gave the job back because it did not know its task (`postpone`);
    #: None until then. Kept through retries and on the finished job; a replayed dead job
    #: starts without it.
    unknown_since: float | None = None
    unique_key: str | None = None  # as enqueued (task.options(unique_key=...)), None without
    #: The progress its last run reported (a JSON object: current, total, message), None if
    #: none did; `progress_at` when the store took it (its clock). Kept as last written.
    progress: str | None = None
    progress_at: float | None = None
    #: The last FAILED_ATTEMPTS_KEPT failed attempts, oldest first: `fail` appends one in the
    #: same write as the state change.
    failed_attempts: list[FailedAttempt] = field(default_factory=list)


def record_from_columns(columns: Sequence[Any], failed_attempts: Iterable[Mapping[str, Any]]) -> JobRecord:
    """A JobRecord from its fields in order but the last (the state as text, as SQL stores it)
    and the entries of its log of failed attempts."""
    record = JobRecord(*columns)
    record.state = JobState(record.state)
    record.failed_attempts = [FailedAttempt(**a) for a in failed_attempts]
    return record


class Replayed(int):
    """How many jobs a replay queued; `held`: the dead jobs it left dead because another active
    job of their queue holds their unique key (docs/state-machine.md)."""

    held: int

    def __new__(cls, replayed: int, held: int = 0) -> Replayed:
        count = super().__new__(cls, replayed)
        count.held = held
        return count


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Selects jobs for listing, counting, replay and purge. Empty fields match everything.

    Ids sort by creation time, so `before`/`after` serve both as a keyset cursor and as a time
    range (see `job.first_id_at`). `text` matches a case-sensitive substring of the stored
    payload, looking only at the `scan` newest jobs that pass the other filters (None: all),
    so a search stays bounded on a large store.
    """

    ids: tuple[str, ...] | None = None
    queue: str | None = None
    state: JobState | None = None
    task: str | None = None
    limit: int = 100
    before: str | None = None  # only ids < before
    after: str | None = None  # only ids > after
    text: str | None = None
    scan: int | None = None


@dataclass(slots=True)
class WorkerInfo:
    """A worker as its heartbeats record it. `jobs`: the leases it renewed last. `tasks`: the
    task names it can run (its app's). `processed`: the jobs it finished since it started (any
    outcome), `per_minute` of them in the last 60 s. `silent_for` is not written: `workers()`
    sets it, the seconds since `last_seen` by the store's clock when read."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: float
    last_seen: float = 0.0
    jobs: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    lease: float = 30.0
    processed: int = 0
    per_minute: int = 0
    silent_for: float = 0.0


#: The minute under which callers keep all-time totals (far beyond any real minute), so
#: reading recent minutes also reads the totals, and forgetting old minutes keeps them.
ALL_TIME = 1 << 40


@dataclass(slots=True)
class MinuteCount:
    """Jobs of one task in one queue enqueued, and the outcomes of their runs, during one
    minute (or ALL_TIME). Backends count `enqueued` inside enqueue itself."""

    minute: int  # epoch seconds of the minute's start (a multiple of 60), or ALL_TIME
    queue: str
    task: str
    completed: int = 0  # runs that succeeded
    retried: int = 0  # failed runs (errors, timeouts, lost workers) that will run again
    dead: int = 0  # failed runs that became dead letters
    enqueued: int = 0  # new jobs (delayed ones included)
    cancelled: int = 0  # runs that raised Cancel, and jobs that expired before their first start

    @property
    def failed(self) -> int:
        return self.retried + self.dead


Counts = dict[str, dict[str, int]]
