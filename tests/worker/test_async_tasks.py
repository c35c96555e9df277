"""`async def` tasks in real worker processes: the worker's event loop beside its thread or process
pool, on every backend the sync worker tests run on; outcomes, job control, timeouts and
cancellation, a blocked loop, the async concurrency bound, mixed load, signals and crashes."""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from taskheap.job import JobState

from ..conftest import wait_for
from .conftest import (
    EVERY_BACKEND,
    SQLITE_BY_DEFAULT,
    Lab,
    a_sigkilled_workers_job_runs_again_after_lease_expiry,
    three_workers_run_every_job_exactly_once,
)

ASYNC_TASKS = '''
import asyncio
import os
import threading
import time

import taskheap

app = taskheap.App(lease=float(os.environ.get("TEST_LEASE", "30")))
OUT = os.environ["TEST_OUT"]


def mark(name, text=None):
    with open(os.path.join(OUT, name), "a") as f:
        f.write(f"{text or os.getpid()}\\n")


def marks(name):
    path = os.path.join(OUT, name)
    return open(path).read().split() if os.path.exists(path) else []


@app.task(name="aadd")
async def aadd(x, y):
    await asyncio.sleep(0)
    job = taskheap.current_job()
    return [x + y, job.id, job.attempt]


@app.task(name="sync_add")
def sync_add(x, y):
    return x + y


@app.task(name="aflaky", retries=3, backoff=0.05)
async def aflaky(key, failures):
    mark(key)
    await asyncio.sleep(0)
    if len(marks(key)) <= failures:
        raise ConnectionError(f"transient failure {len(marks(key))} of {key}")
    return "recovered"


CONTROLS = {  # kind -> (attempt, snoozed before) -> the JobControl to raise, if any
    "fail": lambda attempt, snoozed: taskheap.Fail("permanent: bad url"),
    "snooze": lambda attempt, snoozed: None if snoozed else taskheap.Snooze(0.2),
    "retry": lambda attempt, snoozed: taskheap.Retry(delay=0.2) if attempt == 1 else None,
}


@app.task(name="acontrolled", retries=3, backoff=0.0, retry_on=(ConnectionError,))
async def acontrolled(kind):
    """Raises its kind's JobControl after an await, inside an `except Exception` that must not
    swallow it; "not_listed": an error that retry_on refuses."""
    if kind == "not_listed":
        raise ValueError("not a ConnectionError")
    attempt = taskheap.current_job().attempt
    snoozed = os.path.join(OUT, "snoozed")
    control = CONTROLS[kind](attempt, os.path.exists(snoozed))
    try:
        await asyncio.sleep(0)
        if control is not None:
            if kind == "snooze":
                open(snoozed, "w").close()
            raise control
    except Exception:
        return "swallowed"
    return attempt


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


@app.task(name="calls_async")
def calls_async(x):
    """A sync task (thread or child process) running an async helper on a loop of its own."""
    return asyncio.run(double(x))


@app.task(name="enqueues")
async def enqueues(x):
    """The sync API from inside an async task, and the async one awaiting a sync job's result."""
    first = sync_add.enqueue(x, 1)
    second = await sync_add.options(priority=1).aenqueue(x, 2)
    return [first.result(timeout=10), await second.aresult(timeout=10)]


@app.task(name="cancellable", retries=0)
async def cancellable(key, seconds):
    mark(key + ".start")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        mark(key + ".cancelled")
        raise
    mark(key + ".done")


@app.task(name="stubborn", retries=0)
async def stubborn(key, linger):
    """Catches its cancellation and goes on for `linger` seconds."""
    mark(key + ".start")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        mark("order.log", key + ".cancelled")
        await asyncio.sleep(linger)
    mark("order.log", key + ".end")


@app.task(name="astep")
async def astep(name):
    mark("order.log", name)


@app.task(name="blocks", retries=1, backoff=0.01)
async def blocks(key, seconds):
    """Blocks the event loop (time.sleep, not await)."""
    mark(key + ".start")
    time.sleep(seconds)
    mark(key + ".done")
    return key


@app.task(name="asleepy", retries=1, backoff=0.01)
async def asleepy(key, seconds):
    """Slow on its first run only; records each start and each finish."""
    mark(key + ".start")
    if len(marks(key + ".start")) == 1:
        await asyncio.sleep(seconds)
    mark(key + ".done")
    return key


PARTIES = 40  # more than the default executor's most threads (32)
BARRIER = threading.Barrier(PARTIES, timeout=10)


def meet():
    try:
        BARRIER.wait()
    except threading.BrokenBarrierError:
        return False
    return True


@app.task(name="meets")
async def meets():
    """Blocking code run the recommended way: all PARTIES calls must wait in threads at once."""
    return await asyncio.to_thread(meet)


RUNNING = [0, 0]  # coroutines of `bounded` running now, and the most seen at once


@app.task(name="bounded")
async def bounded(seconds):
    RUNNING[0] += 1
    RUNNING[1] = max(RUNNING[1], RUNNING[0])
    await asyncio.sleep(seconds)
    RUNNING[0] -= 1
    return RUNNING[1]


def record_run(i):
    with open(os.path.join(OUT, f"runs-{os.getpid()}.log"), "a") as f:
        f.write(f"{i}\\n")
    return i


@app.task(name="arecord")
async def arecord(i):
    await asyncio.sleep(0)
    return record_run(i)


@app.task(name="record")
def record(i):
    return record_run(i)
'''

APP = "asynctasks:app"


class AsyncLab:
    def __init__(self, lab: Lab) -> None:
        (lab.path / "asynctasks.py").write_text(ASYNC_TASKS)
        self.lab = lab
        self.tasks = lab.import_tasks("asynctasks")
        self.app = self.tasks.app

    def worker(self, *args: str) -> Any:
        return self.lab.worker(*args, app=APP)

    def marks(self, name: str) -> list[str]:
        return self.lab.marks(name)


@pytest.fixture
def alab(lab: Lab) -> Iterator[AsyncLab]:
    yield AsyncLab(lab)


@pytest.fixture
def short_lease_alab(short_lease_lab: Lab) -> Iterator[AsyncLab]:
    yield AsyncLab(short_lease_lab)


def test_async_tasks_run_retry_and_obey_job_control(alab: AsyncLab) -> None:
    t = alab.tasks
    added = [t.aadd.enqueue(i, 1) for i in range(5)]
    flaky = t.aflaky.enqueue("flaky-key", 2)
    failed, snoozed, retried, unlisted = (
        t.acontrolled.enqueue(kind) for kind in ("fail", "snooze", "retry", "not_listed")
    )
    via_asyncio_run = t.calls_async.enqueue(21)
    mixing = t.enqueues.enqueue(10)
    worker = alab.worker("--concurrency", "2", "--burst")
    assert worker.wait(60) == 0, worker.output()
    assert [h.result(timeout=1) for h in added] == [[i + 1, h.id, 1] for i, h in enumerate(added)]
    assert flaky.result(timeout=1) == "recovered" and flaky.info().attempts == 3
    assert len(alab.marks("flaky-key")) == 3
    dead = failed.info()
    assert (dead.status, dead.attempts, dead.error) == (JobState.DEAD, 1, "Fail: permanent: bad url")
    woken = snoozed.info()
    assert (woken.status, woken.result, woken.attempts) == (JobState.SUCCEEDED, 1, 1)
    assert woken.failed_attempts == []
    again = retried.info()
    assert (again.status, again.result, again.attempts) == (JobState.SUCCEEDED, 2, 2)
    assert [(a.attempt, a.error) for a in again.failed_attempts] == [(1, "Retry: in 0.2s")]
    refused = unlisted.info()
    assert (refused.status, refused.attempts) == (JobState.DEAD, 1)
    assert refused.error == "ValueError: not a ConnectionError (not in retry_on: dead without retrying)"
    assert via_asyncio_run.result(timeout=1) == 42
    assert mixing.result(timeout=1) == [11, 12]
    assert "async concurrency 100" in worker.output()


def test_a_timeout_cancels_the_coroutine_and_fails_the_attempt(alab: AsyncLab) -> None:
    handle = alab.tasks.cancellable.options(timeout=0.5).enqueue("slow", 30)
    after = alab.tasks.aadd.enqueue(1, 1)
    worker = alab.worker("--async-concurrency", "1", "--burst")
    assert worker.wait(30) == 0, worker.output()
    info = handle.info()
    assert info.status == JobState.DEAD and info.error == "TimeoutError: job ran longer than its 0.5s timeout"
    assert len(alab.marks("slow.cancelled")) == 1 and alab.marks("slow.done") == []
    assert after.result(timeout=1)[0] == 2
    cancelled = f"job {handle.id} (cancellable) ran past its 0.5s timeout: its coroutine cancelled"
    assert cancelled in worker.output()


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_coroutine_ignoring_its_cancellation_is_reported_and_keeps_its_slot(alab: AsyncLab) -> None:
    stuck = alab.tasks.stubborn.options(timeout=0.3, priority=0).enqueue("stuck", 2.0)
    alab.tasks.astep.options(priority=9).enqueue("next")
    worker = alab.worker("--async-concurrency", "1", "--burst")
    assert worker.wait(30) == 0, worker.output()
    assert stuck.info().error == "TimeoutError: job ran longer than its 0.3s timeout"
    # one async slot: the next job starts only once the stubborn coroutine has really ended
    assert alab.marks("order.log") == ["stuck.cancelled", "stuck.end", "next"]
    output = worker.output()
    assert f"job {stuck.id} (stubborn) is still running 1s after its timeout cancelled it" in output
    assert f"job {stuck.id} (stubborn), cancelled on its timeout, ended: its slot is free" in output


@SQLITE_BY_DEFAULT
def test_a_blocked_loop_keeps_every_lease_and_the_warning_names_the_job(short_lease_alab: AsyncLab) -> None:
    """Leases of 1 s and a coroutine blocking the loop for 3 s: heartbeats run on the worker's
    threads, so no job is rescued and run twice, the blocker's nor those waiting on the loop."""
    alab = short_lease_alab
    blocker = alab.tasks.blocks.options(priority=9).enqueue("blocker", 3)
    waiting = [alab.tasks.asleepy.options(priority=0).enqueue(f"w{i}", 0.3) for i in range(3)]
    worker = alab.worker("--burst")
    assert worker.wait(30) == 0, worker.output()
    assert blocker.result(timeout=1) == "blocker"
    assert [h.result(timeout=1) for h in waiting] == ["w0", "w1", "w2"]
    assert len(alab.marks("blocker.start")) == 1 and blocker.info().attempts == 1
    assert [len(alab.marks(f"w{i}.start")) for i in range(3)] == [1, 1, 1]
    assert [h.info().attempts for h in waiting] == [1, 1, 1]
    output = worker.output()
    blocked = rf"event loop of async tasks has been blocked for \d\.\ds by job {blocker.id} \(blocks\)"
    assert re.search(blocked, output)
    assert "lost the lease" not in output and "lease expired" not in output


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_time_sleep_in_an_async_task_past_its_timeout_fails_it(alab: AsyncLab) -> None:
    handle = alab.tasks.blocks.options(timeout=1, retries=0).enqueue("sleeper", 2.5)
    after = alab.tasks.aadd.enqueue(2, 2)
    worker = alab.worker("--burst")
    assert worker.wait(30) == 0, worker.output()
    info = handle.info()
    assert info.status == JobState.DEAD and info.error == "TimeoutError: job ran longer than its 1s timeout"
    assert after.result(timeout=1)[0] == 4


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_async_concurrency_bounds_the_coroutines_run_at_once(alab: AsyncLab) -> None:
    handles = [alab.tasks.bounded.enqueue(0.3) for _ in range(6)]
    worker = alab.worker("--async-concurrency", "2", "--burst")
    assert worker.wait(30) == 0, worker.output()
    assert max(h.result(timeout=1) for h in handles) == 2


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_to_thread_in_async_tasks_has_a_thread_for_each_async_slot(alab: AsyncLab) -> None:
    handles = [alab.tasks.meets.enqueue() for _ in range(alab.tasks.PARTIES)]
    worker = alab.worker("--async-concurrency", str(alab.tasks.PARTIES), "--burst")
    assert worker.wait(30) == 0, worker.output()
    assert [h.result(timeout=1) for h in handles] == [True] * alab.tasks.PARTIES


def run_mixed(alab: AsyncLab, total: int) -> None:
    for start in range(0, total, 500):
        alab.app.enqueue_many(
            [(alab.tasks.arecord if i % 2 else alab.tasks.record).job(i) for i in range(start, start + 500)]
        )
    worker = alab.worker("--concurrency", "2", "--async-concurrency", "20", "--burst")
    assert worker.wait(120) == 0, worker.output()
    runs = Counter(line for log in alab.lab.path.glob("runs-*.log") for line in log.read_text().split())
    assert len(runs) == total and set(runs.values()) == {1}
    assert alab.app.stats()["queues"]["default"]["succeeded"] == total


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_mixed_sync_and_async_jobs_each_run_once(alab: AsyncLab) -> None:
    run_mixed(alab, 1000)


@pytest.mark.slow
def test_mixed_sync_and_async_jobs_under_load_each_run_once(alab: AsyncLab) -> None:
    run_mixed(alab, 20000)


def test_sigterm_lets_running_coroutines_finish_and_returns_unstarted_ones(alab: AsyncLab) -> None:
    running = [alab.tasks.asleepy.options(priority=0).enqueue(f"g{i}", 2.5) for i in range(2)]
    waiting = [alab.tasks.aadd.options(priority=9).enqueue(i, 0) for i in range(3)]
    worker = alab.worker("--async-concurrency", "2", "--grace", "10")
    wait_for(lambda: all(alab.marks(f"g{i}.start") for i in range(2)), what="both coroutines to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
    assert [h.status() for h in running] == ["succeeded"] * 2
    assert [(h.status(), h.info().attempts) for h in waiting] == [("queued", 0)] * 3, worker.output()


def test_a_coroutine_outliving_the_grace_period_is_failed_not_lost(alab: AsyncLab) -> None:
    slow = alab.tasks.cancellable.options(retries=1).enqueue("stuck", 30)
    worker = alab.worker("--grace", "0.3")
    wait_for(lambda: alab.marks("stuck.start"), what="the coroutine to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.output()
    info = slow.info()
    assert info.status == JobState.RETRYING and "grace" in (info.error or "")


@pytest.mark.parametrize(
    "backend_url",
    [pytest.param(name, marks=[] if name == "sqlite" else [pytest.mark.slow]) for name in EVERY_BACKEND],
    indirect=True,
)
def test_a_sigkilled_workers_coroutine_runs_again_after_lease_expiry(short_lease_alab: AsyncLab) -> None:
    alab = short_lease_alab
    a_sigkilled_workers_job_runs_again_after_lease_expiry(alab.lab, alab.tasks.asleepy, app=APP)


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_async_tasks_run_on_the_parents_loop_beside_a_process_pool(alab: AsyncLab) -> None:
    added = alab.tasks.aadd.enqueue(1, 2)
    via_asyncio_run = alab.tasks.calls_async.enqueue(5)
    worker = alab.worker("--pool", "process", "--concurrency", "1", "--burst")
    assert worker.wait(60) == 0, worker.output()
    assert added.result(timeout=1)[0] == 3 and via_asyncio_run.result(timeout=1) == 10


@SQLITE_BY_DEFAULT
def test_three_workers_run_every_async_job_exactly_once(alab: AsyncLab) -> None:
    """The sync workers' harness, half its jobs async."""
    three_workers_run_every_job_exactly_once(alab.lab, alab.tasks.arecord, alab.tasks.record, app=APP)
