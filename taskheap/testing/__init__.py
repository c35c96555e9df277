"""Test helpers: run an App's jobs in the test's own process, and list what was enqueued.

`drain` runs a real Worker (one thread slot) on the App's store until no job is runnable, so a
job's arguments and result go through the codec and the backend exactly as under `taskheap
worker`, and every outcome (retry, backoff, dead) is the worker's own decision. With the App's
FixedClock, jobs waiting for their due time (a delay, a retry's backoff) are run by moving the
clock to it: a test of backoff never sleeps. A plain call of a task still runs its function.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..admin import JobFilter, to_info
from ..backends.base import ClaimedJob, JobQuery
from ..clock import FixedClock
from ..context import current_job
from ..job import ACTIVE, TERMINAL, WAITING, JobInfo, JobState, check_queue_name
from ..task import Task
from ..worker.pool import ThreadPool
from ..worker.tally import Settled
from ..worker.worker import Worker

if TYPE_CHECKING:
    from ..app import App

__all__ = ["JobDied", "drain", "enqueued"]

POLL = 0.005  # seconds between two looks at the store while the worker runs
CLAIM_TURN = 0.05  # the longest the worker blocks in the store for work: how soon it sees a stop
_EVERYTHING = 1 << 62


class JobDied(RuntimeError):
    """`drain(fail_fast=True)`: a job ended dead without its task raising (a return value that
    is not JSON, a timeout, a payload the worker refused)."""

    def __init__(self, job: JobInfo) -> None:
        super().__init__(f"job {job.id} ({job.task}) is dead: {job.error}")
        self.job = job


def enqueued(
    app: App,
    task: Task[Any, Any] | str | None = None,
    state: JobState | str | None = None,
    queue: str | None = None,
) -> list[JobInfo]:
    """The jobs of `app`'s store, oldest first: of every state unless given one, of one task
    (a Task or its name) or queue if given."""
    name = task.name if isinstance(task, Task) else task
    chosen = None if state is None else JobState(state)
    if queue is not None:
        check_queue_name(queue)
    jobs = app.admin.find(JobFilter(queue=queue, state=chosen, task=name), limit=_EVERYTHING)
    return jobs[::-1]


def drain(
    app: App,
    queues: Sequence[str] | None = None,
    fail_fast: bool = False,
    advance_clock: bool = True,
    timeout: float = 30.0,
) -> dict[str, int]:
    """Run every runnable job of `app`'s store (of `queues`, else of every queue) in this
    process until none is runnable; the final state -> count of the jobs it ran.

    Runnable: queued in a queue not paused, or waiting (scheduled, retrying) and due. With the
    App's FixedClock and `advance_clock`, the clock moves to the next due time whenever nothing
    else is runnable, until no job waits; otherwise jobs due later are left waiting. With
    `fail_fast`, the first job to end dead raises its task's exception (with its traceback), or
    JobDied when its task raised none. TimeoutError when jobs are still runnable after `timeout`
    seconds."""
    chosen = _checked(queues)
    deadline = time.monotonic() + timeout
    given = app.clock if isinstance(app.clock, FixedClock) and app.store_time() is not None else None
    clock = given if advance_clock else None  # the App's own FixedClock (store_time reads it)
    runs = _Runs(app)
    while served := chosen or app.admin.queue_names(app.queues):
        worker = _DrainWorker(app, served, runs)
        thread = threading.Thread(target=worker.run, name="taskheap-drain", daemon=True)
        thread.start()
        watch = _Watch(app, served, chosen is None, runs, clock, fail_fast)
        try:
            more = watch.until_idle(deadline, timeout, thread.is_alive)
        finally:
            worker.grace = max(0.0, deadline - time.monotonic())
            worker.stop()
            thread.join()
        if not more:
            break
    return runs.final_states()


def _checked(queues: Sequence[str] | None) -> list[str] | None:
    if queues is None:
        return None
    if isinstance(queues, str):
        raise TypeError(f"queues must be a list of names, not the str {queues!r}")
    if not queues:
        raise ValueError("queues is empty: give None for every queue")
    return [check_queue_name(q) for q in queues]


class _Runs:
    """The jobs a drain ran, and the exception each one's task raised last. A Worker Observer:
    the one slot calls `started` on its own thread just before it runs the job."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.ids: dict[str, None] = {}  # in the order first run
        self.errors: dict[str, BaseException] = {}

    def started(self, job: ClaimedJob) -> None:
        self.ids[job.id] = None

    def settled(self, run: Settled) -> None:
        """The store says the outcome: drain reads it there."""

    def recording(self, tasks: Mapping[str, Task[Any, Any]]) -> dict[str, Task[Any, Any]]:
        """Copies of the tasks whose function records what it raises, for `fail_fast`."""
        copies: dict[str, Task[Any, Any]] = {}
        for name, task in tasks.items():
            recorded = copy.copy(task)
            recorded.fn = self._recorded(task.fn)
            copies[name] = recorded
        return copies

    def _recorded(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except BaseException as exc:
                    self._raised(exc)
                    raise

            return run_async

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                self._raised(exc)
                raise

        return run

    def _raised(self, exc: BaseException) -> None:
        self.errors[current_job().id] = exc

    def states(self, ids: Iterable[str]) -> dict[str, JobInfo]:
        wanted = tuple(ids)
        if not wanted:
            return {}
        records = self.app.backend.list_jobs(JobQuery(ids=wanted, limit=len(wanted)))
        return {r.id: to_info(r) for r in records}

    def final_states(self) -> dict[str, int]:
        found = self.states(self.ids)
        return dict(Counter(str(found[i].status) for i in self.ids if i in found))


class _DrainWorker(Worker):
    """The real Worker, with one thread slot, running the tasks `runs` records, and claiming
    in short turns so a stop is seen at once; its maintenance rescues and promotes only."""

    def __init__(self, app: App, queues: Sequence[str], runs: _Runs) -> None:
        super().__init__(app, queues=queues, concurrency=1, observer=runs)
        tasks = runs.recording(app.tasks)
        self.pool = self._beside_loop(
            ThreadPool(tasks, app.middleware, 1, self._started, self._report), tasks
        )
        self.claimer.turn = CLAIM_TURN
        # Never prune: a clock moved past the App's result_ttl would delete finished jobs the
        # test has yet to look at.
        self._prune_every = math.inf


class _Watch:
    """Looks at the store while the worker runs: whether anything is still runnable, when the
    next waiting job is due, and which job ended dead first."""

    def __init__(
        self,
        app: App,
        served: Sequence[str],
        every_queue: bool,
        runs: _Runs,
        clock: FixedClock | None,
        fail_fast: bool,
    ) -> None:
        self.app, self.served, self.every_queue = app, served, every_queue
        self.runs, self.clock, self.fail_fast = runs, clock, fail_fast
        self._checked: set[str] = set()  # ran jobs known to have ended other than dead

    def until_idle(self, deadline: float, timeout: float, running: Callable[[], bool]) -> bool:
        """Return when nothing is runnable: True if a queue the worker does not serve now holds
        work (drain starts a worker for it), False when done. Idle is two reads in a row, a poll
        apart, with no job started between them: a store's counts are not one snapshot (Redis
        ingests its inboxes, then counts state by state), so a job that enqueues the next and
        ends fast can fall between one read's steps, and the next job between the next's."""
        seen_idle, started = False, 0
        while True:
            if not running():
                raise RuntimeError("drain: the worker stopped on its own (its error is logged above)")
            if self.fail_fast:
                self._raise_first_dead()
            paused = self.app.admin.paused()
            counts = {q: by_state for q, by_state in self.app.backend.counts().items() if q not in paused}
            if self.every_queue and self._work_elsewhere(counts):
                return True
            served = [q for q in self.served if q in counts]
            if any(counts[q].get(s) for q in served for s in (JobState.QUEUED, JobState.RUNNING)):
                seen_idle = False
            elif not seen_idle:
                seen_idle, started = True, len(self.runs.ids)
            elif len(self.runs.ids) != started or self._promoted(served):
                seen_idle = False  # a job started since the first read (it missed it), or one fell due
            else:
                if self.fail_fast:
                    self._raise_first_dead(every_job=True)
                return False
            if time.monotonic() >= deadline:
                raise TimeoutError(f"drain: jobs still runnable after {timeout:g}s")
            time.sleep(POLL)

    def _work_elsewhere(self, counts: Mapping[str, Mapping[str, int]]) -> bool:
        """A queue the worker does not serve holds jobs not finished (a task enqueued them)."""
        return any(
            any(by_state.get(s) for s in ACTIVE) for q, by_state in counts.items() if q not in self.served
        )

    def _promoted(self, served: Sequence[str]) -> bool:
        """Nothing queued or running: queue the waiting jobs of this App's tasks now due, moving
        the clock (if drain may) to the first due time; True if any is due (the next look sees
        it queued, by this promotion or the worker's own)."""
        due = [
            info.run_at
            for state in WAITING
            for info in self.app.admin.find(JobFilter(state=state), limit=_EVERYTHING)
            if info.queue in served and info.run_at is not None and info.task in self.app.tasks
        ]
        if not due:
            return False
        now = self.app.clock.now() if self.app.store_time() is not None else time.time()
        if min(due) > now:
            if self.clock is None:
                return False
            self.clock.value = min(due)
        self.app.backend.promote_due(self.app.store_time())
        return True

    def _raise_first_dead(self, every_job: bool = False) -> None:
        """Raise for the first ran job found dead: of those whose task raised, or with
        `every_job` of every job ran."""
        ran = tuple(self.runs.ids if every_job else self.runs.errors)  # the slot adds to them
        unsettled = [i for i in ran if i not in self._checked]
        found = self.runs.states(unsettled)
        for job_id in unsettled:
            info = found.get(job_id)
            if info is not None and info.status is JobState.DEAD:
                error = self.runs.errors.get(job_id)
                raise error if error is not None else JobDied(info)
            if info is not None and info.status in TERMINAL:
                self._checked.add(job_id)
