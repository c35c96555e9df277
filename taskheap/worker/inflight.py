"""InFlight: the jobs a worker holds, claimed and not yet settled, behind one lock.

Four kinds of thread touch it: the claimer adds what it claims (the loop or the waker), the
slots mark a job started, the loop takes finished and overdue jobs off, the heartbeat reads the
leases to renew. Each call holds the lock for a dict operation or one pass over the table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from ..backends.base import ClaimedJob, Lease


@dataclass(slots=True)
class Held:
    job: ClaimedJob
    renewed: float  # monotonic: the lease was surely current then (claim sent, heartbeat sent)
    started: float | None = None  # monotonic; None while it waits for a slot
    deadline: float | None = None  # monotonic; set when it starts and has a timeout
    cancel_requested: bool = False  # its run learnt of a cancel request (control.py)

    def ran(self, finished: float) -> float | None:
        """Seconds its function ran until `finished` (monotonic); None if it never started."""
        return None if self.started is None else finished - self.started


class InFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def add(self, jobs: Iterable[ClaimedJob], claimed: float) -> None:
        """Hold jobs whose claim was sent at `claimed` (monotonic): their leases run from then."""
        with self._lock:
            for job in jobs:
                self._held[job.id] = Held(job, claimed)

    def renewed(self, ids: Iterable[str], at: float) -> None:
        """The store renewed these leases by a heartbeat sent at `at` (monotonic)."""
        with self._lock:
            for job_id in ids:
                held = self._held.get(job_id)
                if held is not None and held.renewed < at:
                    held.renewed = at

    def lapsed(self, job_id: str, at: float, lease: float) -> bool:
        """Whether the job's lease may have run out by `at` (monotonic): neither its claim nor a
        heartbeat renewed it within `lease` seconds (the store could not be reached, say), so
        another worker may have taken it over."""
        with self._lock:
            held = self._held.get(job_id)
            return held is not None and at - held.renewed >= lease

    def start(self, job: ClaimedJob, at: float) -> float | None:
        """Mark the job started at `at` (monotonic); its deadline if it has a timeout."""
        with self._lock:
            held = self._held.get(job.id)
            if held is None:
                return None
            held.started = at
            if job.timeout:
                held.deadline = at + job.timeout
            return held.deadline

    def requested_before_start(self, job_id: str) -> bool:
        """Whether a cancel was requested for the job while it waited for a slot."""
        with self._lock:
            held = self._held.get(job_id)
            return held is not None and held.started is None and held.cancel_requested

    def cancel_requested(self, ids: Iterable[str]) -> None:
        with self._lock:
            for job_id in ids:
                held = self._held.get(job_id)
                if held is not None:
                    held.cancel_requested = True

    def pop(self, job_id: str) -> Held | None:
        """Take the job off; None if it was taken already (failed by its timeout, say)."""
        with self._lock:
            return self._held.pop(job_id, None)

    def held(self) -> list[Held]:
        """Every job held, left in place."""
        with self._lock:
            return list(self._held.values())

    def running(self) -> list[str]:
        """The ids of the jobs started in a slot (not those waiting for one)."""
        with self._lock:
            return [h.job.id for h in self._held.values() if h.started is not None]

    def leases(self) -> list[Lease]:
        with self._lock:
            return [Lease(h.job.id, h.job.token) for h in self._held.values()]

    def overdue(self, now: float) -> list[Held]:
        """The started jobs whose deadline is at or before `now` (monotonic), left in place."""
        with self._lock:
            return [h for h in self._held.values() if h.deadline is not None and h.deadline <= now]

    def next_deadline(self) -> float | None:
        with self._lock:
            return min((h.deadline for h in self._held.values() if h.deadline is not None), default=None)
