"""The one read/admin API over a backend: the CLI, `taskheap top`, the dashboard and metrics
all go through it, so they show the same thing from the durable store."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import progress
from .backends.base import ALL_TIME, JobQuery, JobRecord, MinuteCount, Replayed, WorkerInfo
from .backends.protocols import AdminBackend
from .backends.queue_limits import LimitedQueue, QueueLimits
from .codec import decode_payload, decode_result, headers_of
from .errors import BackendError, JobNotFound, PayloadError, UnknownQueue
from .job import (
    ACTIVE,
    ALL_STATES,
    QUEUE_NAME,
    REPLAYABLE,
    JobInfo,
    JobState,
    check_queue_name,
    first_id_at,
    last_id_before,
)
from .schedule import Schedule, from_iso, iso

PURGEABLE = frozenset({JobState.DEAD, JobState.SUCCEEDED, JobState.CANCELLED})
#: Jobs that have not started: what purging a queue deletes (`Admin.purge_waiting`).
WAITING_TO_RUN = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRYING})
#: States whose oldest job's age is a gauge: how long the oldest one has been waiting or stuck.
AGED = (*sorted(ACTIVE), JobState.DEAD)
#: A text search looks at this many newest jobs passing the other filters, no more.
TEXT_SCAN = 50_000
SKIPPED_COUNTED = 1000  # a schedule's skipped fires are counted up to this many
_EVERYTHING = 1 << 62
_JOB_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs to list, count, replay or purge; every field empty matches every job.

    `since`/`until` bound the creation time (`until` excluded); `search` is a job id, or else
    text to find in the arguments (among the TEXT_SCAN newest jobs passing the other filters).
    """

    queue: str | None = None
    state: JobState | None = None
    task: str | None = None
    since: float | None = None
    until: float | None = None
    search: str | None = None

    def query(self, *, before: str | None = None, limit: int = _EVERYTHING) -> JobQuery:
        search = self.search or None
        by_id = search is not None and _JOB_ID.fullmatch(search) is not None
        after = None if self.since is None else last_id_before(self.since)
        bounds = [b for b in (before, self.until and first_id_at(self.until)) if b]
        return JobQuery(
            ids=(search,) if by_id and search else None,
            queue=self.queue,
            state=self.state,
            task=self.task,
            limit=limit,
            before=min(bounds, default=None),
            after=after,
            text=None if by_id else search,
            scan=None if by_id or search is None else TEXT_SCAN,
        )


@dataclass(frozen=True, slots=True)
class Minute:
    """Outcomes of every run in one minute (of one queue, or all)."""

    minute: int
    completed: int = 0
    retried: int = 0
    dead: int = 0
    cancelled: int = 0  # runs that raised Cancel, and jobs that expired before their first start

    @property
    def failed(self) -> int:
        return self.retried + self.dead

    @property
    def failure_rate(self) -> float:
        runs = self.completed + self.failed
        return self.failed / runs if runs else 0.0


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything a live view shows at once, read in one pass (see `Admin.overview`)."""

    at: float
    counts: dict[str, dict[str, int]]
    by_priority: dict[str, dict[int, int]]
    paused: frozenset[str]
    workers: list[dict[str, Any]]
    oldest: dict[tuple[str, JobState], float] = field(default_factory=dict)  # age in seconds
    activity: list[Minute] = field(default_factory=list)  # the last hour, oldest first
    limits: dict[str, QueueLoad] = field(default_factory=dict)  # the queues with limits at claim

    @property
    def slots(self) -> tuple[int, int]:
        """(busy, total) slots of the live workers (a lost worker's count as none)."""
        live = [w for w in self.workers if not w["lost"]]
        return sum(len(w["jobs"]) for w in live), sum(w["concurrency"] for w in live)

    def total(self, state: JobState) -> int:
        return sum(by_state.get(state, 0) for by_state in self.counts.values())


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A running job (its progress in `job.progress`) and whether a cancel was requested for it."""

    job: JobInfo
    cancel_requested: bool


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One known queue: its counts by state (zeros included), whether it is paused, and the ids
    of the live workers serving it (a lost worker serves nothing)."""

    name: str
    counts: dict[str, int]
    paused: bool
    workers: list[str]
    #: Its limits at claim as the store holds them, with its load: None for an unlimited queue.
    limits: QueueLoad | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """A limited queue's limits (None: not limited that way) and what holds them now: its jobs
    running and its starts in the rate's window ending now."""

    concurrency: int | None
    rate: str | None
    group_concurrency: int | None
    running: int
    started: int

    @classmethod
    def of(cls, queue: LimitedQueue) -> QueueLoad:
        limits = queue.limits
        return cls(
            limits.concurrency, limits.rate_text, limits.group_concurrency, queue.running, queue.started
        )

    def describe(self) -> str:
        """`running 3/5, starts 42/100/s, 2 per group`."""
        parts = [f"running {self.running}/{self.concurrency if self.concurrency is not None else '-'}"]
        if self.rate is not None:
            parts.append(f"starts {self.started}/{self.rate}")
        if self.group_concurrency is not None:
            parts.append(f"{self.group_concurrency} per group")
        return ", ".join(parts)


class Admin:
    def __init__(self, backend: AdminBackend, store_time: Callable[[], float | None] = lambda: None) -> None:
        self.backend = backend
        self.store_time = store_time  # `now` for the writes that decide by time (App.store_time)

    # -- reads --------------------------------------------------------------------------
    def record(self, job_id: str) -> JobRecord | None:
        """The job as stored (payload and result still encoded): what a caller polling for an
        outcome reads, without decoding the arguments on every look."""
        return self.backend.get(job_id)

    def job(self, job_id: str) -> JobInfo:
        record = self.backend.get(job_id)
        if record is None:
            raise JobNotFound(f"job {job_id} not found")
        return to_info(record)

    def jobs(
        self,
        *,
        queue: str | None = None,
        state: JobState | str | None = None,
        task: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo]:
        """Newest first."""
        return self.find(JobFilter(queue=queue, state=_state(state), task=task), limit=limit)

    def find(self, where: JobFilter, *, before: str | None = None, limit: int = 100) -> list[JobInfo]:
        """Newest first; `before` (the last id of the previous page) pages through by keyset."""
        query = where.query(before=before, limit=limit)
        return [to_info(r) for r in self.backend.list_jobs(query)]

    def running(self, *, queue: str | None = None, limit: int = 100) -> list[RunningJob]:
        """The running jobs (of `queue`), newest first (by enqueue time, as every listing), at
        most `limit`, each marked if a cancel was requested: one listing and one batched read of
        the requests of the jobs listed, so the cost is O(limit) whatever else runs."""
        jobs = self.find(JobFilter(queue=queue, state=JobState.RUNNING), limit=limit) if limit > 0 else []
        requested = self.backend.cancel_requests([job.id for job in jobs]) if jobs else set()
        return [RunningJob(job, job.id in requested) for job in jobs]

    def count(self, where: JobFilter) -> int:
        return self.backend.count_jobs(where.query())

    def counts(self) -> dict[str, dict[str, int]]:
        """Per queue, every state with its count (zeros included)."""
        return {
            queue: {str(s): by_state.get(s, 0) for s in ALL_STATES}
            for queue, by_state in sorted(self.backend.counts().items())
        }

    def active_count(self, queues: Sequence[str] | None = None) -> int:
        return sum(
            n
            for queue, by_state in self.backend.counts().items()
            if queues is None or queue in queues
            for state, n in by_state.items()
            if state in ACTIVE
        )

    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        return self.backend.queued_by_priority()

    def workers(self) -> list[dict[str, Any]]:
        """The registered workers, each with `lost`: True once it has missed its heartbeats for
        longer than its lease (its jobs are then rescued; it counts as no capacity). A lost
        worker is listed until the App's `worker_ttl` of silence, then forgotten."""
        return [asdict(w) | {"lost": _lost(w)} for w in self.backend.workers()]

    def stats(self) -> dict[str, Any]:
        return {
            "queues": self.counts(),
            "paused": sorted(self.paused()),
            "workers": self.workers(),
            "warnings": self.warnings(),
        }

    def queue_names(self, declared: Iterable[str] = ()) -> list[str]:
        """Every queue the store knows, sorted: one holding jobs, paused (or ever paused), served
        by a registered worker, or counted by an enqueue once (the all-time totals); and the
        `declared` ones (the queues an App names)."""
        backend = self.backend
        return _known(backend.counts(), backend.paused(), backend.workers(), self.totals(), declared)

    def queues(self, declared: Iterable[str] = ()) -> list[QueueInfo]:
        """Every queue of `queue_names`, with its counts, pause, workers and limits."""
        counts, paused, workers = self.counts(), self.paused(), self.backend.workers()
        limited = self.limited_queues()
        names = _known(counts, paused, workers, self.totals(), [*declared, *limited])
        zero = dict.fromkeys(map(str, ALL_STATES), 0)
        return [
            QueueInfo(
                name,
                counts.get(name, zero),
                name in paused,
                [w.id for w in workers if name in w.queues and not _lost(w)],
                limited.get(name),
            )
            for name in names
        ]

    def limited_queues(self) -> dict[str, QueueLoad]:
        """The queues the store holds limits at claim for, each with its load now."""
        return {name: QueueLoad.of(q) for name, q in self.backend.limited_queues(self.store_time()).items()}

    def clear_limits(self, queue: str) -> QueueLoad | None:
        """Drop the limits at claim the store holds for `queue` (none is no error): for a queue
        no App declares any more, whose stored limits would hold for good. An App that declares
        limits for it stores them again when it opens. Returns the limits cleared, or None."""
        held = self.limited_queues().get(queue)
        if held is not None:
            self.backend.declare_queues({queue: QueueLimits()})
        return held

    def warnings(self) -> list[str]:
        """What about the store may lose jobs or expose them, each naming its fix and the code
        that silences it ($TASKHEAP_SILENCE); a store that will not answer the checks (INFO
        disabled on a managed Redis, say) is a warning too, not a failed `status`."""
        try:
            return [str(check) for check in self.backend.self_checks()]
        except BackendError as exc:
            return [f"could not run the store's self-checks: {exc}"]

    def paused(self) -> frozenset[str]:
        return frozenset(self.backend.paused())

    def oldest(self, now: float) -> dict[tuple[str, JobState], float]:
        """Per (queue, state) of AGED, how long ago its oldest job was enqueued."""
        return {
            (queue, state): max(0.0, now - enqueued_at)
            for state in AGED
            for queue, enqueued_at in self.backend.oldest(state).items()
        }

    def activity(self, now: float, *, minutes: int = 60, queue: str | None = None) -> list[Minute]:
        """Run outcomes per minute over the last `minutes` (this one included), oldest first."""
        last = int(now // 60) * 60
        first = last - (minutes - 1) * 60
        sums = {m: [0, 0, 0, 0] for m in range(first, last + 1, 60)}
        for row in self.backend.minutes(first):
            if row.minute in sums and queue in (None, row.queue):
                for i, n in enumerate((row.completed, row.retried, row.dead, row.cancelled)):
                    sums[row.minute][i] += n
        return [Minute(m, *total) for m, total in sums.items()]

    def totals(self) -> list[MinuteCount]:
        """All-time outcome counts per queue and task (rows of minute ALL_TIME)."""
        return [row for row in self.backend.minutes(ALL_TIME) if row.minute == ALL_TIME]

    def overview(self, now: float, *, activity: bool = True) -> Overview:
        """Counts by state and priority, paused queues, workers, oldest ages and the last hour."""
        return Overview(
            at=now,
            counts=self.counts(),
            by_priority=self.queued_by_priority(),
            paused=self.paused(),
            workers=self.workers(),
            oldest=self.oldest(now),
            activity=self.activity(now) if activity else [],
            limits=self.limited_queues(),
        )

    # -- writes -------------------------------------------------------------------------
    def replay(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        state: JobState | str | None = JobState.DEAD,
    ) -> Replayed:
        """Jobs in `state` (None: dead or retrying) run again now: a dead letter from scratch
        (attempts reset), a retrying job without waiting out its backoff (attempts kept). All
        of them (in `queue`) when no ids are given. How many, an int whose `held` counts the dead
        jobs left dead because another active job holds their unique key."""
        target = _state(state)
        if target is not None:
            _check(target, REPLAYABLE, "replayed")
        return self.backend.replay(_selection(ids, queue, target))

    def replay_matching(self, where: JobFilter) -> Replayed:
        """Replay (see `replay`) every job matching `where` (dead ones when it names no state)."""
        target = replace(where, state=where.state or JobState.DEAD)
        _check(target.state, REPLAYABLE, "replayed")
        return self.backend.replay(target.query())

    def purge_matching(self, where: JobFilter) -> int:
        """Delete the finished jobs matching `where` (dead ones when it names no state)."""
        target = replace(where, state=where.state or JobState.DEAD)
        _check(target.state, PURGEABLE, "purged")
        return self.backend.purge(target.query())

    def purge(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        state: JobState | str = JobState.DEAD,
    ) -> int:
        """Delete finished jobs (dead by default); active jobs are never purged."""
        target = _state(state)
        _check(target, PURGEABLE, "purged")
        return self.backend.purge(_selection(ids, queue, target))

    def schedules(self, schedules: Iterable[Schedule], now: float, *, runs: int = 5) -> list[dict[str, Any]]:
        """Each schedule: its definition, its next 3 fire times, its last `runs` jobs (found
        among the newest 100 jobs of its task by their unique keys: cheap and bounded) and how
        many fires since the oldest of those found have no job though they can no longer run
        (`skipped`: misfires, or no worker up; counted up to SKIPPED_COUNTED; None before a
        first run is found)."""
        shown = []
        for schedule in schedules:
            prefix = f"schedule:{schedule.name}:"
            last = [
                j for j in self.jobs(task=schedule.task, limit=100) if (j.unique_key or "").startswith(prefix)
            ]
            fired = {
                fire for j in last if (fire := _fire_time((j.unique_key or "")[len(prefix) :])) is not None
            }
            shown.append(
                {
                    "name": schedule.name,
                    "task": schedule.task,
                    "when": schedule.describe(),
                    "next": [iso(t) for t in schedule.next_fires(now, 3)],
                    "last_runs": [
                        {"id": j.id, "state": str(j.status), "fire": (j.unique_key or "")[len(prefix) :]}
                        for j in last[:runs]
                    ],
                    "skipped": schedule.skipped(min(fired), now, fired, SKIPPED_COUNTED) if fired else None,
                    "skipped_since": iso(min(fired)) if fired else None,
                }
            )
        return shown

    def cancel(self, job_id: str) -> bool:
        return self.backend.cancel(job_id, self.store_time())

    def pause(self, queue: str, *, create: bool = True, declared: Iterable[str] = ()) -> None:
        """Workers stop claiming from `queue` (running jobs finish). With `create=False` a queue
        unknown to the store and not among `declared` (the queues an App names) is refused with
        UnknownQueue; otherwise a new name is paused ahead of its first job (if it is valid)."""
        self._known_or_new(queue, create, declared)
        self.backend.set_paused(queue, True)

    def resume(self, queue: str, *, create: bool = True, declared: Iterable[str] = ()) -> None:
        """Workers claim from `queue` again; `create` and `declared` as for `pause`."""
        self._known_or_new(queue, create, declared)
        self.backend.set_paused(queue, False)

    def _known_or_new(self, queue: str, create: bool, declared: Iterable[str]) -> None:
        if create and QUEUE_NAME.fullmatch(queue):
            return
        known = self.queue_names(declared)
        if queue in known:
            return  # even a name from before names were checked: it can still be resumed
        if create:
            check_queue_name(queue)
        raise UnknownQueue(f"no queue {queue!r}; known: {', '.join(known) or 'none'}")

    def purge_waiting(self, queue: str, states: Iterable[JobState | str] = WAITING_TO_RUN) -> int:
        """Delete `queue`'s jobs in `states` (default: every job that has not started: queued,
        scheduled, retrying) for good; a job claimed meanwhile is running and stays. Returns
        how many were deleted."""
        targets = {_state(s) for s in states}
        for target in targets:
            _check(target, WAITING_TO_RUN, "purged from a queue")
        chosen = [s for s in ALL_STATES if s in targets]
        return sum(self.backend.purge(_selection(None, queue, state)) for state in chosen)


def _fire_time(text: str) -> float | None:
    """The fire time in a schedule job's unique key; None for one the scheduler did not write."""
    try:
        return from_iso(text)
    except ValueError:
        return None


def _lost(worker: WorkerInfo) -> bool:
    """Silent for longer than its lease: its jobs are rescued, and it counts as no capacity."""
    return worker.silent_for > worker.lease


def _known(
    counts: Iterable[str],
    paused: Iterable[str],
    workers: Iterable[WorkerInfo],
    totals: Iterable[MinuteCount],
    declared: Iterable[str],
) -> list[str]:
    names = {*counts, *paused, *declared}
    names.update(queue for worker in workers for queue in worker.queues)
    names.update(row.queue for row in totals)
    return sorted(names)


def _selection(ids: Sequence[str] | None, queue: str | None, state: JobState | None) -> JobQuery:
    """Every job with one of `ids` (all when None) in `queue` and `state` (any when None)."""
    return JobQuery(ids=tuple(ids) if ids is not None else None, queue=queue, state=state, limit=_EVERYTHING)


def _state(state: JobState | str | None) -> JobState | None:
    if state is None:
        return None
    try:
        return JobState(state)
    except ValueError:
        names = ", ".join(ALL_STATES)
        raise ValueError(f"unknown job state {state!r}; expected one of {names}") from None


def _check(state: JobState | None, allowed: frozenset[JobState], done: str) -> None:
    if state not in allowed:
        names = " or ".join(sorted(allowed))
        raise ValueError(f"only {names} jobs can be {done}, not {state}")


def to_info(record: JobRecord) -> JobInfo:
    try:
        args, kwargs = decode_payload(record.payload)
    except PayloadError:
        args, kwargs = [], {}
    try:
        result = decode_result(record.result)
    except ValueError:
        result = None
    try:
        headers = headers_of(record.meta)
    except PayloadError:  # a row written by hand: its run says what is wrong
        headers = {}
    return JobInfo(
        id=record.id,
        task=record.task,
        queue=record.queue,
        priority=record.priority,
        status=record.state,
        attempts=record.attempts,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
        worker=record.worker,
        args=args,
        kwargs=kwargs,
        retries=record.retries,
        run_at=record.run_at,
        result=result,
        traceback=record.traceback,
        failed_attempts=record.failed_attempts,
        headers=headers,
        unique_key=record.unique_key,
        progress=progress.decoded(record.progress, record.progress_at),
    )
