"""Settler: what becomes of each finished job, said to the store.

The loop hands it the finished jobs (job, Outcome, when it ended); it takes each off the
in-flight table and routes it: completions and failures (the retry policy decides between
retrying and dead) are acknowledged in one round trip each for the batch; snoozed jobs and jobs
of tasks this worker does not define go back to the store unrun (`postpone`); jobs whose task
raised Cancel, those claimed past their expiry, and those whose run failed, retried or snoozed
after a cancel request (River's rule: a success acknowledged first stays succeeded), end
cancelled (`cancel_claimed`). A request the control thread has not learnt of yet is the
store's to enforce: its fail and postpone refuse a job with a request, in the same atomic write,
and the refused are then cancelled. What the store accepted is tallied and logged; what it
refused even a cancel of was a lease lost meanwhile.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence

from ..backends.base import Cancellation, ClaimedJob, Completion, Failure, Lease, Postponement
from ..backends.protocols import Backend
from ..errors import BackendError
from ..retry import failure_of
from . import events
from .control import write_progress
from .health import StoreWatch
from .inflight import Held, InFlight
from .runner import CANCEL_REQUESTED, Outcome
from .tally import RecentCount, Settled, Tally, verdict
from .unknown import UnknownTasks

Run = tuple[ClaimedJob, float | None]  # a finished job and how long its function ran
Finished = tuple[ClaimedJob, Outcome, float]  # a job, its outcome, when it ended (monotonic)
_Sent = Completion | Failure | Postponement | Cancellation  # what is reported of a finished job


class Settler:
    def __init__(
        self,
        backend: Backend,
        inflight: InFlight,
        store: StoreWatch,
        unknown: UnknownTasks,
        tally: Tally,
        rng: random.Random,
        *,
        lease: float,
        store_time: Callable[[], float | None],
        clock_now: Callable[[], float],
        learn_run_time: Callable[[float], None],
        changed: Callable[[], None],
    ) -> None:
        self.backend = backend
        self.inflight = inflight
        self.store = store
        self.unknown = unknown
        self.tally = tally
        self.rng = rng
        self.lease = lease
        self.store_time = store_time
        self.clock_now = clock_now
        self.learn_run_time = learn_run_time
        self.changed = changed  # a job was taken off, or the counts moved: the registry should say so
        self.finishes = RecentCount()

    def collect(self, finished: deque[Finished]) -> tuple[list[Completion], list[Failure], dict[str, Run]]:
        """Take the finished jobs off the in-flight table, as completions and failures; the
        snoozed and the unknown go back to the store here, and the cancelled are cancelled."""
        done: list[Completion] = []
        failed: list[Failure] = []
        runs: dict[str, Run] = {}
        unknown: list[ClaimedJob] = []
        snoozed: dict[str, tuple[Postponement, Run]] = {}
        cancelled: dict[str, tuple[Cancellation, Settled]] = {}
        done_jobs: list[ClaimedJob] = []
        for job, outcome, ended in [finished.popleft() for _ in range(len(finished))]:
            held = self.inflight.pop(job.id)
            if held is None:
                continue  # already failed by timeout
            done_jobs.append(job)
            if held.cancel_requested and _cancellable(outcome):
                outcome = CANCEL_REQUESTED  # River's rule: a failure, retry or snooze after a request
            if outcome.unknown_task:
                unknown.append(job)
                continue
            ran = held.ran(ended)
            if ran is not None:
                self.learn_run_time(ran)
            if outcome.snoozed:
                snoozed[job.id] = (Postponement(job.id, job.token, outcome.delay or 0.0), (job, ran))
                continue
            if outcome.cancelled:
                reason = Cancellation(job.id, job.token, outcome.error or "")
                cancelled[job.id] = (reason, Settled(job, "cancelled", ran))
                continue
            runs[job.id] = (job, ran)
            if outcome.ok and held.deadline is not None and ended > held.deadline:
                # It returned past its timeout before the loop could fail it: a C call holding
                # the GIL keeps the loop from running until it returns (the thread pool).
                outcome = overran(job)
            if outcome.ok:
                done.append(Completion(job.id, job.token, outcome.result or "null"))
            else:
                failed.append(self.failure(job, outcome))
        self._last_progress(done_jobs)
        if unknown:
            failed += self._give_back(unknown, runs)
        if snoozed:
            self._snooze(snoozed)
        if cancelled:
            self._cancel(cancelled)
        if done or failed or unknown or snoozed or cancelled:
            self.changed()
        return done, failed, runs

    def cancel_requested(self, jobs: list[ClaimedJob]) -> set[str]:
        """Which of these jobs given back unstarted have a cancel request in the store: asked
        here because the control thread learns of one only about a second after it was made,
        and `release` (unlike fail and postpone) does not refuse them. Should the store not
        answer, none (the next run's control thread still sees the request)."""
        if not jobs:
            return set()
        try:
            return self.backend.cancel_requests([job.id for job in jobs])
        except BackendError as exc:
            self.store.failed("reading cancel requests", exc)
            return set()

    def give_back(self, unstarted: list[ClaimedJob], requested: set[str]) -> None:
        """Claimed jobs no slot started, at a graceful stop: queued again untouched (`release`),
        but cancelled unrun those with a cancel request (`requested`, known already, or in the
        store)."""
        requested = requested | self.cancel_requested([j for j in unstarted if j.id not in requested])
        cancelled = {
            j.id: (Cancellation(j.id, j.token, CANCEL_REQUESTED.error or ""), Settled(j, "cancelled", None))
            for j in unstarted
            if j.id in requested
        }
        if cancelled:
            self._cancel(cancelled)
        kept = [Lease(j.id, j.token) for j in unstarted if j.id not in requested]
        if kept:
            self.backend.release(kept)

    def stopped(self, left: Sequence[Held], error: str) -> None:
        """Jobs still running when a graceful stop's grace ran out: failed with `error` (to be
        retried by the policy), or cancelled if a cancel was requested for them."""
        ended = time.monotonic()
        cancelled: dict[str, tuple[Cancellation, Settled]] = {}
        failed: list[Failure] = []
        runs: dict[str, Run] = {}
        for h in left:
            if h.cancel_requested:
                reason = Cancellation(h.job.id, h.job.token, CANCEL_REQUESTED.error or "")
                cancelled[h.job.id] = (reason, Settled(h.job, "cancelled", h.ran(ended)))
            else:
                runs[h.job.id] = (h.job, h.ran(ended))
                failed.append(self.failure(h.job, Outcome(error=error)))
        if cancelled:
            self._cancel(cancelled)
        self.acknowledge([], failed, runs)

    def _last_progress(self, jobs: list[ClaimedJob]) -> None:
        """The progress the runs reported since the control thread's last pass, written before
        their ends are acknowledged (after that, their tokens would be refused)."""
        try:
            write_progress(self.backend, jobs)
        except BackendError as exc:
            self.store.failed("writing progress", exc)

    def _give_back(self, jobs: list[ClaimedJob], runs: dict[str, Run]) -> list[Failure]:
        """Jobs of tasks this worker's app does not define go back to the store (unknown.py);
        the failures of those that waited too long. Should the store not answer, their leases
        lapse and the Rescuer queues them again."""
        try:
            dead, kept = self.unknown.settle(jobs)
        except BackendError as exc:
            self.store.failed("giving back jobs of unknown tasks", exc)
            return []
        by_id = {job.id: job for job in jobs}
        runs.update((f.id, (by_id[f.id], None)) for f in dead)
        self._cancel_refused([(job, None) for job in kept])
        return dead

    def _snooze(self, items: dict[str, tuple[Postponement, Run]]) -> None:
        """Jobs whose task raised Snooze go back unrun, the attempt not spent. Should the store
        not answer, their leases lapse and the Rescuer queues them again (an attempt lost)."""
        try:
            given_back = set(self.backend.postpone([p for p, _ in items.values()], self.store_time()))
        except BackendError as exc:
            self.store.failed("giving back snoozed jobs", exc)
            return
        self._cancel_refused([run for job_id, (_, run) in items.items() if job_id not in given_back])

    def _cancel_refused(self, runs: Sequence[Run]) -> None:
        """Runs whose failure or give-back the store refused: cancelled if it refused them for a
        cancel request; a cancel refused too says the lease was lost meanwhile."""
        reason = CANCEL_REQUESTED.error or ""
        self._cancel(
            {
                job.id: (Cancellation(job.id, job.token, reason), Settled(job, "cancelled", ran))
                for job, ran in runs
            }
        )

    def _cancel(self, items: dict[str, tuple[Cancellation, Settled]]) -> None:
        """Jobs whose task raised Cancel, claimed past their expiry, or with a cancel request
        end cancelled. Should the store not answer, their leases lapse and the Rescuer takes
        them back (and cancels those with a request)."""
        if not items:
            return
        sent = [item for item, _ in items.values()]
        try:
            accepted = self.backend.cancel_claimed(sent, self.store_time())
        except BackendError as exc:
            self.store.failed("cancelling jobs", exc)
            return
        refused(sent, accepted)
        settled = [items[job_id][1] for job_id in accepted]
        for run in settled:
            events.cancelled(run.job, items[run.job.id][0].reason)
        self.count(settled)

    def failure(self, job: ClaimedJob, outcome: Outcome) -> Failure:
        error = outcome.error or "failed"
        return failure_of(job, error, outcome.traceback, self.rng, final=outcome.final, delay=outcome.delay)

    def acknowledge(self, done: list[Completion], failed: list[Failure], runs: dict[str, Run]) -> None:
        """Report outcomes; while the backend is down keep trying (the lease may lapse, and
        then the job runs again: at-least-once). Then tally the outcomes the backend accepted,
        and cancel the failures it refused for a cancel request."""
        completed: list[str] = []
        accepted: set[str] = set()
        unsent = done
        delay = 0.1
        while True:
            try:
                if unsent:
                    completed = self.backend.complete(unsent, self.store_time())
                    unsent = []
                if failed:
                    accepted = set(self.backend.fail(failed, self.store_time()))
                break
            except BackendError as exc:
                self.store.failed("acknowledging", exc)
                time.sleep(delay)
                # never so long that the store is back for long before the next try
                delay = min(delay * 2, self.lease / 4, 5.0)
        refused(done, completed)
        settled = completions(completed, runs)
        for f in failed:
            if f.id in accepted:
                events.failed(runs[f.id][0], f)
                settled.append(Settled(runs[f.id][0], verdict(f), runs[f.id][1]))
        self.count(settled)
        self._cancel_refused([runs[f.id] for f in failed if f.id not in accepted])

    def count(self, settled: list[Settled]) -> None:
        """Log, tally and count the runs the store accepted."""
        events.succeeded(s.job for s in settled if s.verdict == "completed")
        self.tally.add(settled, self.clock_now())
        self.finishes.add(len(settled), time.monotonic())
        if settled:
            self.changed()  # the counts too, not only the jobs taken off


def refused(sent: Sequence[_Sent], accepted: Collection[str]) -> None:
    """Outcomes the store refused: their lease was lost (it expired and another worker took the
    job over, which a heartbeat may not have seen yet). The accepted are among those sent, so
    equal counts say none was refused without building a set on every batch."""
    if len(accepted) < len(sent):
        events.refused({outcome.id for outcome in sent}.difference(accepted))


def _cancellable(outcome: Outcome) -> bool:
    """A run's end that a cancel request turns into cancelled: a failure, a retry, a snooze."""
    return (outcome.snoozed or not outcome.ok) and not outcome.cancelled


def completions(ids: list[str], runs: dict[str, Run]) -> list[Settled]:
    return [Settled(runs[i][0], "completed", runs[i][1]) for i in ids]


def overran(job: ClaimedJob) -> Outcome:
    return Outcome(error=f"TimeoutError: job ran longer than its {job.timeout:g}s timeout")
