"""The cancel request contract (`AdminWrites.cancel`, `Backend.cancel_requests`): a waiting job
is cancelled at once; a running one gets a stored request its worker polls for, which outlives
the backend that stored it; a finished or unknown job is refused. The Rescuer cancels a lost
run that had a request instead of retrying it."""

from __future__ import annotations

import taskheap
from taskheap.admin import JobFilter
from taskheap.backends.base import Completion, Failure
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


def test_a_replay_forgets_a_request_that_came_too_late_for_its_run(
    app: taskheap.App, clock: FixedClock
) -> None:
    handle = declare(app).enqueue(1)
    (job,) = claim(app, clock)
    assert handle.cancel() is True
    assert app.backend.fail([Failure(job.id, job.token, "boom", None, 60.0)], now=clock.now()) == [job.id]
    assert app.admin.replay_matching(JobFilter(state=JobState.RETRYING)) == 1
    (again,) = claim(app, clock)
    assert app.backend.cancel_requests([again.id]) == set()
