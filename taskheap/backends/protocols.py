"""The backend seam as capability protocols: what a store can do, one concern each.

Bytes and timestamps go in, rows come out (the records are in `base`). Every backend class names
the protocols it implements as its bases, so mypy checks each method against them; code above
the seam asks for the capability it needs (a Heartbeat for `Backend`, a Tally for `Counters`, the
admin API for `AdminBackend`), not for the whole store. Methods that decide by time take `now`:
None means the store's own clock, one clock for every worker (see docs/architecture.md).

| protocol               | SQLite | Redis | PostgreSQL |
|------------------------|--------|-------|------------|
| Backend (core)         | yes    | yes   | yes        |
| CancelRequests         | yes    | yes   | yes        |
| Waits                  | yes    | yes   | yes        |
| Counters, Registry     | yes    | yes   | yes        |
| AdminReads/AdminWrites | yes    | yes   | yes        |
| TransactionalEnqueue   | yes    | no    | yes        |
| QueueLimitsStore       | yes    | yes   | yes        |

CancelRequests is part of both `Backend` (the worker's poll) and `AdminBackend` (the running
jobs `Admin.running` lists, marked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..job import JobState
from .base import (
    Cancellation,
    ClaimedJob,
    Completion,
    Counts,
    Expired,
    Failure,
    JobQuery,
    JobRecord,
    Lease,
    MinuteCount,
    NewJob,
    Postponement,
    ProgressUpdate,
    Replayed,
    WorkerInfo,
)
from .checks import SelfCheck
from .queue_limits import LimitedQueue, QueueLimits


class CancelRequests(Protocol):
    """Which running jobs have a cancel request: what a worker polls for, and what the admin
    API marks among the running jobs it lists."""

    def cancel_requests(self, ids: Sequence[str]) -> set[str]:
        """The running jobs among `ids` for which a cancel was requested (`AdminWrites.cancel`):
        one batched read a worker makes about once a second while it holds jobs. Ids unknown or
        not running are left out."""
        ...


class Backend(CancelRequests, Protocol):
    """The core every worker needs: store jobs, lease them, renew and settle the leases, and the
    maintenance any worker runs (promotion, rescue, retention)."""

    url: str

    def migrate(self) -> None:
        """Bring the store's schema to this version (idempotent, safe from many processes at
        once); refuse a store written by a newer version."""
        ...

    def close(self) -> None: ...

    def enqueue(
        self, jobs: Sequence[NewJob], limits: Mapping[str, int] | None = None, now: float | None = None
    ) -> dict[str, str]:
        """Insert the jobs, and add them to the `enqueued` counters of their enqueue minute and
        ALL_TIME per (queue, task), in the same transaction or script.

        Returns new job id -> id of the stored job it duplicates, for the jobs with a
        `unique_key` not inserted because that key is held in their queue (empty when none):
        with `unique_for` None, by a job with that key in an active state (UNIQUE_STATES); else
        by the job that took it within the last `unique_for` seconds by `now` (whatever became of
        that job since). A later job of the call with the key of an earlier one maps to the
        earlier one's id (or to the job that one duplicates). Decided by the store in the same
        atomic step as the insert, never by a read before it; a duplicate is neither counted nor
        takes room in a queue's max_length.

        `now`: the producer's explicit clock reading its jobs' times were made from, stored as
        they are; None: they were read off this host's wall clock, and a store that keeps a
        clock of its own for its decisions moves them onto it (SQLite, whose store clock a
        wall-clock step does not move; Redis and PostgreSQL judge due times by the server's
        clock and store the times as given).

        `limits`, queue -> max_length (queues not named have no limit; None: none has): raise
        QueueFull, enqueuing nothing, when a named queue's waiting jobs (queued, scheduled,
        retrying) plus the call's jobs for it would be more than its max_length. Counted in the
        same transaction or script as the insert, so concurrent producers never take a queue
        past its limit; nothing is ever evicted. A call spanning queues is refused whole where
        the store can do that atomically (SQLite, PostgreSQL); Redis refuses per queue, and the
        error names the queues whose jobs were enqueued."""
        ...

    def claim(
        self, queues: Sequence[str], worker: str, limit: int, lease: float, now: float | None = None
    ) -> list[ClaimedJob]:
        """Lease the best `limit` runnable jobs of `queues` by (rank, id), each with a fresh token.

        Due scheduled and retrying jobs are promoted first; paused queues are skipped. A job
        claimed for its first attempt at or after its `expires_at` (by `now`) is leased like any
        other, `past_expiry` set: the worker cancels it unrun (`cancel_claimed`).
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
        """Move to retrying (due `retry_in` seconds after `now`) or dead the jobs whose token is
        current and that have no cancel request; return their ids. A job with a request is
        refused, in the same atomic write (its caller cancels it, `cancel_claimed`), so a request
        stored at any moment before the failure is acknowledged never lets the job be retried.

        Each accepted failure becomes the job's `error`/`traceback` and is appended to its
        `failed_attempts` (with the attempt number, the worker and `now`), keeping the last
        FAILED_ATTEMPTS_KEPT, in the same write as the state change."""
        ...

    def cancel_claimed(self, items: Sequence[Cancellation], now: float | None = None) -> list[str]:
        """Cancel the claimed jobs whose token is current: `cancelled`, `error` the reason,
        finished at `now`, the lease dropped, the attempts as claimed, no failed attempt logged
        (pruned after the retention as succeeded jobs are). Return the ids cancelled."""
        ...

    def record_progress(self, updates: Sequence[ProgressUpdate], now: float | None = None) -> list[str]:
        """Store each running job's progress (a JSON object, as given) and `now` as its
        `progress_at` (JobRecord), replacing the last, only with its current token (a stale
        run cannot write it); return the ids written. Kept when the run ends."""
        ...

    def release(self, leases: Sequence[Lease]) -> None:
        """Give claimed, unstarted jobs back untouched: queued again, the attempt not spent."""
        ...

    def postpone(self, items: Sequence[Postponement], now: float | None = None) -> list[str]:
        """Give claimed jobs whose token is current back unrun: scheduled, due `delay` seconds
        after `now`, the attempt not spent (as `release`); with `unknown_task`, `unknown_since`
        set to `now` if not set yet. Return the ids postponed. A job with a cancel request is
        refused, as by `fail`."""
        ...

    def promote_due(self, now: float | None = None) -> int:
        """Queue the scheduled and retrying jobs that are due; how many."""
        ...

    def expire_due(self, limit: int, now: float | None = None) -> list[Expired]:
        """Cancel, with the error "expired", up to `limit` waiting jobs (queued or scheduled)
        never started (no attempt spent) whose `expires_at` is at or before `now`, in one atomic
        step; return them. Retrying and running jobs never expire."""
        ...

    def expired(self, limit: int, now: float | None = None) -> list[ClaimedJob]:
        """Running jobs whose lease ran out (the worker was lost), with their current token."""
        ...

    def prune(self, retention: float, limit: int, now: float | None = None) -> int:
        """Delete up to `limit` succeeded or cancelled jobs finished more than `retention`
        seconds before `now`."""
        ...


class Waits(Backend, Protocol):
    """Blocking until work arrives, and the fused round trips of a worker's hot loop. The fused
    calls have defaults made of the core calls; a backend overrides them where it can do the
    two steps in one round trip."""

    def wait_for_work(self, queues: Sequence[str], timeout: float, now: float | None = None) -> None:
        """Block until work may be available in `queues` (or a job becomes due by `now`'s clock),
        or `timeout` seconds."""
        ...

    def wait_and_claim(
        self,
        queues: Sequence[str],
        worker: str,
        limit: int,
        lease: float,
        timeout: float,
        now: float | None = None,
    ) -> list[ClaimedJob]:
        """`wait_for_work(queues, timeout, now)` then `claim(...)`: an idle worker's call once a
        claim found nothing, so the claim follows the arrival of work at once."""
        self.wait_for_work(queues, timeout, now)
        return self.claim(queues, worker, limit, lease, now)

    def complete_and_claim(
        self,
        done: Sequence[Completion],
        queues: Sequence[str],
        worker: str,
        limit: int,
        lease: float,
        now: float | None = None,
    ) -> tuple[list[str], list[ClaimedJob]]:
        """`complete(done)` then `claim(...)`: a busy worker's acknowledgement and next claim."""
        completed = self.complete(done, now) if done else []
        return completed, self.claim(queues, worker, limit, lease, now)


class Counters(Protocol):
    """Per-minute outcome counters per (queue, task): they outlive the jobs they count."""

    def record_minutes(self, rows: Sequence[MinuteCount]) -> None:
        """Add each row's counters to the stored row of its (minute, queue, task), creating it."""
        ...

    def minutes(self, since: int) -> list[MinuteCount]:
        """The stored rows with minute >= since (ALL_TIME rows included), by (minute, queue, task)."""
        ...

    def forget_minutes(self, before: int) -> int:
        """Delete the rows with minute < before; return how many."""
        ...


class Registry(Protocol):
    """The workers alive (each heartbeat records its worker) and the jobs they hold."""

    def workers(self) -> list[WorkerInfo]:
        """Every registered worker by start time, each with `silent_for` set: the seconds since
        its last heartbeat by the store's clock now."""
        ...

    def unregister(self, worker: str) -> None: ...

    def forget_workers(self, silence: float, now: float | None = None) -> int:
        """Drop registry entries of workers not seen for `silence` seconds before `now`."""
        ...


class AdminReads(Protocol):
    """What the admin API reads: jobs, listings and counts, straight from the durable store."""

    def get(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        """The jobs matching `query`, newest first, at most `query.limit`."""
        ...

    def count_jobs(self, query: JobQuery) -> int:
        """How many jobs match `query`; its `limit` is ignored (`scan` still bounds `text`)."""
        ...

    def counts(self) -> Counts:
        """Per queue, its non-zero counts by state (every paused or ever-paused queue listed)."""
        ...

    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        """Per queue, how many queued (runnable) jobs wait at each priority."""
        ...

    def oldest(self, state: JobState) -> dict[str, float]:
        """Per queue holding jobs in `state`: the `enqueued_at` of its smallest-id such job."""
        ...

    def paused(self) -> set[str]: ...


class SelfChecks(Protocol):
    """What about the store may lose jobs or expose them (backends/checks.py)."""

    def self_checks(self) -> list[SelfCheck]:
        """A warning per problem found, naming the fix; checks silenced by $TASKHEAP_SILENCE are
        left out. Cheap enough to call at every worker start and every `taskheap status`."""
        ...


class AdminWrites(Protocol):
    """What the admin API changes: replay, purge, cancel, pause."""

    def replay(self, query: JobQuery) -> Replayed:
        """Dead and retrying jobs matching `query` are queued now, keeping their rank (other
        states are untouched): a dead job runs again from scratch (attempts reset, worker,
        finish time and `unknown_since` cleared), a retrying job stops waiting out its backoff
        (due time cleared, attempts and `unknown_since` kept). Failed attempts stay in the log
        either way. A dead job with a unique key (no window) takes its key again; if another
        active job of its queue holds it, it stays dead, counted in `Replayed.held`."""
        ...

    def purge(self, query: JobQuery) -> int:
        """Delete the jobs matching `query` (the admin API restricts this to terminal states)."""
        ...

    def cancel(self, job_id: str, now: float | None = None) -> bool:
        """Cancel a job that is not running yet (queued, scheduled, retrying), or store a cancel
        request (`cancel_requested_at`, `now`; an earlier request is kept) for a running one,
        which its worker polls for (`Backend.cancel_requests`): True for either, False for a
        finished or unknown job. The request outlives any worker's restart."""
        ...

    def set_paused(self, queue: str, paused: bool) -> None:
        """Pause or resume a queue; resuming one that holds work wakes its idle workers."""
        ...


@runtime_checkable
class TransactionalEnqueue(Protocol):
    """A backend that can enqueue with the caller's own database connection."""

    def enqueue_in(
        self,
        connection: Any,
        jobs: Sequence[NewJob],
        limits: Mapping[str, int] | None = None,
        now: float | None = None,
    ) -> dict[str, str]:
        """Insert inside the caller's open transaction on `connection`: the jobs exist (and
        workers hear of them, and the `enqueued` counters count them) only if that transaction
        commits. Nothing is committed here. `limits` as for `enqueue`: the jobs the caller's
        transaction enqueued already count, and QueueFull leaves that transaction usable, with
        nothing of this call in it. Exactness holds the limited queue until the caller's
        transaction ends (SQLite: the write lock, as any write; PostgreSQL: a lock per limited
        queue), so other producers of that queue wait for it to commit. `now` and the duplicates
        returned as for `enqueue`: a unique key this transaction takes is held for other
        producers until it ends (they wait for it on PostgreSQL), and is free again if it rolls
        back."""
        ...


class QueueLimitsStore(Protocol):
    """The rate and concurrency limits of queues (queue_limits.py), enforced by `claim`.

    `claim` of a queue the store holds limits for leases only what they allow at that moment,
    across every worker, decided inside the claim's own transaction or script: at most
    `concurrency` of the queue's jobs running (a job holds its slot from its claim until it
    leaves `running`: completed, failed, cancelled, released, postponed, or failed by the
    Rescuer once its lease lapsed), at most `rate` claims in any `period` seconds ending at the
    claim's `now` (a sliding window of recorded starts, a start at exactly `now - period` out
    of it), at most `group_concurrency` running per job group (jobs without a group are not
    group-limited). A job of a saturated group is skipped, not waited for: the claim looks
    further among the queue's best GROUP_SCAN queued jobs, in (rank, id) order. A throttled
    job stays queued, untouched (no attempt spent)."""

    def declare_queues(self, limits: Mapping[str, QueueLimits]) -> None:
        """Store each queue's limits in one round trip, replacing what was stored; a queue
        given limits with none set (`QueueLimits()`) is stored as unlimited. Queues not named
        keep what they have."""
        ...

    def limited_queues(self, now: float | None = None) -> dict[str, LimitedQueue]:
        """Every queue with stored limits, with its jobs running and its starts in the window of
        its rate ending at `now`."""
        ...


class AdminBackend(
    AdminReads, AdminWrites, CancelRequests, Counters, Registry, SelfChecks, QueueLimitsStore, Protocol
):
    """What the admin API (and so the CLI, `top`, the dashboard and metrics) stands on."""

    url: str


class FullBackend(Waits, AdminBackend, Protocol):
    """Every capability but transactional enqueue: what `open_backend` returns."""
