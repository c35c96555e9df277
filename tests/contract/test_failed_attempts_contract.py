"""The backend contract for each job's log of failed attempts: `fail` appends the attempt's
number, error, traceback, worker and time in the same write as the state change, keeping the
last FAILED_ATTEMPTS_KEPT; `error`/`traceback` stay those of the last attempt."""

from __future__ import annotations

import json

import taskheap
from taskheap.backends.base import ClaimedJob, Failure, JobQuery, JobRecord, NewJob
from taskheap.clock import FixedClock
from taskheap.job import FAILED_ATTEMPTS_KEPT, FailedAttempt, JobState, encode_id
from taskheap.worker.maintenance import Rescuer

LEASE = 30.0
JOB_ID = encode_id(1000, 7)


def enqueue_one(app: taskheap.App, retries: int = 20) -> None:
    payload = json.dumps({"task": "echo", "args": [1], "kwargs": {}})
    app.backend.enqueue([NewJob(JOB_ID, "echo", "default", 5, 5.0, payload, 1.0, None, retries, None, None)])


def run_and_fail(
    app: taskheap.App, clock: FixedClock, n: int, *, worker: str = "w1", retry: bool = True
) -> ClaimedJob:
    """Claim the job and fail its run `n` with error `E{n}` and traceback `T{n}`."""
    app.backend.promote_due(now=clock.now())
    (job,) = app.backend.claim(["default"], worker, 1, LEASE, now=clock.now())
    retry_at = clock.now() if retry else None
    app.backend.fail([Failure(job.id, job.token, f"E{n}", f"T{n}", retry_at)], now=clock.now())
    return job


def stored(app: taskheap.App) -> JobRecord:
    record = app.backend.get(JOB_ID)
    assert record is not None
    return record


def test_every_failed_attempt_is_kept_with_its_error_traceback_worker_and_time(
    app: taskheap.App, clock: FixedClock
) -> None:
    enqueue_one(app)
    first_at = clock.now()
    run_and_fail(app, clock, 1, worker="w1")
    clock.advance(5)
    run_and_fail(app, clock, 2, worker="w2", retry=False)
    record = stored(app)
    assert record.state == JobState.DEAD
    assert (record.error, record.traceback) == ("E2", "T2")
    assert record.failed_attempts == [
        FailedAttempt(1, "E1", "T1", "w1", first_at),
        FailedAttempt(2, "E2", "T2", "w2", clock.now()),
    ]
    assert app.admin.job(JOB_ID).failed_attempts == record.failed_attempts


def test_the_log_keeps_only_the_newest_attempts(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app)
    for n in range(1, FAILED_ATTEMPTS_KEPT + 3):
        run_and_fail(app, clock, n)
        clock.advance(1)
    log = stored(app).failed_attempts
    assert [a.attempt for a in log] == list(range(3, FAILED_ATTEMPTS_KEPT + 3))
    assert log[-1].error == f"E{FAILED_ATTEMPTS_KEPT + 2}"


def test_a_stale_token_adds_nothing_to_the_log(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app)
    stale = run_and_fail(app, clock, 1)
    app.backend.fail([Failure(stale.id, stale.token, "late", None, None)], now=clock.now())
    assert [a.error for a in stored(app).failed_attempts] == ["E1"]


def test_lost_runs_appear_in_the_log_as_lease_expired(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app)
    app.backend.claim(["default"], "lost-worker", 1, LEASE, now=clock.now())
    clock.advance(LEASE + 1)
    assert Rescuer(app.backend, app.backend).run_once(now=clock.now()) == 1
    (attempt,) = stored(app).failed_attempts
    assert attempt.attempt == 1 and attempt.worker == "lost-worker"
    assert attempt.error.startswith("lease expired") and attempt.finished_at == clock.now()


def test_replay_keeps_the_log_and_numbers_new_attempts_from_one(app: taskheap.App, clock: FixedClock) -> None:
    enqueue_one(app, retries=0)
    run_and_fail(app, clock, 1, retry=False)
    assert app.admin.replay([JOB_ID]) == 1
    run_and_fail(app, clock, 2, retry=False)
    assert [(a.attempt, a.error) for a in stored(app).failed_attempts] == [(1, "E1"), (1, "E2")]


def test_a_job_that_never_failed_has_an_empty_log(app: taskheap.App) -> None:
    enqueue_one(app)
    assert stored(app).failed_attempts == []
    assert [r.failed_attempts for r in app.backend.list_jobs(JobQuery())] == [[]]
