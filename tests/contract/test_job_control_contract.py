"""What a task's Retry, Snooze, Fail and Cancel, and its `retry_on` / `dont_retry_on` rules, leave in
the store, through a real (in-process, thread-pool) worker's outcome flow on every backend: the
job's state, the attempts spent or not, the stored error and the failed attempts logged. The
App runs on the FixedClock, so a delay is exact and nothing becomes due until the test moves
the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

import taskheap
from taskheap import Cancel, Fail, Retry, Snooze, current_job
from taskheap.clock import FixedClock
from taskheap.job import JobInfo, JobState
from taskheap.worker import Worker
from tests.conftest import wait_for


@pytest.fixture
def worker(app: taskheap.App) -> Iterator[Callable[[], None]]:
    """Starts a worker on `app` in a thread (after the test has declared its tasks)."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start() -> None:
        running = Worker(app, concurrency=2)
        thread = threading.Thread(target=running.run, daemon=True)
        thread.start()
        started.append((running, thread))

    yield start
    for running, thread in started:
        running.stop()
        thread.join(30)
        assert not thread.is_alive()


def settled(handle: taskheap.JobHandle, state: JobState) -> JobInfo:
    wait_for(lambda: handle.status() == state, timeout=30, what=f"job {handle.id} to be {state}")
    return handle.info()


def test_fail_makes_the_job_dead_at_once_whatever_retries_are_left(
    app: taskheap.App, worker: Callable[[], None]
) -> None:
    @app.task(name="fails", retries=5)
    def fails() -> None:
        try:
            raise Fail("permanent: bad url")
        except Exception:  # a task's catch-all does not swallow it
            pass

    handle = fails.enqueue()
    worker()
    info = settled(handle, JobState.DEAD)
    assert info.error == "Fail: permanent: bad url" and info.attempts == 1
    assert [(a.attempt, a.error) for a in info.failed_attempts] == [(1, "Fail: permanent: bad url")]
    assert info.traceback is not None and "raise Fail(" in info.traceback


def test_retry_is_a_failed_attempt_retried_after_its_delay(
    app: taskheap.App, clock: FixedClock, worker: Callable[[], None]
) -> None:
    @app.task(name="retries_later", retries=1, backoff=taskheap.Backoff(base=3600.0, jitter=False))
    def retries_later() -> int:
        if current_job().attempt < 3:
            raise Retry(delay=30)
        return current_job().attempt

    handle = retries_later.enqueue()
    worker()
    info = settled(handle, JobState.RETRYING)
    assert info.attempts == 1 and info.error == "Retry: in 30s"
    assert info.run_at == clock.now() + 30.0, "its own delay, not the task's backoff"
    assert [a.attempt for a in info.failed_attempts] == [1]
    clock.advance(30)
    info = settled(handle, JobState.DEAD)  # its one retry spent: dead, though it asked again
    assert info.attempts == 2 and info.error == "Retry: in 30s"
    assert [a.attempt for a in info.failed_attempts] == [1, 2]


def test_retry_without_a_delay_waits_the_tasks_backoff(
    app: taskheap.App, clock: FixedClock, worker: Callable[[], None]
) -> None:
    @app.task(name="retries_by_backoff", retries=1, backoff=taskheap.Backoff(base=45.0, jitter=False))
    def retries_by_backoff() -> None:
        raise Retry()

    handle = retries_by_backoff.enqueue()
    worker()
    info = settled(handle, JobState.RETRYING)
    assert info.error == "Retry: after the backoff" and info.run_at == clock.now() + 45.0


def test_snooze_runs_again_later_without_spending_the_attempt_or_logging_a_failure(
    app: taskheap.App, clock: FixedClock, worker: Callable[[], None]
) -> None:
    snoozes: list[int] = []

    @app.task(name="snoozes", retries=0)
    def snoozes_twice() -> int:
        snoozes.append(current_job().attempt)
        if len(snoozes) <= 2:
            raise Snooze(30)
        return current_job().attempt

    handle = snoozes_twice.enqueue()
    worker()
    wait_for(lambda: snoozes, timeout=30, what="the first run")
    info = settled(handle, JobState.SCHEDULED)
    assert info.attempts == 0 and info.error is None and info.failed_attempts == []
    assert info.run_at == clock.now() + 30.0
    clock.advance(30)
    wait_for(lambda: len(snoozes) == 2, timeout=30, what="the second run")
    info = settled(handle, JobState.SCHEDULED)
    assert info.attempts == 0 and info.failed_attempts == []
    clock.advance(30)
    assert handle.result(timeout=30) == 1, "no retries, yet it ran three times: snoozes spend none"
    assert snoozes == [1, 1, 1]
    assert handle.info().attempts == 1 and handle.info().failed_attempts == []


def test_an_exception_not_in_retry_on_is_dead_at_once_and_one_in_it_retries(
    app: taskheap.App, worker: Callable[[], None]
) -> None:
    @app.task(name="picky", retries=3, backoff=0.0, retry_on=(ConnectionError, TimeoutError))
    def picky(kind: str) -> None:
        if current_job().attempt == 1:
            raise ConnectionError("reset")
        raise ValueError(kind)

    handle = picky.enqueue("x")
    worker()
    info = settled(handle, JobState.DEAD)
    assert info.attempts == 2, "the ConnectionError was retried, the ValueError not"
    assert info.error == "ValueError: x (not in retry_on: dead without retrying)"
    assert [(a.attempt, a.error) for a in info.failed_attempts] == [
        (1, "ConnectionError: reset"),
        (2, "ValueError: x (not in retry_on: dead without retrying)"),
    ]


def test_an_exception_in_dont_retry_on_is_dead_at_once(app: taskheap.App, worker: Callable[[], None]) -> None:
    @app.task(name="strict", retries=3, dont_retry_on=(KeyError,))
    def strict() -> None:
        raise KeyError("missing")

    handle = strict.enqueue()
    worker()
    info = settled(handle, JobState.DEAD)
    assert info.attempts == 1
    assert info.error == "KeyError: 'missing' (in dont_retry_on: dead without retrying)"


def test_cancel_ends_the_job_cancelled_with_its_reason_counted_and_never_retried(
    app: taskheap.App, worker: Callable[[], None]
) -> None:
    runs: list[int] = []

    @app.task(name="cancels", retries=5)
    def cancels() -> None:
        runs.append(current_job().attempt)
        try:
            raise Cancel("superseded")
        except Exception:  # a task's catch-all does not swallow it
            pass

    handle = cancels.enqueue()
    worker()
    info = settled(handle, JobState.CANCELLED)
    assert info.error == "superseded" and info.attempts == 1 and info.failed_attempts == []
    assert info.finished_at is not None and runs == [1]
    with pytest.raises(taskheap.JobCancelled, match="superseded"):
        handle.result(timeout=5)

    def counted() -> int:
        return sum(row.cancelled for row in app.admin.totals() if row.task == "cancels")

    wait_for(lambda: counted() == 1, timeout=30, what="the cancelled run counted")
    assert sum(row.dead + row.retried for row in app.admin.totals()) == 0
