"""UnknownTasks: what a worker does with a claimed job whose task its app does not define.

In a rolling deploy a newer producer enqueues a task that an older worker has never heard of; a
worker that knows it may be starting right now. So such a job is not run and not failed: it is
given back (`Backend.postpone`: scheduled a few seconds later, its attempt not spent, so that it
does not bounce straight back to the same worker) and the store keeps when that first happened
(`unknown_since`). Only once it has waited `ttl` seconds (an hour by default) and no live worker
serving its queue declares the task (the registry lists each worker's tasks) does it become dead,
with an "unknown task" error that says so. The rare path: per claimed batch of such jobs, one
read of their records, a registry read once a wait is over, and one postpone.

A `--burst` worker asks `only_unrunnable` whether the active jobs left are all of tasks it cannot
run, so that it does not wait out the hour for them.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from ..backends.base import ClaimedJob, Failure, JobQuery, Postponement, WorkerInfo
from ..backends.protocols import AdminReads, Backend, Registry
from ..job import ACTIVE

log = logging.getLogger("taskheap.worker")

DEFAULT_TTL = 3600.0
RETRY_AFTER = (2.0, 3.0)  # seconds until a given-back job is due again: uniform in this range


class Store(Backend, Registry, AdminReads, Protocol):
    """What deciding about unknown tasks reads and writes."""


class UnknownTasks:
    def __init__(
        self,
        store: Store,
        ttl: float,
        rng: random.Random,
        now: Callable[[], float | None],
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.rng = rng
        self.now = now  # the App's store_time: None lets the store's clock decide
        self.seen: set[tuple[str, str]] = set()  # (queue, task) of the unknown jobs claimed

    def settle(self, jobs: Sequence[ClaimedJob]) -> tuple[list[Failure], list[ClaimedJob]]:
        """Give back every job of `jobs` (all of tasks unknown here) whose wait is not over.
        Return the final failures of those whose wait is over, for the caller to report, and
        the jobs the store refused to give back (a cancel request, or a lease lost). One read of
        the jobs' records, one of the registry if some wait is over, one postpone."""
        for job in jobs:
            self._note(job)
        since = self._waiting_since(jobs)
        workers: list[WorkerInfo] | None = None
        postponed: list[Postponement] = []
        dead: list[Failure] = []
        for job in jobs:
            first = since.get(job.id)
            if first is not None and self._elapsed(first) >= self.ttl:
                workers = self.store.workers() if workers is None else workers
                if not _declared(job, workers):
                    dead.append(Failure(job.id, job.token, self._error(job, first), None, None))
                    continue
            postponed.append(Postponement(job.id, job.token, self.rng.uniform(*RETRY_AFTER), True))
        given_back = set(self.store.postpone(postponed, self.now())) if postponed else set()
        for item in postponed:
            if item.id in given_back:
                log.debug("job %s given back, due again in %.1fs", item.id, item.delay)
        kept = {item.id for item in postponed} - given_back
        return dead, [job for job in jobs if job.id in kept]

    def _error(self, job: ClaimedJob, since: float) -> str:
        when = dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="seconds")
        return (
            f"unknown task {job.task!r}: no live worker of queue {job.queue!r} has declared it"
            f" for {self.ttl:g}s (first given back at {when})"
        )

    def _note(self, job: ClaimedJob) -> None:
        """Say once per queue and task that this worker gives such jobs back."""
        if (job.queue, job.task) not in self.seen:
            self.seen.add((job.queue, job.task))
            log.info(
                "task %r of queue %r is not defined by this worker's app: its jobs are given back"
                " for a worker that defines it, attempts not spent (dead after %gs without one)",
                job.task,
                job.queue,
                self.ttl,
            )

    def _waiting_since(self, jobs: Sequence[ClaimedJob]) -> dict[str, float]:
        """Each job's `unknown_since`, for those given back before."""
        query = JobQuery(ids=tuple(job.id for job in jobs), limit=len(jobs))
        return {r.id: r.unknown_since for r in self.store.list_jobs(query) if r.unknown_since is not None}

    def _elapsed(self, since: float) -> float:
        """Seconds since `since` by the clock the store wrote it with (this host's wall clock
        where the store's own is not at hand: they agree to well within the hour)."""
        now = self.now()
        return (time.time() if now is None else now) - since

    def only_unrunnable(self, active: int, queues: Collection[str]) -> bool:
        """Whether the `active` jobs of `queues` are all of the unknown tasks met so far."""
        if not self.seen:
            return False
        unrunnable = sum(
            self.store.count_jobs(JobQuery(queue=queue, task=task, state=state))
            for queue, task in self.seen
            if queue in queues
            for state in ACTIVE
        )
        return unrunnable >= active


def _declared(job: ClaimedJob, workers: Sequence[WorkerInfo]) -> bool:
    """Whether a live worker that serves the job's queue declares its task."""
    return any(job.task in w.tasks and job.queue in w.queues and w.silent_for <= w.lease for w in workers)
