"""Background duties any worker may run at once with the others: each is `run_once(now)`, where
`now` is what the worker passes every backend call (None: the store's own clock decides).

Rescuer: a running job whose lease ran out lost its worker; the lost run counts as an attempt
and the job is retried (or dead) by the same rule as a failure (`retry.failure_of`), unless a
cancel was requested for it: then it ends cancelled. Promoter:
due scheduled and retrying jobs become queued. Expirer: waiting jobs never started whose expiry
passed end cancelled, "expired" (counted as cancelled). Pruner: finished jobs past their retention,
workers long gone, and per-minute counters older than a day. Lost runs are counted in the
per-minute counters too.
"""

from __future__ import annotations

import random
import time

from ..backends.base import Cancellation
from ..backends.protocols import Backend, Counters, Registry
from ..retry import failure_of
from . import events
from .tally import Settled, record, record_expired, verdict

BATCH = 500
#: Seconds of batches one pruning pass may take: a backlog left is pruned at the next tick. As
#: long as a tick (at most 1 s): deleting a job costs the store about what completing it did,
#: and a quarter of a second a tick fell behind a flood on Redis (44,200 finished jobs left).
PRUNE_BUDGET = 1.0
MINUTES_TTL = 24 * 3600.0  # per-minute counters kept this long (the all-time totals for good)
LOST = "lease expired: the worker running this job stopped heartbeating (lost or killed)"
CANCEL_LOST = "cancel requested (its worker was lost before it stopped the job)"


class Rescuer:
    def __init__(self, backend: Backend, counters: Counters, rng: random.Random | None = None) -> None:
        self.backend = backend
        self.counters = counters
        self.rng = rng or random.Random()

    def run_once(self, now: float | None = None) -> int:
        expired = self.backend.expired(BATCH, now)
        if not expired:
            return 0
        lost = {job.id: job for job in expired}
        failures = [failure_of(job, LOST, None, self.rng) for job in expired]
        accepted = set(self.backend.fail(failures, now))
        settled = [Settled(lost[f.id], verdict(f), None) for f in failures if f.id in accepted]
        # fail refuses a job with a cancel request (and one another worker rescued first)
        cancels = [Cancellation(job.id, job.token, CANCEL_LOST) for job in expired if job.id not in accepted]
        if cancels:
            settled += [
                Settled(lost[i], "cancelled", None) for i in self.backend.cancel_claimed(cancels, now)
            ]
        record(self.counters, settled, _labels(now))
        return len(settled)


class Promoter:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def run_once(self, now: float | None = None) -> int:
        return self.backend.promote_due(now)


class Expirer:
    def __init__(self, backend: Backend, counters: Counters) -> None:
        self.backend = backend
        self.counters = counters

    def run_once(self, now: float | None = None) -> int:
        expired = self.backend.expire_due(BATCH, now)
        if expired:
            events.expired(expired)
            record_expired(self.counters, expired, _labels(now))
        return len(expired)


class Pruner:
    def __init__(
        self,
        backend: Backend,
        registry: Registry,
        counters: Counters,
        result_ttl: float,
        worker_ttl: float,
    ) -> None:
        self.backend = backend
        self.registry = registry
        self.counters = counters
        self.result_ttl = result_ttl
        self.worker_ttl = worker_ttl
        self.backlog = False  # the last pass stopped at its budget with full batches still coming

    def run_once(self, now: float | None = None) -> int:
        self.registry.forget_workers(self.worker_ttl, now)
        self.counters.forget_minutes(int(_labels(now) - MINUTES_TTL))
        deadline = time.monotonic() + PRUNE_BUDGET
        pruned = 0
        while True:
            batch = self.backend.prune(self.result_ttl, BATCH, now)
            pruned += batch
            self.backlog = batch >= BATCH
            if not self.backlog or time.monotonic() >= deadline:
                return pruned


def _labels(now: float | None) -> float:
    """The time per-minute counters are labelled by: `now`, else this host's clock (a label,
    not a decision: counters are not judged against leases)."""
    return time.time() if now is None else now
