"""The cancel request contract (`AdminWrites.cancel`, `Backend.cancel_requests`): a waiting job
is cancelled at once; a running one gets a stored request its worker polls for, which outlives
the backend that stored it; a finished or unknown job is refused. A job with a request cannot
be failed or given back (the store refuses, so it is never retried), only cancelled; the
Rescuer cancels a lost run that had a request instead of retrying it."""

from __future__ import annotations

import taskheap
from taskheap.backends.base import Cancellation, Completion, Failure, Postponement
from taskheap.clock import FixedClock
from taskheap.job import JobState
from taskheap.worker.maintenance import CANCEL_LOST, Rescuer

from .helpers import LEASE, claim, declare


def test_a_waiting_job_is_cancelled_at_once_and_has_no_request(app: taskheap.App, clock: FixedClock) -> None:
    echo = declare(app)
    queued, scheduled = echo.enqueue(1), echo.options(delay=3600).enqueue(2)
    assert queued.cancel() is True and scheduled.cancel() is True
    assert queued.status() == "cancelled" and scheduled.status() == "cancelled"
    assert app.backend.cancel_requests([queued.id, scheduled.id]) == set()
    assert claim(app, clock) == []


def test_a_running_job_keeps_running_with_a_request_that_a_fresh_backend_reads(
    app: taskheap.App, clock: FixedClock, backend_url: str
) -> None:
    echo = declare(app)
    running, other = echo.enqueue(1), echo.enqueue(2)
    jobs = claim(app, clock)
    assert app.backend.cancel_requests([j.id for j in jobs]) == set()
    assert running.cancel() is True and running.cancel() is True  # a second request is no error
    assert running.status() == "running"
    fresh = taskheap.App(backend_url, lease=LEASE, clock=clock)
    try:
        assert fresh.backend.cancel_requests([running.id, other.id, "no-such-job"]) == {running.id}
    finally:
        fresh.close()


def test_a_finished_or_unknown_job_is_not_cancelled(app: taskheap.App, clock: FixedClock) -> None:
    handle = declare(app).enqueue(1)
    (job,) = claim(app, clock)
    assert app.backend.complete([Completion(job.id, job.token, "1")], now=clock.now()) == [job.id]
    assert handle.cancel() is False and handle.status() == "succeeded"
    assert app.backend.cancel("no-such-job") is False
    assert app.backend.cancel_requests([job.id]) == set()  # finished: nothing to act on


def test_the_rescuer_cancels_a_lost_run_with_a_request_and_retries_the_others(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    asked, plain = echo.enqueue(1), echo.enqueue(2)
    claim(app, clock)
    assert asked.cancel() is True
    clock.advance(LEASE + 1)
    assert Rescuer(app.backend, app.backend).run_once(clock.now()) == 2
    cancelled = app.backend.get(asked.id)
    assert cancelled is not None and cancelled.state == JobState.CANCELLED
    assert cancelled.error == CANCEL_LOST and cancelled.failed_attempts == []
    assert plain.status() == "retrying"


def test_a_failure_or_give_back_of_a_job_with_a_request_is_refused_and_the_job_can_be_cancelled(
    app: taskheap.App, clock: FixedClock
) -> None:
    """The store, not the worker's earlier read, decides: a request stored at any moment before
    the failure is written keeps the job from being retried (or given back to run again)."""
    echo = declare(app)
    failing, snoozing, plain = echo.enqueue(1), echo.enqueue(2), echo.enqueue(3)
    jobs = {job.id: job for job in claim(app, clock)}
    assert failing.cancel() is True and snoozing.cancel() is True
    now = clock.now()
    failures = [Failure(job_id, jobs[job_id].token, "boom", None, 60.0) for job_id in (failing.id, plain.id)]
    assert app.backend.fail(failures, now=now) == [plain.id]
    assert app.backend.postpone([Postponement(snoozing.id, jobs[snoozing.id].token, 5.0)], now=now) == []
    assert failing.status() == "running" and snoozing.status() == "running" and plain.status() == "retrying"
    asked = [
        Cancellation(job_id, jobs[job_id].token, "cancel requested") for job_id in (failing.id, snoozing.id)
    ]
    assert sorted(app.backend.cancel_claimed(asked, now=now)) == sorted([failing.id, snoozing.id])
    for handle in (failing, snoozing):
        record = app.backend.get(handle.id)
        assert record is not None and record.state == JobState.CANCELLED and record.failed_attempts == []
    clock.advance(61)
    assert [job.id for job in claim(app, clock)] == [plain.id]


def test_a_request_after_the_failure_cancels_the_retrying_job_at_once(
    app: taskheap.App, clock: FixedClock
) -> None:
    handle = declare(app).enqueue(1)
    (job,) = claim(app, clock)
    assert app.backend.fail([Failure(job.id, job.token, "boom", None, 60.0)], now=clock.now()) == [job.id]
    assert handle.cancel() is True and handle.status() == "cancelled"
    clock.advance(61)
    assert claim(app, clock) == []


def test_the_admin_lists_running_jobs_newest_first_each_marked_if_a_cancel_was_requested(
    app: taskheap.App, clock: FixedClock
) -> None:
    echo = declare(app)
    first, second, third, waiting = (echo.enqueue(n) for n in range(4))
    elsewhere = echo.options(queue="other").enqueue(9)
    claim(app, clock, limit=3)
    claim(app, clock, queues=("other",))
    assert second.cancel() is True
    listed = app.admin.running(queue="default", limit=2)  # the newest two of the three
    assert [(r.job.id, r.cancel_requested) for r in listed] == [(third.id, False), (second.id, True)]
    assert all(r.job.status == JobState.RUNNING for r in listed)
    assert [r.job.id for r in app.admin.running()] == [elsewhere.id, third.id, second.id, first.id]
    assert waiting.id not in [r.job.id for r in app.admin.running()] and app.admin.running(limit=0) == []
