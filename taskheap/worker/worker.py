"""Worker: the process lifecycle, the loop, signals, and graceful or forced stop.

Threads and what each owns:
- the loop (the thread that calls `run`): acknowledges finished jobs in batches (settle.py:
  complete / fail with the retry policy / postpone), fails jobs that overrun their timeout,
  and claims for the free slots with each acknowledgement while work flows (the Claimer's
  busy side);
- the waker (the Claimer's): claims while the queues are dry, blocking in the store until work
  arrives (claimer.py documents the hand-over between the two);
- the slots (pool.py): run one job at a time each;
- async (async_pool.py, when the app has `async def` tasks): one event loop running their
  coroutines, up to `async_concurrency` at once; loop-lag (loop_lag.py) warns of a blocked loop;
- heartbeat: renews every lease held in one round trip and marks the worker alive; its answers
  tell whether the store is reachable (health.py: one warning per outage, one at its end);
- watch: sees a store that has not answered for two heartbeats (health.py), touching nothing;
- maintenance: Rescuer, Promoter, Expirer and Pruner (maintenance.py);
- tally: writes the per-minute counters about once a second, off the loop;
- scheduler (scheduler.py, when the app declares schedules): enqueues the due periodic jobs.
- control: while jobs run, asks the store for cancel requests about once a second (control.py).
The jobs held are in one locked InFlight table. A claimed job is checked before it takes a slot
(runner.refusal: what the store holds is trusted no more than a producer). On SIGTERM/SIGINT:
stop claiming, give unstarted jobs back, let running ones finish within the grace period, exit
0; a second SIGINT exits at once.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..backends.base import ClaimedJob, WorkerInfo
from ..errors import BackendError, ConfigError, StoreUnreachable
from ..logs import bind_worker
from ..urls import redacted
from . import events
from .async_pool import ASYNC_CONCURRENCY, AsyncPool, beside_loop
from .claimer import IDLE_WAIT, Claimer
from .control import POLL_EVERY as CANCEL_POLL_EVERY
from .control import CancelWatch
from .health import StoreWatch
from .heartbeat import Heartbeat
from .inflight import InFlight
from .limits import LimitsWatch
from .maintenance import Expirer, Promoter, Pruner, Rescuer
from .pool import ProcessPool, Slots, ThreadPool
from .runner import CANCEL_REQUESTED, EXPIRED, UNKNOWN_TASK, Outcome, refusal
from .scheduler import Scheduler
from .settle import Finished, Settler, completions, overran, refused
from .tally import Observer, Tally
from .unknown import DEFAULT_TTL, UnknownTasks

if TYPE_CHECKING:
    from ..app import App
    from ..task import Task

log = logging.getLogger("taskheap.worker")

PRUNE_EVERY = 60.0
SCHEDULE_EVERY = 0.5  # how often the scheduler looks for due fires (a fire starts at most this late)
TALLY_EVERY = 1.0  # how often the per-minute counters are written, off the claim loop
PREFETCH_WAIT = 0.02  # auto prefetch: claim ahead only what should start within this many seconds
PREFETCH_PER_SLOT = 16  # and never more than this many jobs ahead per slot
RUN_TIME_WEIGHT = 0.1  # weight of each new run in the moving mean of run times
HEARTBEAT_RETRY = 1.0  # after a failed heartbeat, the next comes this soon (at most the interval)
REGISTRY_EVERY = 0.5  # a job started or finished: the registry says so within this many seconds
GRACE_REPORT_EVERY = 5.0  # a graceful stop says what it waits for this often


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
        unknown_task_ttl: float = DEFAULT_TTL,
        async_concurrency: int = ASYNC_CONCURRENCY,
        schedules: bool = True,
        cancel_grace: float = 10.0,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        if async_concurrency < 1:
            raise ConfigError(f"async_concurrency must be >= 1, got {async_concurrency}")
        if pool not in ("thread", "process"):
            raise ConfigError(f"pool must be 'thread' or 'process', got {pool!r}")
        if pool == "process" and not app_path:
            raise ConfigError("--pool process needs the app path (-A module:attribute)")
        self.app = app
        self.backend = backend = app.backend
        self.queues = list(queues)
        self.concurrency = concurrency
        self.burst = burst
        self.grace = grace
        if not 0 <= cancel_grace < math.inf:
            raise ConfigError(f"cancel_grace must be a number of seconds >= 0, got {cancel_grace}")
        self.observer = observer
        self.prefetch = prefetch
        self.pool_kind = pool
        self._mean_run: float | None = None  # seconds, a moving mean of recent runs
        self.id = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.info = WorkerInfo(
            self.id,
            socket.gethostname(),
            os.getpid(),
            self.queues,
            concurrency,
            time.time(),
            tasks=sorted(app.tasks),
            lease=app.lease,
        )
        self.rng = random.Random()
        # fires the app's schedules (False: this worker leaves them to the others)
        self.scheduler = Scheduler(app, app.schedules if schedules else {})
        self.inflight = InFlight()
        self.heartbeat_every = min(app.lease / 3, 10.0)
        # two heartbeats unanswered: a healthy store answers each within milliseconds
        self.store = StoreWatch(2 * self.heartbeat_every, lambda: len(self.inflight))
        self._done: deque[Finished] = deque()
        self._wake = threading.Event()  # set: the loop has something to do
        self._stopping = threading.Event()  # no new claims
        self._finished = threading.Event()  # the background duties end too (after the grace)
        self._interrupts = 0
        self._signalled = threading.Event()  # set by the signal handler only (_on_signal)
        self._registry_stale = threading.Event()  # set: a job started or finished since the last beat
        self.unknown = UnknownTasks(backend, unknown_task_ttl, self.rng, app.store_time)
        self.limits = LimitsWatch(backend, app.declared_limits, self.queues, app.store_time)
        self.claimer = Claimer(
            backend,
            self.queues,
            self.id,
            app.lease,
            start=self._start,
            free=self._free,
            on_return=self._wake.set,
            now=app.store_time,
            on_failure=self.store.failed,
            limits=self.limits,
        )
        self._rescuer = Rescuer(backend, backend, self.rng)
        self._promoter = Promoter(backend)
        self._expirer = Expirer(backend, backend)
        self._pruner = Pruner(backend, backend, backend, app.result_ttl, app.worker_ttl)
        # a short retention prunes as often, and a short worker_ttl forgets silent workers soon
        self._prune_every = min(PRUNE_EVERY, app.result_ttl, app.worker_ttl / 4)
        self._last_prune = 0.0
        self.tally = Tally(backend, observer)
        self.settler = Settler(
            backend,
            self.inflight,
            self.store,
            self.unknown,
            self.tally,
            self.rng,
            lease=app.lease,
            store_time=app.store_time,
            clock_now=app.clock.now,
            learn_run_time=self._learn_run_time,
            changed=self._registry_changed,
        )
        self.async_concurrency = async_concurrency
        if pool == "process":
            assert app_path is not None
            sync: Slots = ProcessPool(app_path, concurrency, self._started, self._report)
        else:
            sync = ThreadPool(app.tasks, app.middleware, concurrency, self._started, self._report)
        self.pool = self._beside_loop(sync, app.tasks)
        self.control = CancelWatch(backend, self.inflight, self.pool, cancel_grace, self._kill_cancelled)

    def _beside_loop(self, sync: Slots, tasks: Mapping[str, Task[Any, Any]]) -> Slots:
        """The pools to run `tasks` on: `sync`, and the event loop if any task is async. Its
        slots count with the sync ones (`slots`): a sync job claimed while only async slots
        are free waits in the sync inbox, leased, as a prefetched one does."""
        loop = AsyncPool(
            tasks, self.app.middleware, self.async_concurrency, self._started, self._report, self._lost
        )
        pools = beside_loop(sync, loop)
        self.slots = self.concurrency + (self.async_concurrency if pools is not sync else 0)
        self.info.concurrency = self.slots  # the registry's "jobs / slots"
        return pools

    def _lost(self, slots: int) -> None:
        """A coroutine ignoring its cancellation holds a slot (+1) until it ends (-1)."""
        self.slots -= slots

    @property
    def capacity(self) -> int:
        """Jobs this worker may hold: a slot each (sync and async), plus those claimed ahead."""
        return self.slots + self._ahead()

    def _free(self) -> int:
        return self.capacity - len(self.inflight)

    def _ahead(self) -> int:
        """Prefetched jobs are leased ("running") while they wait for a slot, and a better job
        enqueued meanwhile waits behind them. So by default (prefetch None) claim ahead only as
        many as recent run times say will start within PREFETCH_WAIT: many for tiny jobs, where
        round trips dominate, none for slow ones."""
        if self.limits.limited:  # a limited queue's claim counts starts: none claimed ahead
            return 0
        if self.prefetch is not None:
            return self.prefetch
        if self._mean_run is None:
            return 0
        ahead = PREFETCH_WAIT * self.slots / max(self._mean_run, 1e-6)
        return min(int(ahead), PREFETCH_PER_SLOT * self.slots)

    def _learn_run_time(self, seconds: float) -> None:
        if self._mean_run is None:
            self._mean_run = seconds
        else:
            self._mean_run += RUN_TIME_WEIGHT * (seconds - self._mean_run)

    # -- callbacks from the claimer and the slots ---------------------------------------
    def _start(self, jobs: list[ClaimedJob], claimed: float) -> None:
        """Claimed jobs (their claim sent at `claimed`, monotonic): in flight, then to the slots
        (in that order: a slot reports on it). A job failing the checks of what was read
        (`refusal`: priority, payload type and size) is reported dead at once instead,
        acknowledged like any outcome, and takes no slot; so is one of a task this worker's app
        does not define, which the loop gives back (unknown.py); and one claimed past its expiry
        is cancelled unrun."""
        self.inflight.add(jobs, claimed)
        limit, tasks = self.app.max_payload, self.app.tasks
        for job in jobs:
            refused = EXPIRED if job.past_expiry else refusal(job, limit)
            if refused is None and job.task not in tasks:
                refused = UNKNOWN_TASK
            if refused is None:
                self.pool.submit(job)
            else:
                self._report(job, refused)

    def _started(self, job: ClaimedJob) -> bool:
        """A slot is about to run the job: True, or False when a cancel was requested while it
        waited (it is cancelled unrun), or when its lease may have lapsed meanwhile (no
        heartbeat could renew it: the store was out of reach), so another worker may run it: it
        is let go, not run here."""
        self.claimer.slot_started()
        now = time.monotonic()
        if self.inflight.requested_before_start(job.id):
            self._report(job, CANCEL_REQUESTED)  # cancelled unrun
            return False
        if self.inflight.lapsed(job.id, now, self.app.lease):
            self.inflight.pop(job.id)
            log.warning(
                "not starting job %s: its lease may have run out while it waited for a slot (no"
                " heartbeat reached the store for %ss); the store will give it to another worker",
                job.id,
                self.app.lease,
            )
            return False
        if self.inflight.start(job, now) is not None:
            self._wake.set()  # the loop's sleep was timed before this deadline existed
        self._registry_changed()
        events.job_started(job)
        if self.observer is not None:
            self.observer.started(job)
        return True

    def _report(self, job: ClaimedJob, outcome: Outcome) -> None:
        self._done.append((job, outcome, time.monotonic()))
        self._wake.set()

    # -- lifecycle ----------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped (or, with burst, until the queues are empty); the exit code."""
        threading.Thread(target=self._act_on_signals, name="taskheap-signals", daemon=True).start()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        self.pool.start()
        heartbeat = Heartbeat(
            self.backend,
            self.info,
            self.app.lease,
            self.inflight.leases,
            events.lost,
            self._renewed,
            self._describe,
        )

        def beat() -> bool:
            try:
                heartbeat.run_once(self.app.store_time())
            except StoreUnreachable as exc:
                self.store.unanswered(exc)
                return False
            return True

        self._guarded("heartbeat", beat)
        self._guarded("limits", self.limits.check)
        threads = [
            self._every(
                self.heartbeat_every, beat, "heartbeat", retry=HEARTBEAT_RETRY, early=self._registry_stale
            ),
            self._every(min(self.store.patience / 8, 1.0), self.store.check, "watch"),
            self._every(min(self.app.lease / 4, 1.0), self._maintain, "maintenance"),
            self._every(TALLY_EVERY, self.tally.flush, "tally"),
            self._every(CANCEL_POLL_EVERY, self.control.run_once, "control"),
        ]
        if self.scheduler.schedules:
            threads.append(
                self._every(
                    SCHEDULE_EVERY, lambda: self.scheduler.run_once(self.app.clock.now()), "scheduler"
                )
            )
        for thread in threads:
            thread.start()
        self.claimer.begin()
        bind_worker(self.id)
        prefetch = "auto" if self.prefetch is None else str(self.prefetch)
        settings = f"concurrency {self.concurrency}, {self.pool_kind} pool, prefetch {prefetch}"
        if self.slots > self.concurrency:
            settings += f", async concurrency {self.async_concurrency}"
        events.started(self.id, __version__, redacted(self.backend.url), self.queues, settings)
        self._warn_of_the_store()
        try:
            self._loop()
            self._drain()
        finally:
            self._stopping.set()
            self._finished.set()
            self.claimer.stop()
            self.pool.stop()
            self.tally.flush()
            try:
                self.backend.unregister(self.id)
            except BackendError as exc:
                log.warning("could not unregister worker: %s", exc)
            # Their backend calls must end before the caller may close the store under them.
            self.claimer.join(IDLE_WAIT + 1.0)
            for thread in threads:  # not the signals thread: it touches no store
                thread.join(IDLE_WAIT + 1.0)
            events.stopped(self.id)
        return 0

    def _warn_of_the_store(self) -> None:
        """The store's self-checks, logged once at start (also shown by `taskheap status`)."""
        try:
            for check in self.backend.self_checks():
                log.warning("%s", check)
        except BackendError as exc:
            log.warning("could not check the store: %s", exc)

    def stop(self) -> None:
        self._stopping.set()
        self.claimer.stop()  # no new wait or claim by the waker either
        self._wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGINT: stop, by the signals thread. The handler runs in the main thread
        between two of its bytecodes, maybe inside the loop's own `Event` calls, whose lock is
        not reentrant: setting one here could wait forever on the lock its own thread holds.
        `_signalled` is the one Event the main thread never touches but here."""
        self._interrupts += 1
        if self._interrupts > 1 and signum == signal.SIGINT:
            log.warning("second interrupt: exiting at once; leases will expire")
            os._exit(130)
        self._signalled.set()

    def _act_on_signals(self) -> None:
        """Stop on each signal; ends within IDLE_WAIT of the worker's end."""
        while not self._finished.is_set():
            if self._signalled.wait(IDLE_WAIT):
                self._signalled.clear()
                self.stop()

    def _every(
        self,
        interval: float,
        duty: Callable[[], object],
        name: str,
        retry: float | None = None,
        early: threading.Event | None = None,
    ) -> threading.Thread:
        """A thread running `duty` every `interval` seconds (after a failure, `retry` if given;
        a duty returning False failed); when `early` is set, sooner, but at most every
        REGISTRY_EVERY seconds."""

        tick = interval if early is None else min(REGISTRY_EVERY, interval)

        def loop() -> None:
            due = interval  # seconds until the duty is due
            while not self._finished.wait(min(due, tick)):  # heartbeats go on through the grace period
                due -= min(due, tick)
                if due > 0 and not (early is not None and early.is_set()):
                    continue
                if early is not None:
                    early.clear()
                ok = self._guarded(name, duty)
                due = interval if ok or retry is None else min(retry, interval)

        return threading.Thread(target=loop, name=f"taskheap-{name}", daemon=True)

    def _guarded(self, name: str, duty: Callable[[], object]) -> bool:
        """Run one background duty: True if it did. A backend error is reported (StoreWatch)
        and retried later; any error once finished ends quietly (whoever ran the worker may
        have closed the store)."""
        try:
            return duty() is not False
        except BackendError as exc:
            self.store.failed(name, exc)
        except Exception:
            if not self._finished.is_set():
                raise
        return False

    # -- the loop -----------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            self._enforce_timeouts()
            if self.claimer.handed_over:
                self._settle()  # the waker owns the claimer role: acknowledge only
            elif self._settle_and_claim():
                continue
            free = self._free()
            if free > 0 and not self.claimer.handed_over:
                if self.burst and not len(self.inflight) and self._nothing_to_run():
                    return
                self.claimer.hand_over(free)
            self._wake.wait(self._next_timeout())

    def _settle_and_claim(self) -> bool:
        """Acknowledge finished jobs and claim for the free slots in one round trip (failures,
        rare, go first on their own); True if jobs were claimed."""
        settler = self.settler
        done, failed, runs = settler.collect(self._done)
        if failed:
            settler.acknowledge([], failed, runs)
        free = self._free()
        if free <= 0:
            settler.acknowledge(done, [], runs)
            return False
        try:
            completed, claimed = self.claimer.claim(done, free)
        except BackendError as exc:
            self.store.failed("claim", exc)
            settler.acknowledge(done, [], runs)
            self._stopping.wait(0.5)
            return False
        refused(done, completed)
        settler.count(completions(completed, runs))
        return claimed > 0

    def _nothing_to_run(self) -> bool:
        """The queues hold no active job, or only jobs of tasks this worker cannot run."""
        try:
            active = self.app.admin.active_count(self.queues)
            return active == 0 or self.unknown.only_unrunnable(active, self.queues)
        except BackendError as exc:
            self.store.failed("counting active jobs", exc)
            return False

    def _next_timeout(self) -> float:
        deadline = self.inflight.next_deadline()
        if deadline is None:
            return IDLE_WAIT
        return max(0.0, min(deadline - time.monotonic(), IDLE_WAIT))

    # -- outcomes -----------------------------------------------------------------------
    def _settle(self) -> None:
        """Acknowledge every finished job: one complete and one fail round trip for the batch."""
        if self._done:
            self.settler.acknowledge(*self.settler.collect(self._done))

    def _registry_changed(self) -> None:
        """The next heartbeat comes within REGISTRY_EVERY (a read first: most calls find the
        event set already, and setting it takes a lock)."""
        if not self._registry_stale.is_set():
            self._registry_stale.set()

    def _describe(self, info: WorkerInfo) -> None:
        """What the next heartbeat records of this worker beyond its leases."""
        info.jobs = self.inflight.running()
        info.processed = self.settler.finishes.total
        info.per_minute = self.settler.finishes.last_minute(time.monotonic())

    def _kill_cancelled(self, job: ClaimedJob) -> None:
        """A process child still running its job `cancel_grace` after the cancel request."""
        self._report(job, Outcome(error="cancel requested: killed after the cancel grace", cancelled=True))
        self.pool.timed_out(job)

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        overdue = self.inflight.overdue(now)
        for held in overdue:
            job = held.job
            events.timed_out(job, self.pool.timed_out(job))
            self._done.append((job, overran(job), now))
        if overdue:
            self._settle()

    # -- stopping -----------------------------------------------------------------------
    def _drain(self) -> None:
        self._stopping.set()
        self.claimer.stop()
        self.claimer.join(IDLE_WAIT + 1.0)  # a claim it is making must be started or given back
        unstarted = self.pool.take_unstarted()
        requested = {j.id for j in unstarted if self.inflight.requested_before_start(j.id)}
        for job in unstarted:
            self.inflight.pop(job.id)
        if unstarted:
            self.settler.give_back(unstarted, requested)
        events.stopping(self.grace, len(unstarted), [h.job for h in self.inflight.held()])
        deadline = time.monotonic() + self.grace
        report = time.monotonic() + GRACE_REPORT_EVERY
        while len(self.inflight) and time.monotonic() < deadline:
            self._wake.clear()
            self._settle()
            self._enforce_timeouts()
            if time.monotonic() >= report and len(self.inflight):
                report += GRACE_REPORT_EVERY
                events.still_waiting(deadline - time.monotonic(), [h.job for h in self.inflight.held()])
            if len(self.inflight):
                self._wake.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        self._settle()
        left = self.inflight.held()  # held (so their leases are renewed) until acknowledged
        if left:
            events.grace_over(self.grace, [h.job for h in left])
            self.settler.stopped(left, f"worker stopped: job still running after the {self.grace}s grace")
            for h in left:
                self.inflight.pop(h.job.id)

    # -- heartbeat callbacks ------------------------------------------------------------
    def _renewed(self, ids: set[str], sent: float) -> None:
        """A heartbeat sent at `sent` (monotonic) came back: these leases were renewed."""
        self.inflight.renewed(ids, sent)
        self.store.answered()

    def _maintain(self) -> None:
        self.limits.run_once()
        self._rescuer.run_once(self.app.store_time())
        self._promoter.run_once(self.app.store_time())
        self._expirer.run_once(self.app.store_time())
        if self._pruner.backlog or time.monotonic() - self._last_prune >= self._prune_every:
            self._last_prune = time.monotonic()
            self._pruner.run_once(self.app.store_time())
