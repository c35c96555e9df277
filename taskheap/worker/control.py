"""CancelWatch: the worker's control thread. About once a second while it holds jobs (nothing
when idle) it writes the progress its running jobs reported since its last pass
(`record_progress`, the last report of each) and learns of cancel requests for every job it
holds (one batched `cancel_requests`): a job claimed ahead, still waiting for a slot, is then
never started (Worker._started cancels it unrun); for a running one, once, `current_job().cancelled`
turns True, the pool cancels an async job's coroutine, and a process child still running `grace`
seconds later is killed (its job cancelled). How a run that ends after a request settles is
settle.py's (River's rule)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from .. import progress
from ..backends.base import ClaimedJob, ProgressUpdate
from ..backends.protocols import Backend
from ..context import mark_cancel_requested
from .inflight import InFlight
from .pool import Slots

log = logging.getLogger("taskheap.worker")

POLL_EVERY = 1.0  # seconds between two looks for cancel requests while jobs run


class CancelWatch:
    def __init__(
        self,
        backend: Backend,
        inflight: InFlight,
        pool: Slots,
        grace: float,
        kill: Callable[[ClaimedJob], None],
    ) -> None:
        self.backend = backend
        self.inflight = inflight
        self.pool = pool
        self.grace = grace
        self.kill = kill  # ends a job whose child outlived the grace: killed, the job cancelled
        self._known: set[str] = set()  # the running jobs whose request was acted on
        self._kill_at: dict[str, tuple[ClaimedJob, float]] = {}  # monotonic deadlines

    def run_once(self) -> None:
        held = self.inflight.held()
        running = {h.job.id: h.job for h in held if h.started is not None}
        waiting = [h.job.id for h in held if h.started is None and not h.cancel_requested]
        gone = self._known - running.keys()
        write_progress(self.backend, running.values())
        if gone:
            self._known -= gone
            mark_cancel_requested(gone, False)
            for job_id in gone:
                self._kill_at.pop(job_id, None)
        if not running and not waiting:
            return
        requested = self.backend.cancel_requests(sorted([*running, *waiting]))
        # A job claimed ahead and still waiting for a slot is never started (Worker._started).
        self.inflight.cancel_requested(requested.intersection(waiting))
        new = requested.intersection(running) - self._known
        if new:
            self._known |= new
            self.inflight.cancel_requested(new)
            mark_cancel_requested(new, True)
        now = time.monotonic()
        for job_id in sorted(new):
            job = running[job_id]
            log.info("job %s (%s): cancel requested", job.id, job.task)
            if self.pool.cancel(job):
                self._kill_at[job_id] = (job, now + self.grace)
        for job_id, (job, deadline) in list(self._kill_at.items()):
            if deadline <= now:
                del self._kill_at[job_id]
                self.kill(job)


def write_progress(backend: Backend, jobs: Iterable[ClaimedJob]) -> None:
    """Write the progress these jobs reported and this process has not written yet."""
    tokens = {job.id: job.token for job in jobs}
    reports = progress.take(tokens)
    if reports:
        backend.record_progress([ProgressUpdate(i, tokens[i], report) for i, report in reports.items()])
