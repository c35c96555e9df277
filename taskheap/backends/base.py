"""The Backend protocol and the records that cross it. Nothing else lives here.

The seam is small and dumb: encoded payloads and timestamps go in, rows come out. Encoding,
retry policy and aging live above it, so every backend shares them. Methods that decide by
time take `now` (None: the backend's own clock, one clock for every worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from ..job import JobState


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
    error: str | None
    traceback: str | None


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Selects jobs for listing, replay and purge. Empty fields match everything."""

    ids: tuple[str, ...] | None = None
    queue: str | None = None
    state: JobState | None = None
    task: str | None = None
    limit: int = 100


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


Counts = dict[str, dict[str, int]]


class Backend(Protocol):
    url: str

    def migrate(self) -> None: ...
    def close(self) -> None: ...

    # producers
    def enqueue(self, jobs: Sequence[NewJob]) -> None: ...

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
        """Move to retrying (retry_at) or dead the jobs whose token is current; return their ids."""
        ...

    def release(self, leases: Sequence[Lease]) -> None:
        """Give claimed, unstarted jobs back untouched: queued again, the attempt not spent."""
        ...

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Block until work may be available in `queues` (or a job becomes due), or `timeout`."""
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

    # reads and admin writes
    def get(self, job_id: str) -> JobRecord | None: ...
    def list_jobs(self, query: JobQuery) -> list[JobRecord]: ...
    def counts(self) -> Counts: ...
    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        """Per queue, how many queued (runnable) jobs wait at each priority."""
        ...

    def workers(self) -> list[WorkerInfo]: ...
    def replay(self, query: JobQuery, now: float | None = None) -> int:
        """Dead jobs matching `query` run again from scratch (attempts reset)."""
        ...

    def purge(self, query: JobQuery) -> int:
        """Delete the jobs matching `query` (the admin API restricts this to terminal states)."""
        ...

    def cancel(self, job_id: str, now: float | None = None) -> bool:
        """Cancel a job that is not running yet; False if it is running or finished."""
        ...

    def set_paused(self, queue: str, paused: bool) -> None: ...
    def paused(self) -> set[str]: ...
