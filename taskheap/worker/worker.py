"""Worker: the process lifecycle, the claim loop, signals, and graceful or forced stop.

Duties: claim jobs in batches up to free capacity (with nothing in flight, waiting for work and
claiming it in one backend call); hand them to a pool of slots; acknowledge outcomes in batches
(complete / fail with the retry policy); fail jobs that overrun their timeout; count outcomes
per minute (Tally, written about once a second); keep leases alive (Heartbeat) and run
maintenance (Rescuer, Promoter, Pruner) on their own threads; on SIGTERM/SIGINT stop claiming,
give unstarted jobs back, let running ones finish within the grace period, exit 0; a second
SIGINT exits at once.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from ..backends.base import ClaimedJob, Completion, Failure, Lease, WorkerInfo
from ..errors import BackendError, ConfigError
from ..retry import Backoff, next_run_at
from .heartbeat import Heartbeat
from .maintenance import Promoter, Pruner, Rescuer
from .pool import ProcessPool, ThreadPool
from .runner import Outcome
from .tally import Observer, Settled, Tally, verdict

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("taskheap.worker")

IDLE_WAIT = 1.0  # longest sleep between claims while idle; wakes come sooner
PRUNE_EVERY = 60.0
TALLY_EVERY = 1.0  # how often the per-minute counters are written, off the claim loop
PREFETCH_WAIT = 0.02  # auto prefetch: claim ahead only what should start within this many seconds
PREFETCH_PER_SLOT = 16  # and never more than this many jobs ahead per slot
RUN_TIME_WEIGHT = 0.1  # weight of each new run in the moving mean of run times
HANDOVER_WAIT = 0.002  # how long the waker lets a slot start the jobs it claimed before going on


_Run = tuple[ClaimedJob, float | None]  # a finished job and how long its function ran


@dataclass(slots=True)
class _InFlight:
    job: ClaimedJob
    started: float | None = None  # monotonic
    deadline: float | None = None  # monotonic; set when the job starts and has a timeout


class Worker:
    def __init__(
        self,
        app: App,
        *,
        queues: Sequence[str] = ("default",),
        concurrency: int = 4,
        pool: str = "thread",
        app_path: str | None = None,
        burst: bool = False,
        grace: float = 30.0,
        prefetch: int | None = None,
        observer: Observer | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        if pool not in ("thread", "process"):
            raise ConfigError(f"pool must be 'thread' or 'process', got {pool!r}")
        if pool == "process" and not app_path:
            raise ConfigError("--pool process needs the app path (-A module:attribute)")
        self.app = app
        self.backend = app.backend
        self.queues = list(queues)
        self.concurrency = concurrency
        self.burst = burst
        self.grace = grace
        self.observer = observer
        self.prefetch = prefetch
        self._mean_run: float | None = None  # seconds, a moving mean of recent runs
        self.id = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.info = WorkerInfo(
            self.id, socket.gethostname(), os.getpid(), self.queues, concurrency, time.time()
        )
        self.rng = random.Random()
        self._inflight: dict[str, _InFlight] = {}
        self._done: deque[tuple[ClaimedJob, Outcome, float]] = deque()  # (…, monotonic end)
        self._wake = threading.Event()
        self._waker_thread = threading.Thread(target=self._waker, name="taskheap-waker", daemon=True)
        self._idle = threading.Event()  # set: the waker is (about to be) out to claim
        self._slot_took = threading.Event()  # set: a slot started a job
        self._waker_limit = 0  # how many jobs it may claim (set before _idle)
        self._stopping = threading.Event()  # no new claims
        self._finished = threading.Event()  # the background duties end too (after the grace)
        self._interrupts = 0
        self._rescuer = Rescuer(self.backend, self.rng)
        self._promoter = Promoter(self.backend)
        self._pruner = Pruner(self.backend, app.result_ttl)
        self._last_prune = 0.0
        self.tally = Tally(self.backend, observer)
        if pool == "process":
            assert app_path is not None
            self.pool: ThreadPool | ProcessPool = ProcessPool(
                app_path, concurrency, self._started, self._report
            )
        else:
            self.pool = ThreadPool(app.tasks, concurrency, self._started, self._report)

    @property
    def capacity(self) -> int:
        """Jobs this worker may hold: a slot each, plus those claimed ahead."""
        return self.concurrency + self._ahead()

    def _ahead(self) -> int:
        """Prefetched jobs are leased ("running") while they wait for a slot, and a better job
        enqueued meanwhile waits behind them. So by default (prefetch None) claim ahead only as
        many as recent run times say will start within PREFETCH_WAIT: many for tiny jobs, where
        round trips dominate, none for slow ones."""
        if self.prefetch is not None:
            return self.prefetch
        if self._mean_run is None:
            return 0
        ahead = PREFETCH_WAIT * self.concurrency / max(self._mean_run, 1e-6)
        return min(int(ahead), PREFETCH_PER_SLOT * self.concurrency)

    def _learn_run_time(self, seconds: float) -> None:
        if self._mean_run is None:
            self._mean_run = seconds
        else:
            self._mean_run += RUN_TIME_WEIGHT * (seconds - self._mean_run)

    # -- callbacks from slots -----------------------------------------------------------
    def _started(self, job: ClaimedJob) -> None:
        self._slot_took.set()
        entry = self._inflight.get(job.id)
        if entry is not None:
            entry.started = time.monotonic()
            if job.timeout:
                entry.deadline = entry.started + job.timeout
                self._wake.set()  # the loop's sleep was timed before this deadline existed
        if self.observer is not None:
            self.observer.started(job)

    def _report(self, job: ClaimedJob, outcome: Outcome) -> None:
        self._done.append((job, outcome, time.monotonic()))
        self._wake.set()

    # -- lifecycle ----------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped (or, with burst, until the queues are empty); the exit code."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        self.pool.start()
        heartbeat = Heartbeat(self.backend, self.info, self.app.lease, self._leases, self._lost)
        heartbeat.run_once()
        threads = [
            self._every(min(self.app.lease / 3, 10.0), heartbeat.run_once, "heartbeat"),
            self._every(min(self.app.lease / 4, 1.0), self._maintain, "maintenance"),
            self._every(TALLY_EVERY, self.tally.flush, "tally"),
            self._waker_thread,
        ]
        for thread in threads:
            thread.start()
        log.info("worker %s serving %s", self.id, ",".join(self.queues))
        try:
            self._loop()
            self._drain()
        finally:
            self._stopping.set()
            self._finished.set()
            self._idle.set()
            self.pool.stop()
            self.tally.flush()
            try:
                self.backend.unregister(self.id)
            except BackendError as exc:
                log.warning("could not unregister worker: %s", exc)
            # Their backend calls must end before the caller may close the store under them.
            for thread in threads:
                thread.join(IDLE_WAIT + 1.0)
        return 0

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._interrupts += 1
        if self._interrupts > 1 and signum == signal.SIGINT:
            log.warning("second interrupt: exiting at once; leases will expire")
            os._exit(130)
        log.info("stopping: no new claims, running jobs get %ss", self.grace)
        self.stop()

    def _every(self, interval: float, duty: Callable[[], object], name: str) -> threading.Thread:
        def loop() -> None:
            while not self._finished.wait(interval):  # heartbeats go on through the grace period
                self._guarded(name, duty)

        return threading.Thread(target=loop, name=f"taskheap-{name}", daemon=True)

    def _guarded(self, name: str, duty: Callable[[], object]) -> bool:
        """Run one background duty; False if it failed. A backend error is retried later; any
        error once finished ends quietly (whoever ran the worker may have closed the store)."""
        try:
            duty()
        except BackendError as exc:
            log.warning("%s failed (will retry): %s", name, exc)
            return False
        except Exception:
            if not self._finished.is_set():
                raise
            return False
        return True

    # -- the claim loop -----------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            self._enforce_timeouts()
            if self._idle.is_set():
                self._settle()  # the waker is out to claim: only one claimer at a time
            elif self._settle_and_claim():
                continue
            free = self.capacity - len(self._inflight)
            if free > 0 and not self._idle.is_set():
                if self.burst and not self._inflight and self._queues_empty():
                    return
                self._waker_limit = free
                self._idle.set()
            self._wake.wait(self._next_timeout())

    def _settle_and_claim(self) -> bool:
        """Acknowledge finished jobs and claim for the free slots in one round trip (failures,
        rare, go first on their own); True if jobs were claimed."""
        done, failed, runs = self._collect()
        if failed:
            self._acknowledge([], failed, runs)
        free = self.capacity - len(self._inflight)
        if free <= 0:
            self._acknowledge(done, [], runs)
            return False
        try:
            completed, jobs = self.backend.complete_and_claim(
                done, self.queues, self.id, free, self.app.lease
            )
        except BackendError as exc:
            log.warning("claim failed (will retry): %s", exc)
            self._acknowledge(done, [], runs)
            self._stopping.wait(0.5)
            return False
        self._refused(done, completed)
        self._tally(_completed(completed, runs))
        self._start(jobs)
        return bool(jobs)

    def _start(self, jobs: list[ClaimedJob]) -> None:
        for job in jobs:
            self._inflight[job.id] = _InFlight(job)
            self.pool.submit(job)

    def _queues_empty(self) -> bool:
        try:
            return self.app.admin.active_count(self.queues) == 0
        except BackendError as exc:
            log.warning("could not count active jobs (will retry): %s", exc)
            return False

    def _next_timeout(self) -> float:
        deadlines = [e.deadline for e in list(self._inflight.values()) if e.deadline is not None]
        if not deadlines:
            return IDLE_WAIT
        return max(0.0, min(min(deadlines) - time.monotonic(), IDLE_WAIT))

    def _waker(self) -> None:
        """While slots are free and the queues had nothing more, the one claimer: block on the
        backend until work arrives, claim it in the same call (one round trip where the backend
        can) and start it. The loop meanwhile only acknowledges outcomes."""
        while not self._stopping.is_set():
            if not self._idle.wait(IDLE_WAIT) or self._stopping.is_set():
                continue
            try:
                if not self._guarded("waiting for work", self._wait_and_claim):
                    self._stopping.wait(0.5)
            except Exception:  # the loop claims nothing while the waker is out: it must not die
                log.exception("waiting for work failed (will retry)")
                self._stopping.wait(0.5)
            finally:
                self._idle.clear()
                self._wake.set()

    def _wait_and_claim(self) -> None:
        """Wait, claim and start; for up to IDLE_WAIT, again while claims come back short of the
        free slots (the queues ran dry: a claim by the loop would find nothing), so at light load
        a job costs this one call and its acknowledgement. A full claim hands back to the loop,
        which claims more as slots free up, acknowledging in the same round trip."""
        limit = self._waker_limit
        until = time.monotonic() + IDLE_WAIT
        while not self._stopping.is_set() and (left := until - time.monotonic()) > 0:
            jobs = self.backend.wait_and_claim(self.queues, self.id, limit, self.app.lease, left)
            self._slot_took.clear()
            self._start(jobs)
            if jobs:  # let a slot thread take the GIL first: preparing the next wait would hold it
                self._slot_took.wait(HANDOVER_WAIT)
            full, limit = len(jobs) == limit, self.capacity - len(self._inflight)
            if full or limit <= 0:
                return

    # -- outcomes -----------------------------------------------------------------------
    def _settle(self) -> None:
        """Acknowledge every finished job: one complete and one fail round trip for the batch."""
        if self._done:
            self._acknowledge(*self._collect())

    def _collect(self) -> tuple[list[Completion], list[Failure], dict[str, _Run]]:
        """Take the finished jobs off the in-flight table, as completions and failures."""
        done: list[Completion] = []
        failed: list[Failure] = []
        runs: dict[str, _Run] = {}
        now = time.time()
        while self._done:
            job, outcome, finished = self._done.popleft()
            entry = self._inflight.pop(job.id, None)
            if entry is None:
                continue  # already failed by timeout
            ran = _ran(entry, finished)
            runs[job.id] = (job, ran)
            if ran is not None:
                self._learn_run_time(ran)
            if outcome.ok:
                done.append(Completion(job.id, job.token, outcome.result or "null"))
            else:
                failed.append(self._failure(job, outcome, now))
        return done, failed, runs

    def _failure(self, job: ClaimedJob, outcome: Outcome, now: float) -> Failure:
        retry_at = None
        if not outcome.final:
            backoff = Backoff.from_json(job.backoff)
            retry_at = next_run_at(job.attempts, job.retries, backoff, now, self.rng)
        return Failure(job.id, job.token, outcome.error or "failed", outcome.traceback, retry_at)

    def _acknowledge(
        self,
        done: list[Completion],
        failed: list[Failure],
        runs: dict[str, _Run],
    ) -> None:
        """Report outcomes; while the backend is down keep trying (the lease may lapse, and
        then the job runs again: at-least-once). Then tally the outcomes the backend accepted."""
        completed: list[str] = []
        accepted: set[str] = set()
        sent: list[Completion | Failure] = [*done, *failed]
        delay = 0.1
        while True:
            try:
                if done:
                    completed = self.backend.complete(done)
                    done = []
                if failed:
                    accepted = set(self.backend.fail(failed))
                break
            except BackendError as exc:
                log.warning("acknowledging failed (retrying in %.1fs): %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._refused(sent, accepted.union(completed))
        settled = _completed(completed, runs)
        settled += [Settled(runs[f.id][0], verdict(f), runs[f.id][1]) for f in failed if f.id in accepted]
        self._tally(settled)

    def _tally(self, settled: list[Settled]) -> None:
        self.tally.add(settled, time.time())

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        overdue = [e for e in list(self._inflight.values()) if e.deadline and e.deadline <= now]
        for entry in overdue:
            job = entry.job
            self.pool.timed_out(job)
            self._done.append(
                (job, Outcome(error=f"TimeoutError: job ran longer than its {job.timeout}s timeout"), now)
            )
        if overdue:
            self._settle()

    # -- stopping -----------------------------------------------------------------------
    def _drain(self) -> None:
        self._stopping.set()
        self._waker_thread.join(IDLE_WAIT + 1.0)  # a claim it is making must be started or given back
        unstarted = self.pool.take_unstarted()
        for job in unstarted:
            self._inflight.pop(job.id, None)
        if unstarted:
            self.backend.release([Lease(j.id, j.token) for j in unstarted])
        deadline = time.monotonic() + self.grace
        while self._inflight and time.monotonic() < deadline:
            self._wake.clear()
            self._settle()
            self._enforce_timeouts()
            if self._inflight:
                self._wake.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        self._settle()
        if self._inflight:
            now, ended = time.time(), time.monotonic()
            stopped = Outcome(error=f"worker stopped: job still running after the {self.grace}s grace")
            entries = list(self._inflight.values())
            runs = {e.job.id: (e.job, _ran(e, ended)) for e in entries}
            self._acknowledge([], [self._failure(e.job, stopped, now) for e in entries], runs)
            self._inflight.clear()

    # -- heartbeat callbacks ------------------------------------------------------------
    def _leases(self) -> list[Lease]:
        return [Lease(e.job.id, e.job.token) for e in list(self._inflight.values())]

    def _refused(self, sent: Sequence[Completion | Failure], accepted: Collection[str]) -> None:
        """Outcomes the store refused: their lease was lost (it expired and another worker took
        the job over, which a heartbeat may not have seen yet). The accepted are among those
        sent, so equal counts say none was refused without building a set on every batch."""
        if len(accepted) < len(sent):
            self._lost({outcome.id for outcome in sent}.difference(accepted))

    def _lost(self, ids: set[str]) -> None:
        log.warning(
            "lost the lease of %d job(s) (taken over after expiry): %s", len(ids), ", ".join(sorted(ids))
        )

    def _maintain(self) -> None:
        self._rescuer.run_once()
        self._promoter.run_once()
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            self._pruner.run_once()


def _completed(ids: list[str], runs: dict[str, _Run]) -> list[Settled]:
    return [Settled(runs[i][0], "completed", runs[i][1]) for i in ids]


def _ran(entry: _InFlight, finished: float) -> float | None:
    return None if entry.started is None else finished - entry.started
