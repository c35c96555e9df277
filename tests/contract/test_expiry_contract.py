"""Job expiry and the claimed job's enqueue time on every backend. `task.options(expires=...)`
stores when a job expires; a claim of its first attempt at or after then is flagged
`past_expiry` (the worker cancels it unrun); `Backend.expire_due` cancels, "expired", the
waiting jobs never started whose expiry passed: retrying, running, finished and not yet due
jobs are untouched. `ClaimedJob.enqueued_at` is the stored enqueue time, on every claim path."""

from __future__ import annotations

import datetime as dt

import pytest

import taskheap
from taskheap.backends.base import Completion, Failure, JobQuery, JobRecord, Lease, Postponement
from taskheap.clock import FixedClock
from taskheap.job import JobState
from taskheap.worker.maintenance import Expirer

from .helpers import LEASE, claim, declare, run_and_fail


def record(app: taskheap.App, job_id: str) -> JobRecord:
    found = app.backend.get(job_id)
    assert found is not None
    return found


def test_a_claimed_job_carries_its_stored_enqueue_time(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    first = echo.enqueue(1)  # claimed alone from an empty queue (Redis: leased as it is stored)
    (alone,) = claim(app, clock)
    clock.advance(7.25)
    later = [echo.enqueue(n) for n in range(3)]
    app.backend.promote_due(now=clock.now())  # ingested: claimed from the queued set
    claimed = claim(app, clock, limit=2)
    assert alone.id == first.id and alone.enqueued_at == record(app, first.id).enqueued_at
    assert alone.enqueued_at == clock.now() - 7.25
    assert [job.id for job in claimed] == [later[0].id, later[1].id]
    assert all(job.enqueued_at == record(app, job.id).enqueued_at == clock.now() for job in claimed)
    lost = app.backend.expired(10, now=clock.now() + LEASE + 1)
    assert {job.id: job.enqueued_at for job in lost} == {
        job.id: record(app, job.id).enqueued_at for job in [alone, *claimed]
    }


def test_a_first_claim_at_or_after_the_expiry_is_flagged_and_an_earlier_one_is_not(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    soon = echo.options(expires=10).enqueue("soon")
    late = echo.options(expires=60).enqueue("late")
    never = echo.enqueue("never")
    clock.advance(10)
    jobs = {job.id: job for job in claim(app, clock)}
    assert jobs[soon.id].past_expiry and jobs[soon.id].attempts == 1
    assert not jobs[late.id].past_expiry and not jobs[never.id].past_expiry


def test_an_expiry_given_as_a_datetime_is_that_instant(app: taskheap.App, clock: FixedClock) -> None:
    at = dt.datetime.fromtimestamp(clock.now() + 30, dt.UTC)
    handle = declare(app).options(expires=at).enqueue(1)
    clock.advance(29)
    assert app.backend.expire_due(100, now=clock.now()) == []
    clock.advance(1)
    assert [e.id for e in app.backend.expire_due(100, now=clock.now())] == [handle.id]


def test_a_retry_past_the_expiry_is_not_flagged_it_started_already(
    app: taskheap.App, clock: FixedClock
) -> None:
    declare(app).options(expires=5).enqueue(1)
    run_and_fail(app, clock, 1)  # its first attempt started in time
    clock.advance(60)
    app.backend.promote_due(now=clock.now())
    (second,) = claim(app, clock)
    assert second.attempts == 2 and not second.past_expiry


def test_expire_due_cancels_unstarted_waiting_jobs_past_their_expiry_and_nothing_else(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    queued = echo.options(expires=10).enqueue("queued")
    scheduled = echo.options(expires=10, delay=3600).enqueue("scheduled")
    elsewhere = echo.options(expires=10, queue="other").enqueue("elsewhere")
    not_due = echo.options(expires=100).enqueue("not due")
    plain = echo.enqueue("plain")
    retrying = echo.options(expires=10).enqueue("retrying")
    running = echo.options(expires=10).enqueue("running")
    finished = echo.options(expires=10).enqueue("finished")
    app.backend.promote_due(now=clock.now())
    by_arg = {job.id: job for job in claim(app, clock, limit=100)}
    for job_id, job in by_arg.items():
        if job_id not in (retrying.id, running.id, finished.id):
            app.backend.release([Lease(job_id, job.token)])
    r, f = by_arg[retrying.id], by_arg[finished.id]
    app.backend.fail([Failure(r.id, r.token, "E1", None, 3600.0)], now=clock.now())
    app.backend.complete([Completion(f.id, f.token, '"done"')], now=clock.now())
    clock.advance(10)
    expired = app.backend.expire_due(100, now=clock.now())
    assert sorted(e.id for e in expired) == sorted([queued.id, scheduled.id, elsewhere.id])
    assert {(e.queue, e.task) for e in expired} == {("default", "echo"), ("other", "echo")}
    for handle in (queued, scheduled, elsewhere):
        gone = record(app, handle.id)
        assert (gone.state, gone.error, gone.attempts, gone.finished_at) == (
            JobState.CANCELLED,
            "expired",
            0,
            clock.now(),
        )
        assert gone.run_at is None and gone.failed_attempts == []
        with pytest.raises(taskheap.JobCancelled, match="expired"):
            handle.result(timeout=1)
    assert record(app, not_due.id).state == JobState.QUEUED and record(app, plain.id).state == JobState.QUEUED
    assert record(app, retrying.id).state == JobState.RETRYING
    assert record(app, running.id).state == JobState.RUNNING
    assert record(app, finished.id).state == JobState.SUCCEEDED
    assert app.backend.counts()["default"]["cancelled"] == 2
    assert app.backend.expire_due(100, now=clock.now()) == [], "each expires once"
    assert [job.id for job in claim(app, clock, queues=("default", "other"))] == [not_due.id, plain.id]


def test_expire_due_takes_at_most_its_limit_and_the_rest_later(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app).options(expires=1)
    handles = [echo.enqueue(n) for n in range(5)]
    app.backend.promote_due(now=clock.now())
    clock.advance(1)
    first = app.backend.expire_due(2, now=clock.now())
    assert len(first) == 2
    rest = app.backend.expire_due(100, now=clock.now())
    assert sorted(e.id for e in [*first, *rest]) == sorted(h.id for h in handles)


def test_a_job_given_back_unspent_still_expires_and_a_replayed_dead_one_does_not(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    snoozed = echo.options(expires=10).enqueue("snoozed")
    dead = echo.options(expires=10, retries=0).enqueue("dead")
    jobs = {job.id: job for job in claim(app, clock)}
    s, d = jobs[snoozed.id], jobs[dead.id]
    app.backend.postpone([Postponement(s.id, s.token, 3600.0)], now=clock.now())
    app.backend.fail([Failure(d.id, d.token, "E1", None, None)], now=clock.now())
    clock.advance(10)
    assert app.backend.replay(JobQuery(state=JobState.DEAD)) == 1
    assert [e.id for e in app.backend.expire_due(100, now=clock.now())] == [snoozed.id]
    (again,) = claim(app, clock)
    assert again.id == dead.id and not again.past_expiry, "a replayed dead job runs from scratch, unexpiring"


def test_the_expirer_counts_what_expired_as_cancelled(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    echo.options(expires=5).enqueue(1)
    echo.options(expires=5, queue="other").enqueue(2)
    app.backend.promote_due(now=clock.now())
    clock.advance(5)
    assert Expirer(app.backend, app.backend).run_once(clock.now()) == 2
    totals = {(row.queue, row.task): row for row in app.admin.totals()}
    assert totals["default", "echo"].cancelled == 1 and totals["other", "echo"].cancelled == 1
    assert totals["default", "echo"].dead == 0
    minute = [row for row in app.backend.minutes(0) if row.minute == int(clock.now() // 60) * 60]
    assert sum(row.cancelled for row in minute) == 2


@pytest.mark.parametrize(
    ("expires", "error", "match"),
    [
        (0, ValueError, "expires must be a number of seconds > 0, got 0"),
        (-5.0, ValueError, "expires must be a number of seconds > 0, got -5.0"),
        (float("inf"), ValueError, "expires must be a number of seconds > 0, got inf"),
        (float("nan"), ValueError, "expires must be a number of seconds > 0, got nan"),
        ("60", TypeError, "expires must be seconds from enqueue or a datetime, got str: '60'"),
        (True, TypeError, "expires must be seconds from enqueue or a datetime, got bool: True"),
    ],
)
def test_a_bad_expiry_is_refused_where_it_is_written(
    app: taskheap.App, expires: object, error: type[Exception], match: str
) -> None:
    echo = declare(app)
    with pytest.raises(error, match=match):
        echo.options(expires=expires)
    assert app.backend.count_jobs(JobQuery()) == 0
