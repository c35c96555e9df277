"""taskheap.testing.drain and enqueued on every backend: the real Worker runs the jobs in the
test's process, a FixedClock stands in for backoff sleeps, and outcomes are a worker's."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import traceback
from pathlib import Path

import pytest

import taskheap
from taskheap.clock import FixedClock
from taskheap.job import JobState
from taskheap.task import JobOptions, JobSpec
from taskheap.testing import JobDied, drain, enqueued
from taskheap.worker import Worker
from tests.conftest import wait_for


def test_drain_runs_every_queued_job_through_the_codec(app: taskheap.App) -> None:
    @app.task
    def describe(when: str, amount: float, tags: list[str]) -> dict[str, object]:
        return {"when": when, "total": amount * 2, "tags": tags[::-1]}

    handles = [describe.enqueue("2026-01-01", n + 0.5, ["a", "b"]) for n in range(5)]
    other = describe.options(queue="reports").enqueue("later", 1.0, [])

    assert drain(app) == {"succeeded": 6}

    assert handles[1].info().result == {"when": "2026-01-01", "total": 3.0, "tags": ["b", "a"]}
    assert other.info().status is JobState.SUCCEEDED
    assert enqueued(app, state="queued") == []


def test_a_plain_call_runs_the_function_and_enqueues_nothing(app: taskheap.App) -> None:
    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    assert enqueued(app) == []
    assert drain(app) == {}


def test_retries_with_backoff_run_by_moving_the_clock(app: taskheap.App, clock: FixedClock) -> None:
    calls: list[float] = []

    @app.task(retries=4, backoff=taskheap.Backoff(base=60.0, jitter=False))
    def flaky() -> str:
        calls.append(clock.now())
        if len(calls) < 4:
            raise ConnectionError(f"attempt {len(calls)}")
        return "ok"

    handle = flaky.enqueue()
    started, began = time.monotonic(), clock.now()

    assert drain(app) == {"succeeded": 1}

    assert time.monotonic() - started < 5.0  # 60 + 120 + 240 s of backoff, none of it slept
    assert [round(at - began) for at in calls] == [0, 60, 180, 420]
    info = handle.info()
    assert (info.status, info.attempts, info.result) == (JobState.SUCCEEDED, 4, "ok")
    assert [a.error for a in info.failed_attempts] == [f"ConnectionError: attempt {n}" for n in (1, 2, 3)]


def test_delayed_jobs_run_when_the_clock_reaches_them(app: taskheap.App, clock: FixedClock) -> None:
    @app.task
    def stamp() -> float:
        return clock.now()

    began = clock.now()
    handle = stamp.options(delay=3600).enqueue()
    at = stamp.options(eta=dt.datetime.fromtimestamp(began + 7200, dt.UTC)).enqueue()

    assert drain(app, advance_clock=False) == {}
    assert handle.info().status is JobState.SCHEDULED

    assert drain(app) == {"succeeded": 2}
    assert handle.info().result == began + 3600
    assert at.info().result == began + 7200


def test_a_job_out_of_retries_ends_dead_and_fail_fast_raises_its_exception(app: taskheap.App) -> None:
    @app.task(retries=2, backoff=30.0)
    def explode(n: int) -> None:
        raise KeyError(f"missing {n}")

    explode.enqueue(7)
    with pytest.raises(KeyError, match="missing 7") as raised:
        drain(app, fail_fast=True)

    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "explode" in frames  # the task's own frame: the traceback it raised with
    (job,) = enqueued(app, task=explode)
    assert (job.status, job.attempts) == (JobState.DEAD, 3)

    explode.enqueue(8)
    assert drain(app) == {"dead": 1}  # without fail_fast, counted


def test_fail_fast_does_not_raise_for_an_attempt_that_is_retried(app: taskheap.App) -> None:
    seen: list[int] = []

    @app.task(retries=1, backoff=5.0)
    def once_flaky() -> int:
        seen.append(1)
        if len(seen) == 1:
            raise RuntimeError("first attempt fails")
        return len(seen)

    once_flaky.enqueue()
    assert drain(app, fail_fast=True) == {"succeeded": 1}


def test_a_non_json_return_ends_dead_exactly_as_under_a_worker(app: taskheap.App) -> None:
    @app.task
    def returns_a_set() -> set[int]:
        return {1, 2}

    under_drain = returns_a_set.enqueue()
    assert drain(app) == {"dead": 1}

    under_worker = returns_a_set.enqueue()
    Worker(app, queues=["default"], concurrency=1, burst=True).run()

    ours, theirs = under_drain.info(), under_worker.info()
    assert ours.status is theirs.status is JobState.DEAD
    assert ours.attempts == theirs.attempts == 1
    assert ours.error == theirs.error
    assert ours.error is not None and "set" in ours.error

    returns_a_set.enqueue()
    with pytest.raises(JobDied, match=r"is dead: .*set"):
        drain(app, fail_fast=True)


def test_drain_raises_timeout_error_while_jobs_keep_coming(app: taskheap.App) -> None:
    @app.task
    def forever(n: int) -> None:
        forever.enqueue(n + 1)

    forever.enqueue(0)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"after 0\.5s"):
        drain(app, timeout=0.5)
    assert time.monotonic() - started < 5.0
    assert len(enqueued(app, task=forever.name, state="succeeded")) >= 1


def test_jobs_a_task_enqueues_are_drained_too_in_new_queues(app: taskheap.App) -> None:
    @app.task
    def leaf(n: int) -> int:
        return n

    @app.task
    def fan_out(n: int) -> None:
        for i in range(n):
            leaf.options(queue="leaves").enqueue(i)

    fan_out.enqueue(3)
    assert drain(app) == {"succeeded": 4}
    assert sorted(j.result for j in enqueued(app, task=leaf)) == [0, 1, 2]


def test_drain_of_given_queues_leaves_the_others(app: taskheap.App) -> None:
    @app.task
    def noop() -> None:
        pass

    noop.options(queue="mail").enqueue()
    left = noop.options(queue="reports").enqueue()
    assert drain(app, queues=["mail"]) == {"succeeded": 1}
    assert left.info().status is JobState.QUEUED


def test_drain_skips_paused_queues(app: taskheap.App) -> None:
    @app.task
    def noop() -> None:
        pass

    noop.options(queue="mail").enqueue()
    app.admin.pause("mail")
    assert drain(app, timeout=5.0) == {}
    app.admin.resume("mail")
    assert drain(app) == {"succeeded": 1}


def test_enqueued_filters_by_task_state_and_queue(app: taskheap.App) -> None:
    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task
    def other() -> None:
        pass

    first = add.enqueue(1, 2)
    add.options(queue="math").enqueue(3, 4)
    other.enqueue()

    assert [j.args for j in enqueued(app, task=add)] == [[1, 2], [3, 4]]
    assert [j.args for j in enqueued(app, task=add.name, queue="math")] == [[3, 4]]
    assert len(enqueued(app)) == 3
    assert len(enqueued(app, state=JobState.QUEUED)) == 3
    drain(app, queues=["default"])
    assert [j.id for j in enqueued(app, task=add, state="succeeded")] == [first.id]


@pytest.mark.parametrize(
    ("queues", "error", "message"),
    [
        ("default", TypeError, "not the str 'default'"),
        ([], ValueError, "queues is empty"),
        (["no spaces"], ValueError, "'no spaces' is not valid"),
    ],
)
def test_drain_checks_the_queue_names(
    tmp_path: object, queues: list[str], error: type[Exception], message: str
) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")
    with pytest.raises(error, match=message):
        drain(app, queues=queues)


def test_enqueued_checks_its_arguments(tmp_path: object) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")
    with pytest.raises(ValueError, match="'nope'"):
        enqueued(app, state="nope")
    with pytest.raises(ValueError, match="not valid"):
        enqueued(app, queue="a b")


def test_drain_on_the_system_clock_runs_what_is_due_and_leaves_later_jobs(tmp_path: object) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")

    @app.task
    def noop() -> None:
        pass

    noop.enqueue()
    later = noop.options(delay=3600).enqueue()
    before = set(threading.enumerate())
    assert drain(app) == {"succeeded": 1}
    assert later.info().status is JobState.SCHEDULED
    wait_for(lambda: not set(threading.enumerate()) - before, what="the drain's threads to end")
    app.close()


def test_jobs_of_tasks_the_app_does_not_define_are_given_back_not_waited_for(app: taskheap.App) -> None:
    app.enqueue(JobSpec("elsewhere.report", (), {}, JobOptions()))
    started = time.monotonic()
    assert drain(app) == {}
    assert time.monotonic() - started < 5.0
    (job,) = enqueued(app, task="elsewhere.report")
    assert (job.status, job.attempts) == (JobState.SCHEDULED, 0)  # as a worker gives it back


def test_moving_the_clock_past_the_result_ttl_prunes_nothing(tmp_path: Path, clock: FixedClock) -> None:
    """SQLite only: what prunes is the worker, above the seam."""
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db", clock=clock, result_ttl=10.0)

    @app.task
    def quick() -> str:
        return "kept"

    @app.task
    def later() -> None:
        time.sleep(2.5)  # the worker's maintenance, every second, runs meanwhile

    first = quick.enqueue()
    later.options(delay=3600).enqueue()
    assert drain(app) == {"succeeded": 2}
    assert clock.now() - first.info().finished_at >= 3600  # far past its result_ttl, and still there
    assert first.result(timeout=1) == "kept"
    app.close()


def test_drain_runs_async_tasks_with_their_context_retries_and_fail_fast(app: taskheap.App) -> None:
    attempts: list[int] = []

    @app.task(retries=2, backoff=taskheap.Backoff(base=60.0, jitter=False))
    async def fetch(n: int) -> list[int]:
        await asyncio.sleep(0)
        attempts.append(taskheap.current_job().attempt)
        if len(attempts) == 1:
            raise ConnectionError("first attempt fails")
        return [n, taskheap.current_job().attempt]

    @app.task(retries=0)
    async def explode() -> None:
        await asyncio.sleep(0)
        raise KeyError("async missing")

    handle = fetch.enqueue(3)
    assert drain(app) == {"succeeded": 1}  # the retry's backoff run by moving the clock
    assert handle.info().result == [3, 2] and attempts == [1, 2]

    explode.enqueue()
    with pytest.raises(KeyError, match="async missing") as raised:
        drain(app, fail_fast=True)
    assert "explode" in [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
