"""The Backend protocol and the records that cross it. Nothing else lives here.

The seam is small and dumb: encoded payloads and timestamps go in, rows come out. Encoding,
retry policy and aging live above it, so every backend shares them. Methods that decide by
time take `now` (None: the backend's own clock, one clock for every worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

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


class Lease(NamedTuple):
    id: str
    token: str


class Completion(NamedTuple):
    id: str
    token: str
    result: str  # JSON


class Failure(NamedTuple):
    id: str
    token: str
    error: str
    traceback: str | None
    retry_at: float | None  # None: dead


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
    started_at: float | None
    finished_at: float | None
    worker: str | None
    result: str | None
    error: str | None  # of the last failed attempt
    traceback: str | None
    #: The last FAILED_ATTEMPTS_KEPT failed attempts, oldest first: `fail` appends one in the
    #: same write as the state change.
    failed_attempts: list[FailedAttempt] = field(default_factory=list)


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
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: float
    last_seen: float = 0.0
    jobs: list[str] = field(default_factory=list)


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

    @property
    def failed(self) -> int:
        return self.retried + self.dead


Counts = dict[str, dict[str, int]]


class TransactionalEnqueue(Protocol):
    """A backend that can enqueue with the caller's own database connection."""

    def enqueue_in(self, connection: Any, jobs: Sequence[NewJob]) -> None:
        """Insert inside the caller's open transaction on `connection`: the jobs exist (and
        workers hear of them, and the `enqueued` counters count them) only if that transaction
        commits. Nothing is committed here."""
        ...


class Backend(Protocol):
    url: str

    def migrate(self) -> None: ...
    def close(self) -> None: ...

    # producers
    def enqueue(self, jobs: Sequence[NewJob]) -> None:
        """Insert the jobs, and add them to the `enqueued` counters of their enqueue minute and
        ALL_TIME per (queue, task), in the same transaction or script."""
        ...

    # workers
    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, now: float | None = None
    ) -> list[ClaimedJob]:
        """Lease the best `limit` runnable jobs of `queues` by (rank, id), each with a fresh token.

        Due scheduled and retrying jobs are promoted first; paused queues are skipped.
        """
        ...

    def heartbeat(
        self, worker: WorkerInfo, leases: Sequence[Lease], lease: float, now: float | None = None
    ) -> set[str]:
        """Record the worker as alive and extend its leases; return the ids still owned."""
        ...

    def complete(self, done: Sequence[Completion], now: float | None = None) -> list[str]:
        """Mark succeeded the jobs whose token is current; return their ids."""
        ...

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        """Move to retrying (retry_at) or dead the jobs whose token is current; return their ids.

        Each accepted failure becomes the job's `error`/`traceback` and is appended to its
        `failed_attempts` (with the attempt number, the worker and `now`), keeping the last
        FAILED_ATTEMPTS_KEPT, in the same write as the state change."""
        ...

    def complete_and_claim(
        self,
        done: Sequence[Completion],
        queues: Sequence[str],
        worker: str,
        limit: int,
        lease: float,
        now: float | None = None,
    ) -> tuple[list[str], list[ClaimedJob]]:
        """`complete(done)` then `claim(...)`: the worker's hot loop, in one round trip where the
        backend can (a backend may simply call the two)."""
        ...

    def release(self, leases: Sequence[Lease]) -> None:
        """Give claimed, unstarted jobs back untouched: queued again, the attempt not spent."""
        ...

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Block until work may be available in `queues` (or a job becomes due), or `timeout`."""
        ...

    def wait_and_claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, timeout: float
    ) -> list[ClaimedJob]:
        """`wait_for_work(queues, timeout)` then `claim(...)`: an idle worker's call once a claim
        found nothing, in one round trip where the backend can, so the claim follows the arrival
        of work at once."""
        ...

    def unregister(self, worker: str) -> None: ...

    # maintenance: safe to run from every worker at once
    def promote_due(self, now: float | None = None) -> int: ...
    def expired(self, limit: int, now: float | None = None) -> list[ClaimedJob]:
        """Running jobs whose lease ran out (the worker was lost), with their current token."""
        ...

    def prune(self, finished_before: float, limit: int) -> int:
        """Delete up to `limit` succeeded or cancelled jobs finished before the given time."""
        ...

    def forget_workers(self, seen_before: float) -> int:
        """Drop registry entries of workers not seen since the given time."""
        ...

    # per-minute outcome counters: they outlive the jobs they count
    def record_minutes(self, rows: Sequence[MinuteCount]) -> None:
        """Add each row's counters to the stored row of its (minute, queue, task), creating it."""
        ...

    def minutes(self, since: int) -> list[MinuteCount]:
        """The stored rows with minute >= since (ALL_TIME rows included), by (minute, queue, task)."""
        ...

    def forget_minutes(self, before: int) -> int:
        """Delete the rows with minute < before; return how many."""
        ...

    # reads and admin writes
    def get(self, job_id: str) -> JobRecord | None: ...
    def list_jobs(self, query: JobQuery) -> list[JobRecord]: ...
    def counts(self) -> Counts: ...
    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        """Per queue, how many queued (runnable) jobs wait at each priority."""
        ...

    def count_jobs(self, query: JobQuery) -> int:
        """How many jobs match `query`; its `limit` is ignored (`scan` still bounds `text`)."""
        ...

    def oldest(self, state: JobState) -> dict[str, float]:
        """Per queue holding jobs in `state`: the `enqueued_at` of its smallest-id such job."""
        ...

    def workers(self) -> list[WorkerInfo]: ...
    def replay(self, query: JobQuery, now: float | None = None) -> int:
        """Dead and retrying jobs matching `query` are queued now, keeping their rank (other
        states are untouched): a dead job runs again from scratch (attempts reset, worker and
        finish time cleared), a retrying job stops waiting out its backoff (due time cleared,
        attempts kept). Failed attempts stay in the log either way."""
        ...

    def purge(self, query: JobQuery) -> int:
        """Delete the jobs matching `query` (the admin API restricts this to terminal states)."""
        ...

    def cancel(self, job_id: str, now: float | None = None) -> bool:
        """Cancel a job that is not running yet; False if it is running or finished."""
        ...

    def set_paused(self, queue: str, paused: bool) -> None: ...
    def paused(self) -> set[str]: ...


class WaitThenClaim:
    """`wait_and_claim` as its two steps, for backends that have no single round trip for it."""

    def wait_and_claim(
        self: Backend, queues: Sequence[str], worker: str, limit: int, lease: float, timeout: float
    ) -> list[ClaimedJob]:
        self.wait_for_work(queues, timeout)
        return self.claim(queues, worker, limit, lease)
