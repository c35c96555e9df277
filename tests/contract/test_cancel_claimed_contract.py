"""The core `Backend.cancel_claimed` contract: a claimed job ends `cancelled` with the reason as
its error, finished at `now`, its lease dropped and its attempts as claimed, no failed attempt
logged; only with its current token (a stale run cannot cancel a newer run); pruned after the
retention like other finished jobs. And the `cancelled` per-minute counter every backend stores."""

from __future__ import annotations

import pytest

import taskheap
from taskheap.backends.base import (
    ALL_TIME,
    Cancellation,
    Completion,
    JobRecord,
    Lease,
    MinuteCount,
    WorkerInfo,
)
from taskheap.clock import FixedClock
from taskheap.job import JobState

from .helpers import claim, declare, rerun_of_the_first, run_and_fail


def record(app: taskheap.App, job_id: str) -> JobRecord:
    found = app.backend.get(job_id)
    assert found is not None
    return found


def test_a_cancelled_claim_is_finished_with_its_reason_and_no_failed_attempt(
    app: taskheap.App, clock: FixedClock
) -> None:
    handle = declare(app).enqueue(1)
    (job,) = claim(app, clock)
    clock.advance(5)
    cancelled_at = clock.now()
    assert app.backend.cancel_claimed([Cancellation(job.id, job.token, "superseded")], now=cancelled_at) == [
        job.id
    ]
    stored = record(app, job.id)
    assert stored.state == JobState.CANCELLED and stored.error == "superseded"
    assert stored.finished_at == cancelled_at and stored.attempts == 1 and stored.run_at is None
    assert stored.failed_attempts == [] and stored.traceback is None
    assert app.backend.counts()["default"] == {"cancelled": 1}
    assert app.backend.heartbeat(_worker(), [Lease(job.id, job.token)], 30.0, now=clock.now()) == set()
    assert app.backend.complete([Completion(job.id, job.token, "1")], now=clock.now()) == []
    with pytest.raises(taskheap.JobCancelled, match="superseded"):
        handle.result(timeout=5)


def test_a_cancelled_retry_keeps_its_attempts_and_the_failures_logged_before(
    app: taskheap.App, clock: FixedClock
) -> None:
    declare(app).enqueue(1)
    run_and_fail(app, clock, 1)
    app.backend.promote_due(now=clock.now())
    (second,) = claim(app, clock)
    assert app.backend.cancel_claimed([Cancellation(second.id, second.token, "obsolete")], now=clock.now())
    stored = record(app, second.id)
    assert stored.state == JobState.CANCELLED and stored.attempts == 2 and stored.error == "obsolete"
    assert [a.attempt for a in stored.failed_attempts] == [1], "no failed attempt for the cancel"


def test_a_stale_token_cancels_nothing_and_a_newer_run_goes_on(app: taskheap.App, clock: FixedClock) -> None:
    first, other, rerun = rerun_of_the_first(app, clock)
    stale = [Cancellation(first.id, first.token, "old run"), Cancellation(other.id, rerun.token, "wrong")]
    assert app.backend.cancel_claimed(stale, now=clock.now()) == []
    assert record(app, first.id).state == JobState.RUNNING and record(app, first.id).error == "boom"
    assert record(app, other.id).state == JobState.RUNNING
    assert app.backend.complete([Completion(rerun.id, rerun.token, "1")], now=clock.now()) == [rerun.id]
    assert app.backend.cancel_claimed([Cancellation(rerun.id, rerun.token, "late")], now=clock.now()) == []
    assert record(app, rerun.id).state == JobState.SUCCEEDED


def test_cancel_claimed_takes_a_batch_across_queues(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.options(queue="a").enqueue("a")
    echo.options(queue="b").enqueue("b")
    echo.options(queue="b").enqueue("kept")
    a, b, kept = claim(app, clock, queues=("a", "b"))
    items = [Cancellation(a.id, a.token, "ra"), Cancellation(b.id, b.token, "rb")]
    assert sorted(app.backend.cancel_claimed(items, now=clock.now())) == sorted([a.id, b.id])
    assert app.backend.cancel_claimed([], now=clock.now()) == []
    assert (record(app, a.id).error, record(app, b.id).error) == ("ra", "rb")
    assert app.backend.counts()["b"] == {"cancelled": 1, "running": 1}
    assert record(app, kept.id).state == JobState.RUNNING


def test_a_cancelled_job_is_pruned_after_the_retention(app: taskheap.App, clock: FixedClock) -> None:
    declare(app).enqueue(1)
    (job,) = claim(app, clock)
    app.backend.cancel_claimed([Cancellation(job.id, job.token, "done with")], now=clock.now())
    assert app.backend.prune(60.0, 100, now=clock.now() + 59) == 0
    assert app.backend.prune(60.0, 100, now=clock.now() + 61) == 1
    assert app.backend.get(job.id) is None


def test_the_cancelled_counter_is_stored_and_read_back(app: taskheap.App) -> None:
    app.backend.record_minutes(
        [
            MinuteCount(600, "default", "echo", completed=1, cancelled=2),
            MinuteCount(ALL_TIME, "default", "echo", cancelled=3),
        ]
    )
    app.backend.record_minutes([MinuteCount(600, "default", "echo", cancelled=1)])
    rows = {row.minute: row for row in app.backend.minutes(0)}
    assert (rows[600].completed, rows[600].cancelled) == (1, 3)
    assert rows[ALL_TIME].cancelled == 3 and rows[ALL_TIME].dead == 0


def _worker() -> WorkerInfo:
    return WorkerInfo("w1", "host", 1, ["default"], 4, 0.0)
