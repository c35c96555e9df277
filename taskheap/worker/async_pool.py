"""`async def` tasks: one event loop per worker process, on a thread of its own, beside the
thread or process pool for sync tasks (`Pools` sends each job to the one for its task's kind).

The loop runs jobs' coroutines and nothing of the worker's: claiming, acknowledging, heartbeats
and lease renewal run on the worker's threads, so a coroutine that blocks the loop delays only
the other coroutines (loop_lag.py warns of it), never a lease. At most `size` coroutines run at
once; more claimed wait in the pool's inbox, leased, as a thread pool's do.

A timeout cancels the coroutine (`Task.cancel`, from the worker's thread through
`call_soon_threadsafe`); one still running CANCEL_DEADLINE seconds later (it caught
CancelledError and went on, or it blocks the loop) is reported, and its slot stays taken, lost
capacity the worker no longer claims for, until it really ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..backends.base import ClaimedJob
from ..middleware import Chain
from .loop_lag import LoopLag
from .pool import Report, Slots, Started, may_start, slot_failure
from .runner import run_async_job

log = logging.getLogger("taskheap.worker")

ASYNC_CONCURRENCY = 100  # coroutines a worker runs at once by default
CANCEL_DEADLINE = 1.0  # seconds a cancelled coroutine gets to end before it is reported stuck
Lost = Callable[[int], None]  # slots lost (+1) to a coroutine that ignores its cancellation, or back (-1)


def beside_loop(sync: Slots, loop: AsyncPool) -> Slots:
    """`sync` alone when none of the loop's tasks is `async def` (the sync path exactly as
    without this module, the loop never started); else both."""
    names = frozenset(name for name, task in loop.tasks.items() if task.is_async)
    return Pools(sync, loop, names) if names else sync


class Pools:
    """A sync pool and the event loop: each job to the one its task's kind runs on."""

    def __init__(self, sync: Slots, loop: AsyncPool, async_tasks: frozenset[str]) -> None:
        self.sync = sync
        self.loop = loop
        self.async_tasks = async_tasks

    def _for(self, job: ClaimedJob) -> Slots:
        return self.loop if job.task in self.async_tasks else self.sync

    def submit(self, job: ClaimedJob) -> None:
        self._for(job).submit(job)

    def timed_out(self, job: ClaimedJob) -> str:
        return self._for(job).timed_out(job)

    def cancel(self, job: ClaimedJob) -> bool:
        return self._for(job).cancel(job)

    def start(self) -> None:
        self.sync.start()
        self.loop.start()

    def stop(self) -> None:
        self.sync.stop()
        self.loop.stop()

    def take_unstarted(self) -> list[ClaimedJob]:
        return self.sync.take_unstarted() + self.loop.take_unstarted()


class AsyncPool:
    def __init__(
        self,
        tasks: Mapping[str, Any],
        middleware: Chain,
        size: int,
        started: Started,
        report: Report,
        lost: Lost,
    ) -> None:
        self.tasks = tasks
        self.middleware = middleware
        self.size = size
        self.started = started
        self.report = report
        self.lost = lost
        self.loop: asyncio.AbstractEventLoop  # made by start(): none for a pool never run
        self.lag: LoopLag
        self._inbox: deque[ClaimedJob] = deque()  # appended by any thread, taken on the loop
        self._filling = False  # a fill is scheduled on the loop and has not read the inbox yet
        # on the loop only: the jobs whose coroutine runs, by id (each asyncio Task named by it)
        self._running: dict[str, tuple[ClaimedJob, asyncio.Task[None]]] = {}
        self._abandoned: set[str] = set()  # timed out: what they return is dropped
        self._stuck: set[str] = set()  # reported for ignoring their cancellation
        self._thread = threading.Thread(target=self._serve, name="taskheap-async", daemon=True)
        self._threads: ThreadPoolExecutor

    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        # `asyncio.to_thread` from the tasks (blocking code, aenqueue, aresult): a thread for
        # each coroutine that may run, made as needed, not the default's few per core
        self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="taskheap-async-to-thread")
        self.loop.set_default_executor(self._threads)
        self.lag = LoopLag(self.loop, self._blocker)
        self._thread.start()
        self.lag.start()

    def stop(self) -> None:
        """Stop the loop; a coroutine still running (the worker failed it after the grace) is
        cancelled as the loop closes."""
        self.lag.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CANCEL_DEADLINE + 1.0)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            self.size = 0  # closing: no job starts
            left = [task for _, task in self._running.values()]
            for task in left:
                task.cancel()
            if left:
                self.loop.run_until_complete(asyncio.wait(left, timeout=CANCEL_DEADLINE))
        finally:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self.loop.close()

    def submit(self, job: ClaimedJob) -> None:
        """One wake-up of the loop for the jobs of a claim, not one each (a wake-up writes to the
        loop's self-pipe: most of what a job cost here). `_filling` is cleared before the inbox
        is read, so a job appended after the read schedules the next fill itself."""
        self._inbox.append(job)
        if not self._filling:
            self._filling = True
            self.loop.call_soon_threadsafe(self._fill_woken)

    def _fill_woken(self) -> None:
        self._filling = False
        self._fill()

    def take_unstarted(self) -> list[ClaimedJob]:
        jobs: list[ClaimedJob] = []
        while True:
            try:
                jobs.append(self._inbox.popleft())
            except IndexError:
                return jobs

    def _fill(self) -> None:
        """Start waiting jobs while slots are free (on the loop)."""
        while len(self._running) < self.size:
            try:
                job = self._inbox.popleft()
            except IndexError:
                return
            if may_start(self.started, job, self.report):
                self._running[job.id] = (job, self.loop.create_task(self._run(job), name=job.id))

    async def _run(self, job: ClaimedJob) -> None:
        try:
            outcome = await run_async_job(self.tasks, job, self.middleware)
        except BaseException as exc:  # the pool's own failure: the job is reported, not lost
            log.error("the event loop failed running job %s", job.id, exc_info=True)
            outcome = slot_failure(exc)
        del self._running[job.id]
        if job.id in self._stuck:
            self._stuck.discard(job.id)
            self.lost(-1)
            log.warning("job %s (%s), cancelled on its timeout, ended: its slot is free", job.id, job.task)
        if job.id in self._abandoned:
            self._abandoned.discard(job.id)
        else:
            self.report(job, outcome)
        self._fill()

    def timed_out(self, job: ClaimedJob) -> str:
        self.loop.call_soon_threadsafe(self._cancel, job.id)
        return "its coroutine cancelled"

    def cancel(self, job: ClaimedJob) -> bool:
        """Cancel the coroutine and let it report: the CancelledError it ends with is its
        outcome, which a cancel request makes `cancelled` (settle.py)."""
        self.loop.call_soon_threadsafe(self._cancel_requested, job.id)
        return False

    def _cancel_requested(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running[1].cancel()

    def _cancel(self, job_id: str) -> None:
        """(On the loop.) The job's first step ran before this: `_fill` queued it, ahead of any
        timeout's call, so the cancellation lands inside `_run`, which frees the slot."""
        running = self._running.get(job_id)
        if running is None:
            return  # it ended meanwhile; the worker drops its report
        self._abandoned.add(job_id)
        running[1].cancel()
        self.loop.call_later(CANCEL_DEADLINE, self._check_cancelled, job_id)

    def _check_cancelled(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is None or job_id in self._stuck:
            return
        job = running[0]
        self._stuck.add(job_id)
        self.lost(1)
        log.warning(
            "job %s (%s) is still running %gs after its timeout cancelled it (it caught"
            " CancelledError and went on?): its async slot is lost until it ends",
            job.id,
            job.task,
            CANCEL_DEADLINE,
        )

    def _blocker(self) -> str:
        """What the loop runs now, read off the loop while it is blocked."""
        task = asyncio.current_task(self.loop)
        if task is None:
            return "code outside any task"
        running = self._running.get(task.get_name())
        if running is None:
            return f"asyncio task {task.get_name()!r} (not a job's own coroutine)"
        return f"job {running[0].id} ({running[0].task})"
